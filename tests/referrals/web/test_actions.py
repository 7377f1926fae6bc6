"""The referral page's actions (issue 19): one form at a time, destructive steps confirmed
before anything changes, where a step lands its actor, case notes, services provided, the
office's escalation."""

import pytest
from django.urls import reverse

from referrals.models import Referral, ReferralEvent, Status
from referrals.services import (
    referral_accept,
    referral_complete,
    referral_hold,
    referral_start,
)

pytestmark = pytest.mark.django_db

CONFLICT = "Someone else changed this referral"


def detail(referral, **query) -> str:
    url = reverse("referrals:detail", args=[referral.public_id])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def act(referral) -> str:
    return reverse("referrals:act", args=[referral.public_id])


def state(referral) -> tuple:
    row = Referral.objects.get(pk=referral.pk)
    return row.status, row.version, ReferralEvent.objects.filter(referral=referral).count()


@pytest.fixture
def in_progress(assigned_referral, unit_worker):
    referral_accept(referral_id=assigned_referral.pk, actor=unit_worker)
    referral_start(referral_id=assigned_referral.pk, actor=unit_worker)
    return Referral.objects.get(pk=assigned_referral.pk)


# --- One form at a time ---------------------------------------------------------------------


def test_the_next_steps_card_offers_each_step_and_shows_no_form_to_fill(
    client, assigned_referral, unit_worker
):
    client.force_login(unit_worker)
    html = client.get(detail(assigned_referral)).content.decode()
    assert 'id="action-choices"' in html
    assert 'href="?action=reject#action-form"' in html  # Decline: a link to its own form
    assert 'class="action action-accept"' in html  # Accept: nothing to fill in, one tap
    assert 'id="action-form"' not in html
    assert 'name="reason"' not in html


def test_choosing_a_step_shows_its_form_alone_with_a_way_back(
    client, assigned_referral, unit_worker
):
    client.force_login(unit_worker)
    html = client.get(detail(assigned_referral, action="reject")).content.decode()
    assert html.count('id="action-form"') == 1
    assert 'id="action-choices"' not in html
    assert 'class="action action-accept"' not in html
    assert 'name="reason"' in html and 'value="reject"' in html
    assert f'name="version" value="{assigned_referral.version}"' in html
    assert "Internal: not shown to the referrer" in html
    assert f'href="{detail(assigned_referral)}" class="cancel"' in html


def test_the_completion_form_asks_services_outcome_and_an_internal_note(
    client, in_progress, unit_worker
):
    client.force_login(unit_worker)
    html = client.get(detail(in_progress, action="complete")).content.decode()
    for name in ("services_provided", "outcome", "note"):
        assert f'name="{name}"' in html
    assert html.count("Internal: not shown to the referrer") == 2  # services, the note


@pytest.mark.parametrize("action", ["accept", "nonsense", "mark_entered_in_error"])
def test_a_step_the_reader_may_not_take_is_not_offered_as_a_form(
    client, assigned_referral, referrer, action
):
    client.force_login(referrer)
    html = client.get(detail(assigned_referral, action=action)).content.decode()
    assert 'id="action-form"' not in html
    assert 'href="?action=cancel#action-form"' in html  # what the referrer may do


def test_a_safe_next_is_carried_into_the_form_and_its_cancel_link(
    client, assigned_referral, unit_worker
):
    client.force_login(unit_worker)
    html = client.get(
        detail(assigned_referral, action="accept", next="/inbox/%3Ftab%3Dnew")
    ).content.decode()
    assert '<input type="hidden" name="next" value="/inbox/?tab=new">' in html
    html = client.get(
        detail(assigned_referral, action="accept", next="https://evil.example/")
    ).content.decode()
    assert 'name="next" value="https://evil' not in html
    assert 'href="https://evil.example/" class="cancel"' not in html


# --- Destructive steps are confirmed first --------------------------------------------------


DESTRUCTIVE = [
    # action, who takes it, from which status
    ("reject", "unit_worker", "assigned"),
    ("fail", "unit_worker", "in_progress"),
    ("cancel", "referrer", "assigned"),
    ("cancel", "district_officer", "assigned"),
    ("mark_entered_in_error", "district_officer", "assigned"),
]


def _referral_in(status, request):
    referral = request.getfixturevalue("assigned_referral")
    if status == "in_progress":
        referral = request.getfixturevalue("in_progress")
    return referral


@pytest.mark.parametrize(("action", "persona", "status"), DESTRUCTIVE)
def test_a_destructive_step_changes_nothing_until_it_is_confirmed(
    client, request, action, persona, status
):
    referral = _referral_in(status, request)
    client.force_login(request.getfixturevalue(persona))
    before = state(referral)
    posted = {"action": action, "reason": "Family moved to Shenzhen", "version": referral.version}

    response = client.post(act(referral), posted)

    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "referrals/confirm.html"
    assert state(referral) == before  # nothing changed: no status, no version, no event
    html = response.content.decode()
    from referrals.lifecycle import TRANSITIONS

    assert str(TRANSITIONS[action].consequence) in html
    assert "Family moved to Shenzhen" in html  # the reason typed, shown back
    assert '<input type="hidden" name="confirm" value="1">' in html
    assert f'<input type="hidden" name="version" value="{referral.version}">' in html
    assert f"Yes, {TRANSITIONS[action].label.lower()}" in html
    assert 'id="confirm-no"' in html

    client.post(act(referral), {**posted, "confirm": "1"})
    after = Referral.objects.get(pk=referral.pk)
    assert after.version == referral.version + 1
    event = ReferralEvent.objects.filter(referral=referral).latest("pk")
    assert (event.to_status, event.reason) == (TRANSITIONS[action].target, posted["reason"])


def test_the_confirmation_keeps_every_field_and_where_to_go_back(client, in_progress, unit_worker):
    client.force_login(unit_worker)
    html = client.post(
        act(in_progress),
        {
            "action": "fail",
            "reason": "Could not reach her",
            "services_provided": "Two home visits",
            "note": "Neighbour says she moved",
            "version": in_progress.version,
            "next": "/inbox/?tab=open",
        },
    ).content.decode()
    for name, value in [
        ("reason", "Could not reach her"),
        ("services_provided", "Two home visits"),
        ("note", "Neighbour says she moved"),
        ("next", "/inbox/?tab=open"),
    ]:
        assert f'<input type="hidden" name="{name}" value="{value}">' in html
    assert 'href="/inbox/?tab=open" id="confirm-no"' in html


def test_a_stale_form_is_a_conflict_before_the_confirmation_and_after_it(
    client, assigned_referral, referrer, unit_worker
):
    client.force_login(referrer)
    stale = assigned_referral.version
    referral_accept(referral_id=assigned_referral.pk, actor=unit_worker)
    before = state(assigned_referral)
    posted = {"action": "cancel", "reason": "No longer needed", "version": stale}
    for confirm in ({}, {"confirm": "1"}):
        response = client.post(act(assigned_referral), {**posted, **confirm}, follow=True)
        assert CONFLICT in response.content.decode()
        assert "referrals/confirm.html" not in [t.name for t in response.templates]
        assert state(assigned_referral) == before


def test_a_destructive_step_without_its_reason_is_refused_not_confirmed(
    client, assigned_referral, referrer
):
    client.force_login(referrer)
    response = client.post(
        act(assigned_referral),
        {"action": "cancel", "reason": " ", "version": assigned_referral.version},
        follow=True,
    )
    assert "Give a reason for this step." in response.content.decode()
    assert "referrals/confirm.html" not in [t.name for t in response.templates]
    assert Referral.objects.get(pk=assigned_referral.pk).status == Status.ASSIGNED


def test_a_step_that_destroys_nothing_is_taken_at_once(client, assigned_referral, unit_worker):
    client.force_login(unit_worker)
    response = client.post(
        act(assigned_referral), {"action": "accept", "version": assigned_referral.version}
    )
    assert response.status_code == 302
    assert Referral.objects.get(pk=assigned_referral.pk).status == Status.ACCEPTED


# --- Where a step lands its actor ---------------------------------------------------------


@pytest.mark.parametrize("next_page", ["", "referral"])
def test_after_declining_the_worker_lands_on_the_inbox_not_a_404(
    client, assigned_referral, unit_worker, next_page
):
    client.force_login(unit_worker)
    response = client.post(
        act(assigned_referral),
        {
            "action": "reject",
            "reason": "No places",
            "version": assigned_referral.version,
            "confirm": "1",
            "next": detail(assigned_referral) if next_page else "",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("inbox:index")
    assert f"You declined {assigned_referral.reference}" in response.content.decode()


def test_after_declining_from_an_inbox_tab_the_worker_goes_back_to_it(
    client, assigned_referral, unit_worker
):
    client.force_login(unit_worker)
    response = client.post(
        act(assigned_referral),
        {
            "action": "reject",
            "reason": "No places",
            "version": assigned_referral.version,
            "confirm": "1",
            "next": "/inbox/?tab=new",
        },
    )
    assert response.url == "/inbox/?tab=new"


def test_after_withdrawing_the_referrer_is_back_on_the_referral(
    client, assigned_referral, referrer
):
    client.force_login(referrer)
    response = client.post(
        act(assigned_referral),
        {"action": "cancel", "reason": "Moved", "version": assigned_referral.version, "confirm": 1},
    )
    assert response.url == detail(assigned_referral)


# --- Services provided, internal notes, case notes ----------------------------------------


@pytest.mark.parametrize(
    ("persona", "sees"),
    [("unit_worker", True), ("district_officer", True), ("admin_user", True), ("referrer", False)],
)
def test_services_provided_are_shown_to_the_unit_and_the_office_not_the_referrer(
    client, request, in_progress, unit_worker, persona, sees
):
    referral_complete(
        referral_id=in_progress.pk,
        actor=unit_worker,
        outcome="Joined the carers' group.",
        services_provided="Counselling x3; respite care",
    )
    client.force_login(request.getfixturevalue(persona))
    html = client.get(detail(in_progress)).content.decode()
    assert "Joined the carers&#x27; group." in html  # the outcome summary: everyone's
    assert ("Counselling x3; respite care" in html) is sees
    assert ('id="services-provided"' in html) is sees


def test_an_internal_note_is_labelled_internal_on_the_timeline(client, in_progress, unit_worker):
    referral_hold(
        referral_id=in_progress.pk, actor=unit_worker, reason="In hospital", note="Son in debt"
    )
    client.force_login(unit_worker)
    html = client.get(detail(in_progress)).content.decode()
    assert '<p class="note"><span class="badge badge-internal">Internal</span> Son in debt' in html


def note_url(referral) -> str:
    return reverse("referrals:note", args=[referral.public_id])


@pytest.mark.parametrize("persona", ["unit_worker", "district_officer"])
def test_a_case_note_is_added_from_the_page_without_a_status_change(
    client, request, assigned_referral, referrer, persona
):
    author = request.getfixturevalue(persona)
    client.force_login(author)
    html = client.get(detail(assigned_referral)).content.decode()
    assert 'href="?action=note#action-form"' in html
    html = client.get(detail(assigned_referral, action="note")).content.decode()
    assert f'action="{note_url(assigned_referral)}"' in html

    response = client.post(
        note_url(assigned_referral),
        {"note": "Called the school: she attends.", "version": assigned_referral.version},
    )
    assert response.url == detail(assigned_referral) + "#timeline"
    referral = Referral.objects.get(pk=assigned_referral.pk)
    assert (referral.status, referral.version) == (Status.ASSIGNED, assigned_referral.version + 1)
    event = ReferralEvent.objects.get(referral=referral, kind=ReferralEvent.Kind.NOTE)
    assert (event.actor, event.note) == (author, "Called the school: she attends.")
    assert (event.from_status, event.to_status) == (Status.ASSIGNED, Status.ASSIGNED)

    for reader in ("unit_worker", "district_officer"):
        client.force_login(request.getfixturevalue(reader))
        assert "Called the school" in client.get(detail(referral)).content.decode()
    client.force_login(referrer)
    html = client.get(detail(referral)).content.decode()
    assert "Called the school" not in html
    assert 'data-kind="note"' not in html


def test_the_referrer_may_not_add_a_case_note(client, assigned_referral, referrer):
    client.force_login(referrer)
    assert 'href="?action=note' not in client.get(detail(assigned_referral)).content.decode()
    response = client.post(
        note_url(assigned_referral), {"note": "x", "version": assigned_referral.version}
    )
    assert response.status_code == 404
    assert not ReferralEvent.objects.filter(kind=ReferralEvent.Kind.NOTE).exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"note": "Seen", "version": 0}, CONFLICT),
        ({"note": "  ", "version": None}, "Write the note."),
    ],
)
def test_a_stale_or_empty_note_is_refused_with_a_message(
    client, assigned_referral, unit_worker, body, message
):
    client.force_login(unit_worker)
    if body["version"] is None:
        body["version"] = assigned_referral.version
    response = client.post(note_url(assigned_referral), body, follow=True)
    assert message in response.content.decode()
    assert not ReferralEvent.objects.filter(kind=ReferralEvent.Kind.NOTE).exists()


# --- The office's escalation --------------------------------------------------------------


def test_the_officer_flags_an_escalation_and_is_not_offered_escalate_to_themselves(
    client, assigned_referral, district_officer
):
    client.force_login(district_officer)
    html = client.get(detail(assigned_referral)).content.decode()
    assert "Escalate to the district office" not in html
    assert 'href="?action=escalate#action-form"' in html
    html = client.get(detail(assigned_referral, action="escalate")).content.decode()
    assert f'action="{reverse("referrals:escalate", args=[assigned_referral.public_id])}"' in html


@pytest.mark.parametrize("persona", ["unit_worker", "referrer"])
def test_who_may_not_escalate_is_not_offered_it(client, request, assigned_referral, persona):
    client.force_login(request.getfixturevalue(persona))
    html = client.get(detail(assigned_referral, action="escalate")).content.decode()
    assert 'href="?action=escalate' not in html
    assert 'id="action-form"' not in html


def test_an_escalated_referral_is_not_offered_escalation_again(
    client, assigned_referral, district_officer
):
    from referrals.assignment import referral_escalate

    referral_escalate(referral_id=assigned_referral.pk, actor=district_officer, reason="Eviction")
    client.force_login(district_officer)
    html = client.get(detail(assigned_referral)).content.decode()
    assert 'href="?action=escalate' not in html


# --- Print ---------------------------------------------------------------------------------


def test_the_page_has_a_print_button_for_its_script_and_a_print_layout(
    client, assigned_referral, referrer
):
    client.force_login(referrer)
    html = client.get(detail(assigned_referral)).content.decode()
    assert 'id="print-referral" hidden' in html  # shown by static/js/referral-status.js
    assert 'href="/static/css/print.css" media="print"' in html or 'media="print"' in html
    assert "onclick" not in html


def test_other_units_case_notes_stay_with_their_unit(
    client, assigned_referral, unit_worker, other_unit, other_unit_worker
):
    """A unit's note is on its own task: a second unit on the referral reads that a note was
    written, not what (lifecycle.visible_event's rule for case notes)."""
    from referrals.models import ReferralTask
    from referrals.services import referral_add_note

    ReferralTask.objects.create(
        referral=assigned_referral, unit=other_unit, is_lead=False, status=Status.ASSIGNED
    )
    referral_add_note(referral_id=assigned_referral.pk, actor=unit_worker, note="Private plan")
    client.force_login(other_unit_worker)
    html = client.get(detail(assigned_referral)).content.decode()
    assert "Private plan" not in html
