"""What each reader sees of a referral's timeline: one policy (``lifecycle.timeline_for``) for
the referral page, the API (signed-in people and partner systems) and the e-mails."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import PartnerClient
from referrals.assignment import referral_escalate
from referrals.lifecycle import Actor, timeline_for
from referrals.models import Notification, ReferralEvent
from referrals.notifications import render_email
from referrals.services import (
    referral_accept,
    referral_cancel,
    referral_fail,
    referral_hold,
    referral_start,
)
from tests import factories
from tests.referrals.partners import bearer, partner_client, token_for

pytestmark = pytest.mark.django_db

HOLD_REASON = "Client admitted to Caritas Medical Centre"
UNIT_NOTE = "Internal note: son has a gambling debt"
OFFICE_REASON = "Neighbour reports shouting at night"
CASE_NOTES = (HOLD_REASON, UNIT_NOTE, OFFICE_REASON)


@pytest.fixture
def noted(assigned_referral, unit_worker, district_officer):
    """On hold with the unit's reason and internal note; escalated by the office."""
    referral_accept(referral_id=assigned_referral.pk, actor=unit_worker)
    referral_start(referral_id=assigned_referral.pk, actor=unit_worker)
    referral_hold(
        referral_id=assigned_referral.pk, actor=unit_worker, reason=HOLD_REASON, note=UNIT_NOTE
    )
    referral_escalate(
        referral_id=assigned_referral.pk, actor=district_officer, reason=OFFICE_REASON
    )
    return assigned_referral


def api_text(response) -> str:
    assert response.status_code == 200, response.content
    return " ".join(f"{e['reason']} {e['note']}" for e in response.json()["timeline"])


# persona → sees the case notes
PEOPLE = [
    ("referrer", False),
    ("unit_worker", True),
    ("unit_supervisor", True),
    ("district_officer", True),
    ("admin_user", True),
]


@pytest.mark.parametrize(("persona", "sees_notes"), PEOPLE)
def test_the_page_and_the_api_show_a_person_the_same_share_of_the_timeline(
    client, request, noted, persona, sees_notes
):
    client.force_login(request.getfixturevalue(persona))
    page = client.get(reverse("referrals:detail", args=[noted.public_id])).content.decode()
    api = api_text(client.get(reverse("api:referral-detail", args=[noted.reference])))

    for text in CASE_NOTES:
        assert (text in page, text in api) == (sees_notes, sees_notes), text
    assert 'data-to="on_hold"' in page  # every reader follows every step
    assert [
        e["to_status"]
        for e in client.get(reverse("api:referral-detail", args=[noted.reference])).json()[
            "timeline"
        ]
    ] == ["accepted", "in_progress", "on_hold", "on_hold"]


def test_the_referrer_reads_the_text_of_their_own_steps(client, referrer, noted):
    referral_cancel(referral_id=noted.pk, actor=referrer, reason="The family moved to Shenzhen")
    client.force_login(referrer)
    page = client.get(reverse("referrals:detail", args=[noted.public_id])).content.decode()
    api = api_text(client.get(reverse("api:referral-detail", args=[noted.reference])))
    assert "The family moved to Shenzhen" in page and "The family moved to Shenzhen" in api
    assert UNIT_NOTE not in page and UNIT_NOTE not in api


def test_a_partner_acting_as_the_unit_sees_what_the_unit_sees(client, noted, ifsc_unit):
    token = token_for(client, partner_client(ifsc_unit.organisation))
    api = api_text(
        client.get(reverse("api:referral-detail", args=[noted.reference]), **bearer(token))
    )
    assert all(text in api for text in CASE_NOTES)


def test_a_partner_that_filed_the_referral_sees_what_a_referrer_sees(
    client, caring_team, ifsc_unit, unit_worker
):
    application = partner_client(caring_team.organisation, intake_team=caring_team)
    filer = PartnerClient.objects.get(application=application)
    referral = factories.ReferralFactory(
        referrer=filer.referrer_account(),
        referring_team=caring_team,
        status="assigned",
        assigned_unit=ifsc_unit,
    )
    referral_accept(referral_id=referral.pk, actor=unit_worker, note=UNIT_NOTE)
    token = token_for(client, application)
    api = api_text(
        client.get(reverse("api:referral-detail", args=[referral.reference]), **bearer(token))
    )
    assert UNIT_NOTE not in api


def test_the_policy_itself_reader_by_reader(noted, referrer, unit_worker):
    def texts(roles, reader_id=None):
        return {(e.reason, e.note) for e in timeline_for(noted, roles=roles, reader_id=reader_id)}

    assert texts({Actor.REFERRER}, referrer.pk) == {("", "")}
    assert texts(set()) == {("", "")}  # no capacity at all: what every reader sees
    assert (HOLD_REASON, UNIT_NOTE) in texts({Actor.UNIT}, unit_worker.pk)
    ReferralEvent.objects.create(  # a withdrawal recorded on another referral of the person
        referral=noted,
        to_status="on_hold",
        kind=ReferralEvent.Kind.CONSENT,
        details={"recorded_on": "SSP-2026-000999"},
    )
    [consent] = [e for e in timeline_for(noted, roles={Actor.REFERRER}) if e.kind == "consent"]
    assert (consent.details, consent.get_kind_display()) == ({}, "Consent withdrawn")
    [consent] = [e for e in timeline_for(noted, roles={Actor.OFFICE}) if e.kind == "consent"]
    assert consent.details == {"recorded_on": "SSP-2026-000999"}


def test_an_email_shows_no_reason_even_to_the_unit(noted, unit_worker, referrer):
    referral_fail(referral_id=noted.pk, actor=unit_worker, reason="Refused all help, see note")
    event = noted.events.latest("at")
    for reader in (referrer, unit_worker):
        mail = render_email(
            Notification(recipient=reader, event=event, referral=noted, kind="status"), reader
        )
        assert "Refused all help" not in mail["body"] and "Failed" in mail["body"]


def test_the_api_detail_for_a_person_costs_the_same_queries_whatever_the_timeline(
    client, referrer, noted
):
    client.force_login(referrer)
    url = reverse("api:referral-detail", args=[noted.reference])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    ReferralEvent.objects.bulk_create(
        ReferralEvent(referral=noted, to_status="on_hold", reason="r", note="n") for _ in range(10)
    )
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    # session, user, two-factor device, the memberships (visibility, then the reader's
    # capacity from the same read: accounts.selectors.user_scope), the referral, its needs,
    # its tasks with their need codes (issue 16), its events, the access log: as before the
    # timeline policy.
    assert len(few) == len(many) == 9


# A case note (issue 19): the unit's and the office's record, not a step; the referrer does
# not see that there is one, on the page or through the API.
CASE_NOTE = "Spoke with the school social worker"


@pytest.mark.parametrize(("persona", "sees_notes"), PEOPLE)
def test_a_case_note_is_read_by_the_unit_and_the_office_never_by_the_referrer(
    client, request, noted, unit_worker, persona, sees_notes
):
    from referrals.services import referral_add_note

    referral_add_note(referral_id=noted.pk, actor=unit_worker, note=CASE_NOTE)
    client.force_login(request.getfixturevalue(persona))
    page = client.get(reverse("referrals:detail", args=[noted.public_id])).content.decode()
    response = client.get(reverse("api:referral-detail", args=[noted.reference]))
    assert (CASE_NOTE in page, CASE_NOTE in api_text(response)) == (sees_notes, sees_notes)
    assert ('data-kind="note"' in page) is sees_notes
    kinds = [e.get("kind") for e in response.json()["timeline"]]
    assert ("note" in kinds) is sees_notes or "kind" not in response.json()["timeline"][0]


def test_the_referrers_timeline_leaves_case_notes_out(noted, unit_worker, district_officer):
    from referrals.services import referral_add_note

    referral_add_note(referral_id=noted.pk, actor=district_officer, note=CASE_NOTE)
    noted = type(noted).objects.prefetch_related("events").get(pk=noted.pk)
    kinds = [e.kind for e in timeline_for(noted, roles={Actor.REFERRER})]
    assert ReferralEvent.Kind.NOTE not in kinds
    office = [e for e in timeline_for(noted, roles={Actor.OFFICE}) if e.kind == "note"]
    assert [e.note for e in office] == [CASE_NOTE]
