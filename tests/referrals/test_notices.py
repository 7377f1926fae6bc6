"""Urgent notices (issue 16): a carer admitted to hospital, the people they care for reached
at once by the carers' hotline and the local unit, the contact outcomes and the funnel."""

from datetime import timedelta

import pytest
from django.urls import reverse

from accounts.models import Membership
from referrals import dashboard, errors, notices
from referrals.models import (
    ContactAttempt,
    ContactOutcome,
    Referral,
    ReferralEvent,
    RiskLevel,
    Status,
    UrgentNotice,
)
from tests import factories
from tests.referrals.partners import bearer, partner_client, token_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/notices/"
A, C, P, X = Status.ASSIGNED, Status.COMPLETED, Status.IN_PROGRESS, Status.CANCELLED


@pytest.fixture
def hotline(db):
    return factories.ServiceUnitFactory(
        code="carer-hotline",
        unit_type=factories.unit_type("CARER_HOTLINE"),
        catchment_districts=[factories.district("F")],
        capacity=50,
    )


@pytest.fixture
def elderly_centre(ssp_area):
    return factories.ServiceUnitFactory(
        code="decc-f-01", unit_type=factories.unit_type("DECC"), catchment_sub_districts=[ssp_area]
    )


def _worker(username, unit):
    return factories.MembershipFactory(
        user=factories.UserFactory(username=username),
        role=Membership.Role.UNIT_STAFF,
        service_unit=unit,
    ).user


@pytest.fixture
def hotline_worker(hotline):
    return _worker("hotline-worker", hotline)


@pytest.fixture
def centre_worker(elderly_centre):
    return _worker("centre-worker", elderly_centre)


@pytest.fixture
def hospital(db):
    """The hospital side's system: it may send notices, as its liaison desk."""
    organisation = factories.OrganisationFactory(code="hospital-authority")
    desk = factories.ServiceUnitFactory(code="ha-liaison", organisation=organisation)
    return partner_client(organisation, scopes=("notices:write",), intake_team=desk)


@pytest.fixture
def hospital_token(client, hospital):
    return token_for(client, hospital, scope="notices:write")


def person(ssp_area, name, phone, **overrides):
    return {
        "district": ssp_area.district.code,
        "sub_district": ssp_area.code,
        "subject_name_zh": name,
        "age": 84,
        "phone": phone,
        "address": "Room 5, 12/F, Synthetic House, Sham Shui Po",
        "needs": ["elderly_care"],
        **overrides,
    }


def notice_body(ssp_area, **overrides):
    """A carer admitted to hospital who cares for her husband and her sister."""
    return {
        "carer_name": "李美華",
        "carer_phone": "+852 6987 6543",
        "admitted_at": "2026-12-04T17:30:00+08:00",
        "hospital": "Caritas Medical Centre",
        "cared_for": [
            person(ssp_area, "陳大文", "+852 6123 4567"),
            person(ssp_area, "李美玉", "+852 6123 7654", age=79),
        ],
        **overrides,
    }


def send(client, token, body, key="notice-0001"):
    return client.post(
        URL, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key, **bearer(token)
    )


@pytest.fixture
def sent(client, hospital_token, ssp_area, hotline, elderly_centre, eager_tasks,
         django_capture_on_commit_callbacks):  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = send(client, hospital_token, notice_body(ssp_area))
    assert response.status_code == 201, response.content
    return response


def tasks_of(referral):
    return {
        task.unit.code: (task.status, task.is_lead)
        for task in referral.tasks.select_related("unit").order_by("pk")
    }


def test_a_notice_for_two_people_opens_two_urgent_referrals_each_with_hotline_and_local_unit(
    sent, hotline, elderly_centre
):
    notice = UrgentNotice.objects.get()
    referrals = list(notice.referrals.order_by("pk"))
    assert [r.reference for r in referrals] == [r["reference"] for r in sent.json()["referrals"]]
    assert [r.subject_name_zh for r in referrals] == ["陳大文", "李美玉"]
    for referral in referrals:
        assert referral.risk_level == RiskLevel.URGENT and referral.status == A
        assert referral.consent_basis == "urgent_protection"
        assert "carer_hospitalised" in referral.risk_factors
        assert "李美華" in referral.situation and "Caritas Medical Centre" in referral.situation
        assert tasks_of(referral) == {"carer-hotline": (A, True), "decc-f-01": (A, False)}
        # Both on the 24-hour clock: the hotline's two hours and the day-care rule's two
        # days count nights and holidays alike.
        hotline_task = referral.tasks.get(unit=hotline)
        centre_task = referral.tasks.get(unit=elderly_centre)
        assert hotline_task.due_at - hotline_task.created_at == pytest.approx(
            timedelta(hours=2), abs=timedelta(seconds=5)
        )
        assert centre_task.routing_rule.code == "elderly-day-care"
        assert centre_task.due_at - centre_task.created_at == pytest.approx(
            timedelta(days=2), abs=timedelta(seconds=5)
        )


def test_reached_no_urgent_need_closes_the_referral_in_one_step(
    sent, hotline_worker, elderly_centre
):
    first, second = UrgentNotice.objects.get().referrals.order_by("pk")
    elderly_centre.refresh_from_db()
    load, second_version = elderly_centre.current_load, second.version

    notices.referral_record_contact(
        referral_id=first.pk,
        actor=hotline_worker,
        outcome=ContactOutcome.REACHED_NO_NEED,
        reason="family_caring",
    )

    first.refresh_from_db()
    assert first.status == C and first.closed_at is not None
    assert tasks_of(first) == {"carer-hotline": (C, True), "decc-f-01": (X, False)}
    assert first.outcome_summary.startswith(str(ContactOutcome.REACHED_NO_NEED.label))
    event = first.events.get(kind=ReferralEvent.Kind.CONTACT)
    assert (event.from_status, event.to_status) == (A, C)
    assert event.details == {"outcome": "reached_no_need", "reason": "family_caring"}
    elderly_centre.refresh_from_db()
    assert elderly_centre.current_load == load - 1
    # The other person's referral is untouched.
    second.refresh_from_db()
    assert second.status == A and second.version == second_version


def test_a_close_without_a_reason_changes_nothing(sent, hotline_worker):
    referral = UrgentNotice.objects.get().referrals.order_by("pk").first()

    with pytest.raises(errors.ReasonRequired):
        notices.referral_record_contact(
            referral_id=referral.pk, actor=hotline_worker, outcome=ContactOutcome.REACHED_NO_NEED
        )

    assert not ContactAttempt.objects.exists()
    assert Referral.objects.get(pk=referral.pk).status == A


def test_reached_with_urgent_support_goes_on_as_a_case(sent, centre_worker):
    referral = UrgentNotice.objects.get().referrals.order_by("pk").first()

    notices.referral_record_contact(
        referral_id=referral.pk, actor=centre_worker, outcome=ContactOutcome.REACHED_URGENT
    )

    referral.refresh_from_db()
    assert referral.status == P
    assert tasks_of(referral) == {"carer-hotline": (A, True), "decc-f-01": (P, False)}


def test_not_reached_keeps_a_retry_time_and_alerts_the_office_after_the_set_tries(
    sent, hotline_worker, settings
):
    settings.NOTICE_CONTACT_ATTEMPTS = 3
    referral = UrgentNotice.objects.get().referrals.order_by("pk").first()

    alerted_on_arrival = referral.escalated_at  # the hotline rule alerts the office at once

    def alerts():
        return [
            event.details["reasons"][0]["code"]
            for event in referral.events.filter(kind=ReferralEvent.Kind.ESCALATION)
        ]

    for attempt in range(1, 5):
        notices.referral_record_contact(
            referral_id=referral.pk, actor=hotline_worker, outcome=ContactOutcome.NOT_REACHED
        )
        expected = ["escalate_at_once"] + (["not_reached"] if attempt >= 3 else [])
        assert alerts() == expected
    tries = list(referral.contact_attempts.all())
    assert len(tries) == 4 and all(t.retry_at > t.at for t in tries)
    referral.refresh_from_db()
    assert referral.status == A and referral.escalated_at == alerted_on_arrival


def test_only_a_unit_holding_an_open_task_records_contact(
    sent, other_unit_worker, hotline_worker, referrer, caring_team, ifsc_unit, unit_worker
):
    referral = UrgentNotice.objects.get().referrals.order_by("pk").first()
    with pytest.raises(errors.NotPermitted):
        notices.referral_record_contact(
            referral_id=referral.pk, actor=other_unit_worker, outcome=ContactOutcome.NOT_REACHED
        )
    ordinary = factories.ReferralFactory(
        referrer=referrer, referring_team=caring_team, status=A, assigned_unit=ifsc_unit
    )
    with pytest.raises(errors.IllegalTransition):
        notices.referral_record_contact(
            referral_id=ordinary.pk, actor=unit_worker, outcome=ContactOutcome.NOT_REACHED
        )
    assert not ContactAttempt.objects.exists()


def test_the_same_notice_sent_again_opens_nothing_more(
    client, sent, hospital_token, ssp_area, eager_tasks
):
    again = send(client, hospital_token, notice_body(ssp_area))

    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    references = [r["reference"] for r in again.json()["referrals"]]
    assert references == [r["reference"] for r in sent.json()["referrals"]]
    assert (UrgentNotice.objects.count(), Referral.objects.count()) == (1, 2)
    other = send(client, hospital_token, notice_body(ssp_area, carer_name="Someone else"))
    assert other.status_code == 422
    assert other.json()["error"] == "idempotency_key_reused"


def test_a_person_the_rules_refuse_is_named_and_nothing_is_stored(
    client, hospital_token, ssp_area, hotline
):
    body = notice_body(ssp_area)
    body["cared_for"][1]["needs"] = ["no-such-need"]
    body["cared_for"][1]["phone"] = "12"

    response = send(client, hospital_token, body)

    assert response.status_code == 400
    problems = response.json()["fields"]
    assert set(problems) == {"cared_for.1.needs", "cared_for.1.phone"}
    assert not UrgentNotice.objects.exists() and not Referral.objects.exists()


@pytest.mark.parametrize("case", ["no scope", "no intake team", "person"])
def test_only_a_client_set_up_for_notices_may_send_them(
    client, ssp_area, hotline, hospital, referrer, case
):
    if case == "no scope":
        hospital.partner.scopes = ["referrals:read", "notices:write"]
        hospital.partner.save()
        token = token_for(client, hospital, scope="referrals:read")
    elif case == "no intake team":
        hospital.partner.intake_team = None
        hospital.partner.save()
        token = token_for(client, hospital, scope="notices:write")
    if case == "person":
        client.force_login(referrer)
        response = client.post(
            URL, notice_body(ssp_area), content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="k",
        )  # fmt: skip
    else:
        response = send(client, token, notice_body(ssp_area))

    assert response.status_code == 403
    assert not UrgentNotice.objects.exists() and not Referral.objects.exists()


def test_the_funnel_counts_notices_people_reached_and_urgent(
    sent, hotline_worker, centre_worker, ssp_area
):
    first, second = UrgentNotice.objects.get().referrals.order_by("pk")
    notices.referral_record_contact(
        referral_id=first.pk,
        actor=hotline_worker,
        outcome=ContactOutcome.REACHED_NO_NEED,
        reason="carer_home",
    )
    notices.referral_record_contact(
        referral_id=second.pk, actor=hotline_worker, outcome=ContactOutcome.NOT_REACHED
    )
    notices.referral_record_contact(
        referral_id=second.pk, actor=centre_worker, outcome=ContactOutcome.REACHED_URGENT
    )

    assert dashboard.notice_funnel() == {"notices": 1, "people": 2, "reached": 2, "urgent": 1}
    elsewhere = factories.district("A").pk
    assert dashboard.notice_funnel(district_ids=[elsewhere]) == {
        "notices": 0,
        "people": 0,
        "reached": 0,
        "urgent": 0,
    }
    assert reverse("api:notice-list") == URL


# --- The pages ------------------------------------------------------------------------------


def test_the_hotline_closes_a_notice_from_the_page_in_one_step(client, sent, hotline_worker):
    referral = UrgentNotice.objects.get().referrals.order_by("pk").first()
    client.force_login(hotline_worker)
    page = client.get(reverse("referrals:detail", args=[referral.public_id])).content.decode()
    assert 'id="contact"' in page and 'value="family_caring"' in page

    response = client.post(
        reverse("referrals:contact", args=[referral.public_id]),
        {"outcome": "reached_no_need", "reason": "family_caring", "version": referral.version},
    )

    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.status == C
    page = client.get(reverse("referrals:detail", args=[referral.public_id])).content.decode()
    assert 'id="contact"' not in page  # nothing left to record


def test_a_stale_page_records_nothing(client, sent, hotline_worker, centre_worker):
    referral = UrgentNotice.objects.get().referrals.order_by("pk").first()
    seen = referral.version
    notices.referral_record_contact(
        referral_id=referral.pk, actor=centre_worker, outcome=ContactOutcome.NOT_REACHED
    )
    client.force_login(hotline_worker)

    client.post(
        reverse("referrals:contact", args=[referral.public_id]),
        {"outcome": "reached_no_need", "reason": "family_caring", "version": seen},
    )

    assert Referral.objects.get(pk=referral.pk).status == A
    assert referral.contact_attempts.count() == 1


def test_the_office_dashboard_shows_notices_reached_and_urgent(
    client, sent, hotline_worker, district_officer
):
    first = UrgentNotice.objects.get().referrals.order_by("pk").first()
    notices.referral_record_contact(
        referral_id=first.pk, actor=hotline_worker, outcome=ContactOutcome.REACHED_URGENT
    )
    client.force_login(district_officer)

    page = client.get(reverse("dashboard:index")).content.decode()

    for figure, value in [("notices", 1), ("people", 2), ("reached", 1), ("urgent", 1)]:
        assert f'data-figure="{figure}">{value}<' in page
