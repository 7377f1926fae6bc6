"""Routing services: the unit chosen, the SLA, escalation, overrides, overdue and the sweeps."""

import itertools
import logging
import uuid
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from accounts.models import Membership
from referrals import assignment, errors, selectors, services, sla, submission, tasks
from referrals.models import (
    CLOSED_STATUSES,
    Notification,
    Referral,
    ReferralEvent,
    RoutingRule,
    Status,
)
from services.models import NeedCategory, ServiceUnit
from tests import factories
from tests.referrals.conftest import file_through_page

pytestmark = pytest.mark.django_db

PHONES = itertools.count(1)


def submit(referrer, team, sub_district, *, needs, **overrides):
    """A referral submitted through the service, as the intake form does."""
    values = {
        "district": sub_district.district,
        "sub_district": sub_district,
        "subject_name_zh": "黃小明",
        "subject_name_en": "Wong Siu Ming",
        "phone": f"+8526{next(PHONES):07d}",
        "household": "elderly_couple",
        "risk_factors": [],
        "consent_basis": "consent",
        "consent_given_by": "family",
        "consent_method": "signed",
        "consent_given_at": timezone.now(),
        **overrides,
    }
    referral, created = submission.referral_submit(
        referrer=referrer,
        team=team,
        token=uuid.uuid4(),
        values=values,
        needs=NeedCategory.objects.filter(code__in=needs),
    )
    assert created
    return referral


def make_referral(referrer, team, sub_district, *, needs=("child_family",), **fields):
    """A referral written straight to the table in any status, with its own phone line (so
    no other test referral looks like the same household)."""
    referral = factories.ReferralFactory(
        referrer=referrer,
        referring_team=team,
        district=sub_district.district,
        sub_district=sub_district,
        phone=f"+8529{next(PHONES):07d}",
        **fields,
    )
    referral.needs.set(NeedCategory.objects.filter(code__in=needs))
    return referral


def load_of(unit) -> int:
    return ServiceUnit.objects.get(pk=unit.pk).current_load


def rule(code) -> RoutingRule:
    return RoutingRule.objects.get(code=code)


def assert_due_by_rule(due_at, before, after, routing_rule):
    """``due_at`` is the rule's SLA counted from the moment of routing (between the two
    instants the test saw around it)."""
    earliest = sla.add_business_time(before, routing_rule.sla_amount, routing_rule.sla_unit)
    latest = sla.add_business_time(after, routing_rule.sla_amount, routing_rule.sla_unit)
    assert earliest <= due_at <= latest


def routing_events(referral):
    return list(ReferralEvent.objects.filter(referral=referral, kind=ReferralEvent.Kind.ROUTING))


def reason_codes(event) -> list[str]:
    return [reason["code"] for reason in event.details["reasons"]]


def notified(kind, referral=None) -> set[str]:
    found = Notification.objects.filter(kind=kind)
    if referral is not None:
        found = found.filter(referral=referral)
    return set(found.values_list("recipient__username", flat=True))


@pytest.fixture
def second_ifsc(ssp_area):
    """Another IFSC covering Sham Shui Po, ranked after ``ifsc_unit`` (same load, later code)."""
    return factories.ServiceUnitFactory(
        code="ifsc-f-02",
        unit_type=factories.unit_type("IFSC"),
        catchment_sub_districts=[ssp_area],
    )


@pytest.fixture
def fcpsu_unit(db):
    return factories.ServiceUnitFactory(
        code="fcpsu-f",
        unit_type=factories.unit_type("FCPSU"),
        catchment_districts=[factories.district("F")],
    )


@pytest.fixture
def triage_referral(referrer, caring_team, ssp_area, ifsc_unit, other_unit):
    """Waiting for triage in Sham Shui Po; routing would suggest ``ifsc_unit``."""
    return make_referral(referrer, caring_team, ssp_area, status=Status.TRIAGE)


# --- Routing on submission ----------------------------------------------------------------


def test_child_family_referral_is_assigned_to_the_ifsc_covering_the_sub_district(
    referrer,
    caring_team,
    ssp_area,
    ifsc_unit,
    other_unit,
    unit_worker,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    load_before = load_of(ifsc_unit)
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        referral = submit(referrer, caring_team, ssp_area, needs=["child_family"])
    after = timezone.now()

    referral.refresh_from_db()
    assert referral.status == Status.ASSIGNED
    assert referral.assigned_unit == ifsc_unit
    assert referral.routing_rule == rule("child-family")
    assert_due_by_rule(referral.due_at, before, after, rule("child-family"))
    assert referral.escalated_at is None
    assert load_of(ifsc_unit) == load_before + 1
    assert load_of(other_unit) == other_unit.current_load

    [event] = routing_events(referral)
    assert (event.from_status, event.to_status) == (Status.SUBMITTED, Status.ASSIGNED)
    assert event.actor is None
    assert event.unit == ifsc_unit
    assert event.details["rule"] == "child-family"
    assert event.details["unit"] == "ifsc-f-01"
    assert event.details["candidates"] == ["ifsc-f-01"]
    assert event.details["escalate"] is False
    assert reason_codes(event) == ["rule_matched", "catchment_sub_district", "only_candidate"]
    assert not ReferralEvent.objects.filter(referral=referral, kind="escalation").exists()
    assert notified(Notification.Kind.ASSIGNED, referral) == {"unit-worker"}


def test_mental_health_referral_goes_to_the_iccmw_of_the_district(
    referrer,
    caring_team,
    ssp_area,
    ifsc_unit,
    other_unit,
    other_unit_worker,
    unit_worker,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        referral = submit(referrer, caring_team, ssp_area, needs=["mental_health"])
    after = timezone.now()

    referral.refresh_from_db()
    assert (referral.status, referral.assigned_unit) == (Status.ASSIGNED, other_unit)
    assert referral.routing_rule == rule("mental-health")
    assert_due_by_rule(referral.due_at, before, after, rule("mental-health"))
    assert load_of(other_unit) == other_unit.current_load + 1
    assert load_of(ifsc_unit) == ifsc_unit.current_load
    [event] = routing_events(referral)
    assert event.details["rule"] == "mental-health"
    assert event.details["candidates"] == ["iccmw-f-01"]
    assert notified(Notification.Kind.ASSIGNED, referral) == {"other-unit-worker"}


def test_candidates_are_ranked_and_all_recorded(
    referrer,
    caring_team,
    ssp_area,
    ifsc_unit,
    second_ifsc,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    ServiceUnit.objects.filter(pk=ifsc_unit.pk).update(current_load=60)  # 40 free of 100
    with django_capture_on_commit_callbacks(execute=True):
        referral = submit(referrer, caring_team, ssp_area, needs=["child_family"])

    referral.refresh_from_db()
    assert referral.assigned_unit == second_ifsc  # the lower load wins over the code
    [event] = routing_events(referral)
    assert event.details["candidates"] == ["ifsc-f-02", "ifsc-f-01"]
    assert reason_codes(event) == ["rule_matched", "catchment_sub_district", "spare_capacity"]


def test_no_unit_for_the_need_sends_the_referral_to_triage_and_tells_the_office(
    referrer,
    caring_team,
    ssp_area,
    ifsc_unit,
    district_officer,
    other_district_officer,
    unit_worker,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        referral = submit(referrer, caring_team, ssp_area, needs=["elderly_care"])

    referral.refresh_from_db()
    assert referral.status == Status.TRIAGE
    assert referral.assigned_unit is None
    assert referral.routing_rule is None
    assert referral.due_at is None
    assert load_of(ifsc_unit) == ifsc_unit.current_load
    [event] = routing_events(referral)
    assert event.to_status == Status.TRIAGE
    assert event.unit is None
    assert event.details["rule"] is None
    assert event.details["candidates"] == []
    assert reason_codes(event) == ["rule_no_unit", "to_triage"]
    assert notified(Notification.Kind.TRIAGE, referral) == {"officer-ssp"}
    assert not Notification.objects.exclude(kind=Notification.Kind.TRIAGE).exists()


def test_child_protection_goes_to_fcpsu_and_is_escalated_at_once(
    referrer,
    caring_team,
    ssp_area,
    ifsc_unit,
    fcpsu_unit,
    district_officer,
    other_district_officer,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        referral = submit(referrer, caring_team, ssp_area, needs=["child_protection"])
    after = timezone.now()

    referral.refresh_from_db()
    assert (referral.status, referral.assigned_unit) == (Status.ASSIGNED, fcpsu_unit)
    assert referral.routing_rule == rule("child-protection")
    assert_due_by_rule(referral.due_at, before, after, rule("child-protection"))
    assert referral.escalated_at is not None
    assert load_of(fcpsu_unit) == fcpsu_unit.current_load + 1
    [routed] = routing_events(referral)
    assert routed.details["escalate"] is True
    assert "escalate_at_once" in reason_codes(routed)
    [escalation] = ReferralEvent.objects.filter(referral=referral, kind="escalation")
    assert escalation.to_status == Status.ASSIGNED
    assert escalation.actor is None
    assert reason_codes(escalation) == ["escalate_at_once"]
    assert notified(Notification.Kind.ESCALATED, referral) == {"officer-ssp"}


def test_child_protection_with_no_fcpsu_goes_to_triage_and_is_still_escalated(
    referrer,
    caring_team,
    ssp_area,
    ifsc_unit,
    district_officer,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        referral = submit(referrer, caring_team, ssp_area, needs=["child_protection"])

    referral.refresh_from_db()
    assert referral.status == Status.TRIAGE
    assert referral.escalated_at is not None
    assert notified(Notification.Kind.TRIAGE, referral) == {"officer-ssp"}
    assert notified(Notification.Kind.ESCALATED, referral) == {"officer-ssp"}


# --- referral_route ------------------------------------------------------------------------


def test_routing_twice_routes_once(referrer, caring_team, ssp_area, ifsc_unit):
    referral = make_referral(referrer, caring_team, ssp_area)
    first = services.referral_route(referral_id=referral.pk)
    assert first.status == Status.ASSIGNED
    routed = Referral.objects.get(pk=referral.pk)

    again = services.referral_route(referral_id=referral.pk)

    assert again.status == Status.ASSIGNED
    assert len(routing_events(referral)) == 1
    assert load_of(ifsc_unit) == ifsc_unit.current_load + 1
    unchanged = Referral.objects.get(pk=referral.pk)
    assert unchanged.version == routed.version
    assert unchanged.due_at == routed.due_at
    assert unchanged.updated_at == routed.updated_at


@pytest.mark.parametrize(
    "status", [s for s in Status.values if s not in (Status.SUBMITTED, Status.REJECTED)]
)
def test_routing_leaves_any_other_status_alone(
    status, referrer, caring_team, ssp_area, ifsc_unit, other_unit
):
    referral = make_referral(
        referrer, caring_team, ssp_area, status=status, assigned_unit=other_unit
    )
    services.referral_route(referral_id=referral.pk)
    after = Referral.objects.get(pk=referral.pk)
    assert (after.status, after.assigned_unit, after.version) == (status, other_unit, 1)
    assert not ReferralEvent.objects.exists()
    assert load_of(ifsc_unit) == ifsc_unit.current_load
    assert load_of(other_unit) == other_unit.current_load


# --- Declined by the unit --------------------------------------------------------------------


def test_a_declined_referral_goes_to_the_next_unit_then_to_triage(
    referrer,
    caring_team,
    ssp_area,
    ifsc_unit,
    second_ifsc,
    unit_worker,
    district_officer,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    second_worker = factories.MembershipFactory(
        user=factories.UserFactory(username="second-worker"),
        role=Membership.Role.UNIT_STAFF,
        service_unit=second_ifsc,
    ).user
    with django_capture_on_commit_callbacks(execute=True):
        referral = submit(referrer, caring_team, ssp_area, needs=["child_family"])
    assert Referral.objects.get(pk=referral.pk).assigned_unit == ifsc_unit
    assert load_of(ifsc_unit) == ifsc_unit.current_load + 1

    with django_capture_on_commit_callbacks(execute=True):
        services.referral_decline(referral_id=referral.pk, actor=unit_worker, reason="Full.")

    referral.refresh_from_db()
    assert (referral.status, referral.assigned_unit) == (Status.ASSIGNED, second_ifsc)
    assert load_of(ifsc_unit) == ifsc_unit.current_load
    assert load_of(second_ifsc) == second_ifsc.current_load + 1
    rerouted = routing_events(referral)[-1]
    assert rerouted.from_status == Status.REJECTED
    assert rerouted.details["candidates"] == ["ifsc-f-02"]
    assert "excluded_declined" in reason_codes(rerouted)
    assert notified(Notification.Kind.ASSIGNED, referral) == {"unit-worker", "second-worker"}

    with django_capture_on_commit_callbacks(execute=True):
        services.referral_decline(referral_id=referral.pk, actor=second_worker, reason="Full.")

    referral.refresh_from_db()
    assert referral.status == Status.TRIAGE
    assert referral.assigned_unit is None
    assert load_of(ifsc_unit) == ifsc_unit.current_load
    assert load_of(second_ifsc) == second_ifsc.current_load
    last = routing_events(referral)[-1]
    assert last.details["candidates"] == []
    assert reason_codes(last).count("excluded_declined") == 2
    assert notified(Notification.Kind.TRIAGE, referral) == {"officer-ssp"}
    assert list(referral.events.values_list("to_status", flat=True)) == [
        "submitted",
        "assigned",
        "rejected",
        "assigned",
        "rejected",
        "triage",
    ]


# --- referral_assign -----------------------------------------------------------------------


def test_officer_assigns_to_the_suggested_unit_without_a_reason(
    triage_referral, ifsc_unit, other_unit, district_officer
):
    before = timezone.now()
    assignment.referral_assign(
        referral_id=triage_referral.pk, actor=district_officer, unit=ifsc_unit
    )
    after = timezone.now()

    referral = Referral.objects.get(pk=triage_referral.pk)
    assert (referral.status, referral.assigned_unit) == (Status.ASSIGNED, ifsc_unit)
    assert referral.routing_rule == rule("child-family")
    assert_due_by_rule(referral.due_at, before, after, rule("child-family"))
    assert referral.version == triage_referral.version + 1
    assert load_of(ifsc_unit) == ifsc_unit.current_load + 1
    [event] = routing_events(referral)
    assert event.actor == district_officer
    assert (event.from_status, event.to_status) == (Status.TRIAGE, Status.ASSIGNED)
    assert event.details["manual"] is True
    assert event.details["unit"] == event.details["suggested"] == "ifsc-f-01"
    assert reason_codes(event)[0] == "manual"
    assert "override" not in reason_codes(event)


@pytest.mark.parametrize(
    "needs",
    [("mental_health",), ("mental_health", "child_family")],
    ids=["no-rule-for-the-chosen-type", "slower-rule-for-the-chosen-type"],
)
def test_an_urgent_referral_rerouted_by_hand_keeps_the_urgent_clock(
    needs, referrer, caring_team, ssp_area, ifsc_unit, other_unit, district_officer
):
    """issue 14 item 14: the office sends an urgent mental-health referral (suggested: the
    ICCMW) to the IFSC instead. Whether no rule covers an IFSC for it or a slower one does
    (child and family, 3 days), it keeps the urgent rule's 4 hours, not the 2-day default,
    and they run on the clock (issue 16): due 4 hours after routing, night or day."""
    referral = make_referral(
        referrer, caring_team, ssp_area, needs=needs, status=Status.TRIAGE, risk_level="urgent"
    )
    before = timezone.now()
    assignment.referral_assign(
        referral_id=referral.pk, actor=district_officer, unit=ifsc_unit, reason="Known family."
    )
    after = timezone.now()

    referral.refresh_from_db()
    assert referral.assigned_unit == ifsc_unit
    assert referral.routing_rule == rule("mental-health-urgent")
    assert (rule("mental-health-urgent").sla_amount, rule("mental-health-urgent").sla_unit) == (
        4,
        "business_hours",
    )
    assert before + timedelta(hours=4) <= referral.due_at <= after + timedelta(hours=4)
    [event] = routing_events(referral)
    assert (event.details["suggested"], reason_codes(event)) == ("iccmw-f-01", ["override"])


def test_another_unit_than_the_suggested_one_needs_a_reason(
    triage_referral, ifsc_unit, other_unit, district_officer
):
    for reason in ["", "   "]:
        with pytest.raises(errors.ReasonRequired):
            assignment.referral_assign(
                referral_id=triage_referral.pk,
                actor=district_officer,
                unit=other_unit,
                reason=reason,
            )
    unchanged = Referral.objects.get(pk=triage_referral.pk)
    assert (unchanged.status, unchanged.assigned_unit, unchanged.version) == (
        Status.TRIAGE,
        None,
        triage_referral.version,
    )
    assert not ReferralEvent.objects.exists()
    assert load_of(other_unit) == other_unit.current_load


def test_overriding_with_a_reason_assigns_and_says_so(
    triage_referral, ifsc_unit, other_unit, district_officer, settings
):
    before = timezone.now()
    assignment.referral_assign(
        referral_id=triage_referral.pk,
        actor=district_officer,
        unit=other_unit,
        reason="  The ICCMW already knows the family.  ",
    )
    after = timezone.now()

    referral = Referral.objects.get(pk=triage_referral.pk)
    assert (referral.status, referral.assigned_unit) == (Status.ASSIGNED, other_unit)
    # No rule matches for an ICCMW: the clock is the decision's rule's (issue 14 item 14).
    assert referral.routing_rule == rule("child-family")
    assert_due_by_rule(referral.due_at, before, after, rule("child-family"))
    assert load_of(other_unit) == other_unit.current_load + 1
    assert load_of(ifsc_unit) == ifsc_unit.current_load
    [event] = routing_events(referral)
    assert event.reason == "The ICCMW already knows the family."
    assert event.unit == other_unit
    assert event.details["manual"] is True
    assert (event.details["unit"], event.details["suggested"]) == ("iccmw-f-01", "ifsc-f-01")
    assert reason_codes(event) == ["override"]


def test_reassigning_moves_the_load_and_always_needs_a_reason(
    triage_referral, ifsc_unit, other_unit, district_officer
):
    assignment.referral_assign(
        referral_id=triage_referral.pk, actor=district_officer, unit=other_unit, reason="Urdu"
    )
    with pytest.raises(errors.ReasonRequired):  # even to the suggested unit
        assignment.referral_assign(
            referral_id=triage_referral.pk, actor=district_officer, unit=ifsc_unit
        )
    with pytest.raises(errors.ReferralError):
        assignment.referral_assign(
            referral_id=triage_referral.pk, actor=district_officer, unit=other_unit, reason="x"
        )
    assert load_of(other_unit) == other_unit.current_load + 1

    assignment.referral_assign(
        referral_id=triage_referral.pk,
        actor=district_officer,
        unit=ifsc_unit,
        reason="The ICCMW has no Urdu speaker after all.",
    )

    referral = Referral.objects.get(pk=triage_referral.pk)
    assert referral.assigned_unit == ifsc_unit
    assert load_of(other_unit) == other_unit.current_load
    assert load_of(ifsc_unit) == ifsc_unit.current_load + 1
    assert reason_codes(routing_events(referral)[-1]) == ["override"]


def test_an_inactive_unit_is_refused(triage_referral, ifsc_unit, district_officer):
    ServiceUnit.objects.filter(pk=ifsc_unit.pk).update(is_active=False)
    with pytest.raises(errors.ReferralError) as refused:
        assignment.referral_assign(
            referral_id=triage_referral.pk,
            actor=district_officer,
            unit=ifsc_unit,
            reason="They said yes on the phone.",
        )
    assert ifsc_unit.name_en in str(refused.value.message)
    assert Referral.objects.get(pk=triage_referral.pk).status == Status.TRIAGE
    assert not ReferralEvent.objects.exists()
    assert load_of(ifsc_unit) == ifsc_unit.current_load


@pytest.mark.parametrize(
    "persona", ["other_district_officer", "unit_worker", "other_unit_worker", "referrer"]
)
def test_only_the_district_office_may_assign(persona, triage_referral, ifsc_unit, request):
    with pytest.raises(errors.NotPermitted):
        assignment.referral_assign(
            referral_id=triage_referral.pk,
            actor=request.getfixturevalue(persona),
            unit=ifsc_unit,
            reason="a reason",
        )
    assert Referral.objects.get(pk=triage_referral.pk).status == Status.TRIAGE
    assert not ReferralEvent.objects.exists()
    assert load_of(ifsc_unit) == ifsc_unit.current_load


def test_assign_with_a_stale_version_is_a_conflict(triage_referral, ifsc_unit, district_officer):
    seen = triage_referral.version
    Referral.objects.filter(pk=triage_referral.pk).update(version=seen + 1)
    with pytest.raises(errors.Conflict):
        assignment.referral_assign(
            referral_id=triage_referral.pk,
            actor=district_officer,
            unit=ifsc_unit,
            expected_version=seen,
        )
    assert Referral.objects.get(pk=triage_referral.pk).status == Status.TRIAGE
    assert not ReferralEvent.objects.exists()
    assignment.referral_assign(
        referral_id=triage_referral.pk,
        actor=district_officer,
        unit=ifsc_unit,
        expected_version=seen + 1,
    )
    assert Referral.objects.get(pk=triage_referral.pk).status == Status.ASSIGNED


# --- referral_escalate -------------------------------------------------------------------


@pytest.fixture
def assigned(referrer, caring_team, ssp_area, ifsc_unit):
    return make_referral(referrer, caring_team, ssp_area, status=Status.ASSIGNED)


def test_the_office_escalates_with_a_reason_and_is_told(
    assigned,
    district_officer,
    other_district_officer,
    unit_worker,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    factories.MembershipFactory(
        user=factories.UserFactory(username="officer-ssp-2"),
        role=Membership.Role.DISTRICT_OFFICER,
        service_unit=None,
        welfare_office=factories.office("SSP"),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assignment.referral_escalate(
            referral_id=assigned.pk, actor=district_officer, reason=" Police involved. "
        )
    referral = Referral.objects.get(pk=assigned.pk)
    assert referral.escalated_at is not None
    assert referral.status == Status.ASSIGNED
    assert referral.version == assigned.version + 1
    [event] = ReferralEvent.objects.filter(referral=referral)
    assert event.kind == ReferralEvent.Kind.ESCALATION
    assert (event.from_status, event.to_status) == (Status.ASSIGNED, Status.ASSIGNED)
    assert (event.actor, event.reason) == (district_officer, "Police involved.")
    # The office's other officers are told; the one who escalated is not told of their own
    # action (issue 19), and another office (KT) is not told at all.
    assert notified(Notification.Kind.ESCALATED) == {"officer-ssp-2"}


@pytest.mark.parametrize("reason", ["", "  "])
def test_escalating_needs_a_reason(reason, assigned, district_officer):
    with pytest.raises(errors.ReasonRequired):
        assignment.referral_escalate(referral_id=assigned.pk, actor=district_officer, reason=reason)
    assert Referral.objects.get(pk=assigned.pk).escalated_at is None
    assert not ReferralEvent.objects.exists()


def test_a_referral_is_escalated_once(assigned, district_officer, admin_user):
    assignment.referral_escalate(referral_id=assigned.pk, actor=district_officer, reason="urgent")
    first = Referral.objects.get(pk=assigned.pk).escalated_at
    with pytest.raises(errors.IllegalTransition):
        assignment.referral_escalate(referral_id=assigned.pk, actor=admin_user, reason="again")
    assert Referral.objects.get(pk=assigned.pk).escalated_at == first
    assert ReferralEvent.objects.filter(kind="escalation").count() == 1


@pytest.mark.parametrize(
    "persona", ["other_district_officer", "unit_worker", "unit_supervisor", "referrer"]
)
def test_only_the_office_may_escalate(persona, assigned, request):
    with pytest.raises(errors.NotPermitted):
        assignment.referral_escalate(
            referral_id=assigned.pk, actor=request.getfixturevalue(persona), reason="urgent"
        )
    assert Referral.objects.get(pk=assigned.pk).escalated_at is None
    assert not ReferralEvent.objects.exists()


@pytest.mark.parametrize("status", [*CLOSED_STATUSES, Status.DRAFT])
def test_a_closed_referral_cannot_be_escalated(
    status, referrer, caring_team, ssp_area, district_officer
):
    referral = make_referral(referrer, caring_team, ssp_area, status=status)
    with pytest.raises(errors.IllegalTransition):
        assignment.referral_escalate(referral_id=referral.pk, actor=district_officer, reason="x")
    assert Referral.objects.get(pk=referral.pk).escalated_at is None
    assert not ReferralEvent.objects.exists()


def test_escalate_with_a_stale_version_is_a_conflict(assigned, district_officer):
    with pytest.raises(errors.Conflict):
        assignment.referral_escalate(
            referral_id=assigned.pk,
            actor=district_officer,
            reason="urgent",
            expected_version=assigned.version - 1,
        )
    assert Referral.objects.get(pk=assigned.pk).escalated_at is None


# --- referral_mark_overdue -----------------------------------------------------------------


def routed(referrer, caring_team, ssp_area, needs=("child_family",)):
    referral = make_referral(referrer, caring_team, ssp_area, needs=needs)
    return services.referral_route(referral_id=referral.pk)


def test_not_yet_due_is_left_alone(referrer, caring_team, ssp_area, ifsc_unit):
    referral = routed(referrer, caring_team, ssp_area)
    for now in [referral.due_at - timedelta(seconds=1), None]:
        assignment.referral_mark_overdue(referral_id=referral.pk, now=now)
    after = Referral.objects.get(pk=referral.pk)
    assert (after.status, after.assigned_unit, after.overdue_at) == (
        Status.ASSIGNED,
        ifsc_unit,
        None,
    )
    assert after.version == referral.version
    assert not ReferralEvent.objects.filter(kind=ReferralEvent.Kind.OVERDUE).exists()


def test_overdue_with_a_reroute_rule_goes_to_the_next_unit_and_tells_supervisor_and_office(
    referrer,
    caring_team,
    ssp_area,
    ifsc_unit,
    second_ifsc,
    unit_worker,
    unit_supervisor,
    district_officer,
    other_district_officer,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    referral = routed(referrer, caring_team, ssp_area)
    assert referral.assigned_unit == ifsc_unit
    assert rule("child-family").when_overdue == RoutingRule.WhenOverdue.REROUTE
    due_at = referral.due_at
    now = due_at + timedelta(seconds=1)

    with django_capture_on_commit_callbacks(execute=True):
        assignment.referral_mark_overdue(referral_id=referral.pk, now=now)

    after = Referral.objects.get(pk=referral.pk)
    assert (after.status, after.assigned_unit) == (Status.ASSIGNED, second_ifsc)
    assert after.overdue_at is None  # a fresh assignment with its own deadline
    assert after.routing_rule == rule("child-family")
    assert after.due_at >= due_at
    assert after.escalated_at is None
    assert load_of(ifsc_unit) == ifsc_unit.current_load
    assert load_of(second_ifsc) == second_ifsc.current_load + 1
    [overdue] = ReferralEvent.objects.filter(referral=referral, kind=ReferralEvent.Kind.OVERDUE)
    assert overdue.unit == ifsc_unit
    assert overdue.actor is None
    assert overdue.details["released"] is True
    assert datetime.fromisoformat(overdue.details["due_at"]) == due_at
    rerouted = routing_events(referral)[-1]
    assert rerouted.unit == second_ifsc
    assert "excluded_declined" in reason_codes(rerouted)
    assert notified(Notification.Kind.OVERDUE) == {"unit-supervisor", "officer-ssp"}


def test_overdue_with_no_other_unit_goes_to_triage_once(
    referrer,
    caring_team,
    ssp_area,
    ifsc_unit,
    district_officer,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    referral = routed(referrer, caring_team, ssp_area)
    now = referral.due_at + timedelta(minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        assignment.referral_mark_overdue(referral_id=referral.pk, now=now)
        assignment.referral_mark_overdue(referral_id=referral.pk, now=now)

    after = Referral.objects.get(pk=referral.pk)
    assert after.status == Status.TRIAGE
    assert after.assigned_unit is None
    assert after.overdue_at == now
    assert load_of(ifsc_unit) == ifsc_unit.current_load
    assert ReferralEvent.objects.filter(kind=ReferralEvent.Kind.OVERDUE).count() == 1
    assert list(after.events.values_list("kind", "to_status")) == [
        ("routing", "assigned"),
        ("overdue", "assigned"),
        ("routing", "triage"),
    ]
    assert notified(Notification.Kind.OVERDUE) == {"officer-ssp"}
    assert notified(Notification.Kind.TRIAGE) == {"officer-ssp"}


def test_overdue_with_an_escalate_rule_stays_with_the_unit_and_is_escalated_once(
    referrer,
    caring_team,
    ssp_area,
    other_unit,
    ifsc_unit,
    district_officer,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    RoutingRule.objects.filter(code="mental-health").update(
        when_overdue=RoutingRule.WhenOverdue.ESCALATE
    )
    referral = routed(referrer, caring_team, ssp_area, needs=["mental_health"])
    assert (referral.assigned_unit, referral.escalated_at) == (other_unit, None)
    now = referral.due_at + timedelta(seconds=1)

    with django_capture_on_commit_callbacks(execute=True):
        assignment.referral_mark_overdue(referral_id=referral.pk, now=now)
    after = Referral.objects.get(pk=referral.pk)
    events = ReferralEvent.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        assignment.referral_mark_overdue(referral_id=referral.pk, now=now + timedelta(days=3))

    again = Referral.objects.get(pk=referral.pk)
    assert (again.status, again.assigned_unit) == (Status.ASSIGNED, other_unit)
    assert again.overdue_at == now
    assert again.escalated_at is not None
    assert again.version == after.version
    assert ReferralEvent.objects.count() == events
    assert load_of(other_unit) == other_unit.current_load + 1
    [overdue] = ReferralEvent.objects.filter(kind=ReferralEvent.Kind.OVERDUE)
    assert overdue.details["released"] is False
    [escalation] = ReferralEvent.objects.filter(kind=ReferralEvent.Kind.ESCALATION)
    assert reason_codes(escalation) == ["overdue"]
    assert notified(Notification.Kind.OVERDUE) == {"officer-ssp"}
    assert notified(Notification.Kind.ESCALATED) == {"officer-ssp"}


def test_overdue_child_protection_is_not_escalated_a_second_time(
    referrer, caring_team, ssp_area, fcpsu_unit
):
    referral = routed(referrer, caring_team, ssp_area, needs=["child_protection"])
    escalated_at = referral.escalated_at
    assert escalated_at is not None
    assignment.referral_mark_overdue(
        referral_id=referral.pk, now=referral.due_at + timedelta(seconds=1)
    )
    after = Referral.objects.get(pk=referral.pk)
    assert (after.status, after.assigned_unit) == (Status.ASSIGNED, fcpsu_unit)
    assert after.escalated_at == escalated_at
    assert ReferralEvent.objects.filter(kind=ReferralEvent.Kind.ESCALATION).count() == 1
    assert ReferralEvent.objects.get(kind=ReferralEvent.Kind.OVERDUE).details["released"] is False


@pytest.mark.parametrize("status", [Status.ACCEPTED, Status.TRIAGE, Status.REJECTED])
def test_only_an_assignment_can_be_overdue(status, referrer, caring_team, ssp_area, ifsc_unit):
    referral = make_referral(
        referrer,
        caring_team,
        ssp_area,
        status=status,
        assigned_unit=ifsc_unit,
        due_at=timezone.now() - timedelta(days=1),
    )
    assignment.referral_mark_overdue(referral_id=referral.pk)
    after = Referral.objects.get(pk=referral.pk)
    assert (after.status, after.overdue_at) == (status, None)
    assert not ReferralEvent.objects.exists()


# --- Selections for the sweeps ---------------------------------------------------------------


def test_referrals_to_reroute_are_the_old_submitted_and_declined_ones(
    referrer, caring_team, ssp_area
):
    now = timezone.now()
    old, fresh = now - timedelta(seconds=120), now - timedelta(seconds=10)

    def referral(status, submitted_at, updated_at=None):
        made = make_referral(
            referrer, caring_team, ssp_area, status=status, submitted_at=submitted_at
        )
        if updated_at:
            Referral.objects.filter(pk=made.pk).update(updated_at=updated_at)
        return made.pk

    expected = {
        referral(Status.SUBMITTED, old),
        referral(Status.REJECTED, old, updated_at=old),
    }
    referral(Status.SUBMITTED, fresh)
    referral(Status.REJECTED, old, updated_at=fresh)
    referral(Status.REJECTED, old)  # just changed: updated_at is now
    for status in [Status.TRIAGE, Status.ASSIGNED, Status.ACCEPTED, Status.CANCELLED]:
        referral(status, old, updated_at=old)

    assert set(selectors.referrals_to_reroute(older_than_seconds=60)) == expected
    assert len(selectors.referrals_to_reroute(older_than_seconds=5)) == 4
    assert selectors.referrals_to_reroute(older_than_seconds=600) == []


def test_referrals_past_due_are_unacknowledged_assignments_past_their_deadline(
    referrer, caring_team, ssp_area, ifsc_unit
):
    now = timezone.now()
    past, future = now - timedelta(minutes=1), now + timedelta(minutes=1)

    def referral(status, due_at, overdue_at=None):
        return make_referral(
            referrer,
            caring_team,
            ssp_area,
            status=status,
            assigned_unit=ifsc_unit,
            due_at=due_at,
            overdue_at=overdue_at,
        ).pk

    late = referral(Status.ASSIGNED, past)
    referral(Status.ASSIGNED, future)
    referral(Status.ASSIGNED, None)
    referral(Status.ASSIGNED, past, overdue_at=past)
    for status in [Status.ACCEPTED, Status.IN_PROGRESS, Status.TRIAGE, Status.REJECTED]:
        referral(status, past)

    assert selectors.referrals_past_due(now=now) == [late]
    assert selectors.referrals_past_due() == [late]
    assert len(selectors.referrals_past_due(now=future + timedelta(seconds=1))) == 2


# --- The sweep tasks -----------------------------------------------------------------------


def test_sweep_unrouted_routes_a_forgotten_referral_exactly_once(
    referrer,
    caring_team,
    ssp_area,
    ifsc_unit,
    unit_worker,
    settings,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    settings.ROUTING_SWEEP_AFTER_SECONDS = 60
    forgotten = make_referral(
        referrer, caring_team, ssp_area, submitted_at=timezone.now() - timedelta(minutes=5)
    )
    just_submitted = make_referral(referrer, caring_team, ssp_area)

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sweep_unrouted.delay().get() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sweep_unrouted.delay().get() == 0
        tasks.route_referral.delay(forgotten.pk)  # the original task, arriving late

    forgotten.refresh_from_db()
    assert (forgotten.status, forgotten.assigned_unit) == (Status.ASSIGNED, ifsc_unit)
    assert len(routing_events(forgotten)) == 1
    assert load_of(ifsc_unit) == ifsc_unit.current_load + 1
    assert Notification.objects.filter(referral=forgotten, kind="assigned").count() == 1
    assert Referral.objects.get(pk=just_submitted.pk).status == Status.SUBMITTED


def test_sweep_overdue_marks_a_late_assignment_exactly_once(
    referrer,
    caring_team,
    ssp_area,
    ifsc_unit,
    district_officer,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    referral = routed(referrer, caring_team, ssp_area)
    on_time = routed(referrer, caring_team, ssp_area)
    Referral.objects.filter(pk=referral.pk).update(due_at=timezone.now() - timedelta(minutes=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sweep_overdue.delay().get() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sweep_overdue.delay().get() == 0
        tasks.mark_overdue.delay(referral.pk)

    assert ReferralEvent.objects.filter(kind=ReferralEvent.Kind.OVERDUE).count() == 1
    assert Referral.objects.get(pk=referral.pk).status == Status.TRIAGE
    assert Notification.objects.filter(kind=Notification.Kind.OVERDUE).count() == 1
    assert Referral.objects.get(pk=on_time.pk).status == Status.ASSIGNED
    assert load_of(ifsc_unit) == ifsc_unit.current_load + 1


def test_with_the_broker_down_the_submission_succeeds_and_the_sweep_routes_it_later(
    client,
    referrer,
    referral_form,
    ifsc_unit,
    monkeypatch,
    caplog,
    settings,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.run_outbox_message, "apply_async", broker_down)
    client.force_login(referrer)
    child_family = NeedCategory.objects.get(code="child_family").pk
    with (
        caplog.at_level(logging.WARNING, logger="referrals.outbox"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = file_through_page(client, referral_form(needs=[child_family]))

    assert response.status_code == 302
    referral = Referral.objects.get()
    assert referral.status == Status.SUBMITTED
    assert f"Could not queue referrals.services.referral_route(referral_id={referral.pk})" in (
        caplog.text
    )

    monkeypatch.undo()  # the broker is back
    settings.ROUTING_SWEEP_AFTER_SECONDS = 60
    Referral.objects.filter(pk=referral.pk).update(
        submitted_at=timezone.now() - timedelta(minutes=2)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sweep_unrouted.delay().get() == 1
    referral.refresh_from_db()
    assert (referral.status, referral.assigned_unit) == (Status.ASSIGNED, ifsc_unit)
    assert len(routing_events(referral)) == 1
