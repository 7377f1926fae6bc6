"""Clocks that fit the urgency (issue 16): urgent work runs on the clock, 24 x 7; the rest in
Hong Kong business time. Re-routing keeps the referral's clock, overdue urgent work goes up
to the office at once, and the urgent-protection exemption is urgent."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from referrals import assignment, services, sla
from referrals.models import OfficeClosure, Referral, RiskLevel, RoutingRule, Status, risk_level_of
from tests.referrals.test_services import make_referral, rule

pytestmark = pytest.mark.django_db

HK = ZoneInfo("Asia/Hong_Kong")
HOURS, DAYS = sla.SlaUnit.BUSINESS_HOURS, sla.SlaUnit.BUSINESS_DAYS


def hk(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=HK)


# Friday 2026-12-04; Christmas 2026: Fri 25 and Sat 26 are holidays; Easter 2026: Good Friday
# 3 April to Tuesday 7 April (Ching Ming observed) closed, offices open again Wednesday 8.
CLOCKS = [
    # case, start, amount, unit, around the clock, due
    ("friday-evening-urgent", "2026-12-04T19:00", 4, HOURS, True, "2026-12-04T23:00"),
    ("friday-evening-business", "2026-12-04T19:00", 4, HOURS, False, "2026-12-07T13:00"),
    ("friday-evening-2-days", "2026-12-04T19:00", 2, DAYS, False, "2026-12-09T09:00"),
    ("urgent-day-is-24-hours", "2026-12-04T19:00", 1, DAYS, True, "2026-12-05T19:00"),
    ("christmas-eve-business", "2026-12-24T16:00", 4, HOURS, False, "2026-12-28T11:00"),
    ("christmas-eve-urgent", "2026-12-24T16:00", 4, HOURS, True, "2026-12-24T20:00"),
    ("easter-long-weekend-business", "2026-04-02T17:00", 4, HOURS, False, "2026-04-08T12:00"),
    ("easter-long-weekend-urgent", "2026-04-02T22:30", 4, HOURS, True, "2026-04-03T02:30"),
]


@pytest.mark.parametrize(
    ("start", "amount", "unit", "around", "due"),
    [pytest.param(*case[1:], id=case[0]) for case in CLOCKS],
)
def test_deadlines_on_the_clock_and_in_business_time(start, amount, unit, around, due):
    assert sla.due_after(hk(start), amount, unit, around_the_clock=around) == hk(due)


def test_the_risk_level_picks_the_clock(settings):
    friday = hk("2026-12-04T19:00")
    urgent_rule = rule("mental-health-urgent")
    assert (urgent_rule.sla_amount, urgent_rule.sla_unit) == (4, HOURS)
    assert services.due_at(urgent_rule, friday, RiskLevel.URGENT) == hk("2026-12-04T23:00")
    # The same rule's hours counted for priority work: business time, Monday afternoon.
    assert services.due_at(urgent_rule, friday, RiskLevel.PRIORITY) == hk("2026-12-07T13:00")
    # No rule: urgent work gets URGENT_SLA_HOURS on the clock, the rest two business days.
    assert services.due_at(None, friday, RiskLevel.URGENT) == hk("2026-12-04T23:00")
    assert services.due_at(None, friday, RiskLevel.ROUTINE) == hk("2026-12-09T09:00")
    # The policy is a setting: priority can be put on the clock too.
    settings.SLA_AROUND_THE_CLOCK_RISK_LEVELS = ["urgent", "priority"]
    assert services.due_at(None, friday, RiskLevel.PRIORITY) == hk("2026-12-06T19:00")


def test_an_urgent_referral_routed_now_is_due_four_clock_hours_later(
    referrer, caring_team, ssp_area, ifsc_unit, other_unit
):
    referral = make_referral(
        referrer, caring_team, ssp_area, needs=("mental_health",), risk_level="urgent"
    )
    before = datetime.now(tz=HK)
    routed = services.referral_route(referral_id=referral.pk)
    after = datetime.now(tz=HK)
    assert routed.status == Status.ASSIGNED
    assert routed.routing_rule == rule("mental-health-urgent")
    assert before + timedelta(hours=4) <= routed.due_at <= after + timedelta(hours=4)


def test_overdue_urgent_work_is_escalated_at_once_even_while_it_is_rerouted(
    referrer, caring_team, ssp_area, ifsc_unit, other_unit, district_officer
):
    # A rule that neither escalates at once nor when overdue (the seeded one does both).
    RoutingRule.objects.filter(code="mental-health-urgent").update(
        escalate_at_once=False, when_overdue=RoutingRule.WhenOverdue.REROUTE
    )
    referral = services.referral_route(
        referral_id=make_referral(
            referrer, caring_team, ssp_area, needs=("mental_health",), risk_level="urgent"
        ).pk
    )
    assert referral.routing_rule == rule("mental-health-urgent")
    assert referral.escalated_at is None
    due = referral.due_at
    assignment.referral_mark_overdue(referral_id=referral.pk, now=due - timedelta(seconds=1))
    assert Referral.objects.get(pk=referral.pk).escalated_at is None  # not yet due

    assignment.referral_mark_overdue(referral_id=referral.pk, now=due + timedelta(seconds=1))
    after = Referral.objects.get(pk=referral.pk)
    assert after.escalated_at is not None
    assert after.events.filter(kind="escalation").count() == 1
    assert after.events.filter(kind="overdue").count() == 1
    assert after.events.filter(kind="routing").count() == 2  # re-routed too


def test_overdue_priority_work_with_a_reroute_rule_is_not_escalated(
    referrer, caring_team, ssp_area, ifsc_unit
):
    referral = services.referral_route(
        referral_id=make_referral(referrer, caring_team, ssp_area, risk_level="priority").pk
    )
    assert referral.routing_rule.when_overdue == referral.routing_rule.WhenOverdue.REROUTE
    assignment.referral_mark_overdue(
        referral_id=referral.pk, now=referral.due_at + timedelta(seconds=1)
    )
    assert Referral.objects.get(pk=referral.pk).escalated_at is None


def test_the_urgent_protection_exemption_is_urgent_whatever_is_ticked():
    assert risk_level_of([], "consent") == RiskLevel.ROUTINE
    assert risk_level_of([], "urgent_protection") == RiskLevel.URGENT
    assert risk_level_of(["carer_hospitalised"], "urgent_protection") == RiskLevel.URGENT


def test_a_form_filed_under_the_exemption_is_urgent(client, referrer, referral_form):
    client.force_login(referrer)
    response = client.post(
        reverse("referrals:new"),
        referral_form(
            risk_factors=[],
            consent_basis="urgent_protection",
            consent_given_by=None,
            consent_method=None,
            consent_given_at=None,
            consent_exemption_reason="Signs of neglect; she could not be asked.",
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    referral = Referral.objects.get(referrer=referrer)
    assert referral.risk_factors == []
    assert referral.risk_level == RiskLevel.URGENT


# --- Office closures (typhoon signal No. 8, black rainstorm) pause business time ----------

SIGNAL_8_MORNING = (hk("2026-12-04T11:00"), hk("2026-12-04T13:00"))
FRIDAY_EVENING_TO_MONDAY_NOON = (hk("2026-12-04T17:00"), hk("2026-12-07T12:00"))
ALL_MONDAY = (hk("2026-12-07T07:00"), hk("2026-12-07T20:00"))
CLOSED = [
    # case, start, amount, unit, closures, due
    ("two-hours-lost", "2026-12-04T10:00", 4, HOURS, [SIGNAL_8_MORNING], "2026-12-04T16:00"),
    ("over-a-weekend", "2026-12-04T16:00", 4, HOURS, [FRIDAY_EVENING_TO_MONDAY_NOON],
     "2026-12-07T15:00"),
    ("a-whole-day-lost", "2026-12-04T10:00", 1, DAYS, [ALL_MONDAY], "2026-12-08T10:00"),
    ("closure-before-start", "2026-12-04T14:00", 2, HOURS, [SIGNAL_8_MORNING], "2026-12-04T16:00"),
    ("two-closures", "2026-12-04T10:00", 4, HOURS, [SIGNAL_8_MORNING, ALL_MONDAY],
     "2026-12-04T16:00"),
    ("closure-after-due", "2026-12-04T09:00", 1, HOURS, [SIGNAL_8_MORNING], "2026-12-04T10:00"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("start", "amount", "unit", "closures", "due"),
    [pytest.param(*case[1:], id=case[0]) for case in CLOSED],
)
def test_business_time_pauses_through_office_closures(start, amount, unit, closures, due):
    assert sla.add_business_time(hk(start), amount, unit, closures) == hk(due)
    assert sla.due_after(hk(start), amount, unit, around_the_clock=False, closures=closures) == (
        hk(due)
    )


def test_urgent_clocks_run_through_a_closure():
    start = hk("2026-12-04T10:00")
    due = sla.due_after(start, 4, HOURS, around_the_clock=True, closures=[SIGNAL_8_MORNING])
    assert due == hk("2026-12-04T14:00")


def test_recorded_closures_pause_routine_deadlines_but_not_urgent_ones():
    friday = hk("2026-12-04T10:00")
    assert services.due_at(None, friday, RiskLevel.ROUTINE) == hk("2026-12-08T10:00")
    OfficeClosure.objects.create(
        starts_at=ALL_MONDAY[0], ends_at=ALL_MONDAY[1], reason="typhoon_signal_8"
    )
    OfficeClosure.objects.create(  # over before the clock starts: no effect
        starts_at=hk("2026-12-01T09:00"), ends_at=hk("2026-12-01T18:00"), reason="other"
    )
    assert services.due_at(None, friday, RiskLevel.ROUTINE) == hk("2026-12-09T10:00")
    assert services.due_at(None, friday, RiskLevel.URGENT) == hk("2026-12-04T14:00")


ADD_CLOSURE = "admin:referrals_officeclosure_add"


def closure_form(starts: str, ends: str) -> dict:
    (start_day, start_time), (end_day, end_time) = starts.split("T"), ends.split("T")
    return {
        "starts_at_0": start_day,
        "starts_at_1": start_time,
        "ends_at_0": end_day,
        "ends_at_1": end_time,
        "reason": "black_rainstorm",
        "note": "Black rainstorm warning issued at 06:40.",
    }


def test_an_administrator_records_a_closure_in_the_admin(admin_client, admin_user):
    response = admin_client.post(
        reverse(ADD_CLOSURE), closure_form("2026-12-07T06:40", "2026-12-07T14:00")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    closure = OfficeClosure.objects.get()
    assert (closure.starts_at, closure.ends_at) == (hk("2026-12-07T06:40"), hk("2026-12-07T14:00"))
    assert closure.recorded_by == admin_user


def test_a_closure_that_ends_before_it_starts_is_refused_in_chinese_too(admin_client):
    for language, message in [
        ("en", "A closure must end after it starts."),
        ("zh-hant", "停止辦公的結束時間必須在開始時間之後。"),
    ]:
        response = admin_client.post(
            reverse(ADD_CLOSURE),
            closure_form("2026-12-07T14:00", "2026-12-07T06:40"),
            HTTP_ACCEPT_LANGUAGE=language,
        )
        assert response.status_code == 200
        assert message in response.content.decode()
    assert not OfficeClosure.objects.exists()


def test_only_administrators_reach_the_closures_admin(client, district_officer):
    client.force_login(district_officer)
    response = client.get(reverse(ADD_CLOSURE))
    assert response.status_code in (302, 403)
    assert not OfficeClosure.objects.exists()


def test_a_closure_recorded_later_moves_the_deadlines_of_waiting_work_but_not_urgent_ones(
    admin_client, referrer, caring_team, ssp_area, ifsc_unit
):
    """Signal No. 8 all of Monday 7 December, recorded that morning: a referral routed on
    Friday 10:00 with two business days was due Tuesday 10:00 and is now due Wednesday
    10:00; an urgent one on the clock keeps its time; one a unit accepted is left alone.
    Removing the closure moves the deadline back."""
    friday = hk("2026-12-04T10:00")

    def waiting(risk_level, **fields):
        referral = make_referral(
            referrer,
            caring_team,
            ssp_area,
            status=fields.pop("status", Status.ASSIGNED),
            assigned_unit=ifsc_unit,
            risk_level=risk_level,
            due_at=services.due_at(None, friday, risk_level),
            **fields,
        )
        referral.tasks.update(created_at=friday, due_at=referral.due_at)
        return referral

    routine, urgent = waiting(RiskLevel.ROUTINE), waiting(RiskLevel.URGENT)
    accepted = waiting(RiskLevel.ROUTINE, status=Status.ACCEPTED)
    assert routine.due_at == hk("2026-12-08T10:00") and urgent.due_at == hk("2026-12-04T14:00")

    response = admin_client.post(
        reverse(ADD_CLOSURE), closure_form("2026-12-07T00:00", "2026-12-07T23:59"), follow=True
    )

    assert "1 waiting referral&#x27;s deadline was moved." in response.content.decode()
    for referral, due in [
        (routine, "2026-12-09T10:00"),
        (urgent, "2026-12-04T14:00"),
        (accepted, "2026-12-08T10:00"),
    ]:
        referral.refresh_from_db()
        assert referral.due_at == referral.tasks.get().due_at == hk(due), referral.risk_level
    closure = OfficeClosure.objects.get()
    admin_client.post(
        reverse("admin:referrals_officeclosure_delete", args=[closure.pk]), {"post": "yes"}
    )
    routine.refresh_from_db()
    assert routine.due_at == routine.tasks.get().due_at == hk("2026-12-08T10:00")
