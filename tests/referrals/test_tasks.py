"""A task per unit (issue 16): the referral's status from its tasks, every step on the unit's
own task, the timeline linked to it, and migration 0016 giving each old referral its task."""

import importlib
import itertools
import re
import uuid
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from referrals import assignment, errors, selectors, services, submission
from referrals.lifecycle import status_from_tasks
from referrals.models import Referral, ReferralEvent, ReferralTask, Status
from services.models import NeedCategory
from tests import factories

pytestmark = pytest.mark.django_db

PHONES = itertools.count(1)

A, R, P, H, C, F, X = (
    Status.ASSIGNED,
    Status.REJECTED,
    Status.IN_PROGRESS,
    Status.ON_HOLD,
    Status.COMPLETED,
    Status.FAILED,
    Status.CANCELLED,
)
ACC = Status.ACCEPTED


@pytest.mark.parametrize(
    ("tasks", "expected"),
    [
        ([], None),
        ([(A, True)], A),
        ([(ACC, True)], ACC),
        ([(P, True)], P),
        ([(H, True)], H),
        ([(C, True)], C),
        ([(F, True)], F),
        ([(R, True)], R),
        ([(X, True)], None),
        # A declined lead replaced by the next unit's task: the new one speaks.
        ([(R, True), (A, True)], A),
        ([(X, True), (ACC, True)], ACC),
        # Several units at once: the furthest live task gives the referral's status.
        ([(A, True), (ACC, False)], ACC),
        ([(ACC, True), (P, False), (A, False)], P),
        ([(H, True), (A, False)], A),
        ([(H, True), (H, False)], H),
        # Done when no task is live: completed if any unit completed.
        ([(C, True), (F, False)], C),
        ([(F, True), (F, False)], F),
        ([(C, True), (A, False)], A),
        # The lead declined while another unit works on: the referral follows the live one.
        ([(R, True), (P, False)], P),
        # The lead declined and the others are done: the main need waits to be routed again.
        ([(R, True), (C, False)], R),
    ],
)
def test_status_from_tasks(tasks, expected):
    assert status_from_tasks(tasks) == expected


def submit(referrer, team, sub_district, *, needs=("child_family",)):
    referral, _ = submission.referral_submit(
        referrer=referrer,
        team=team,
        token=uuid.uuid4(),
        values={
            "district": sub_district.district,
            "sub_district": sub_district,
            "subject_name_zh": "黃小明",
            "phone": f"+8526{next(PHONES):07d}",
            "household": "elderly_couple",
            "risk_factors": [],
            "consent_basis": "consent",
            "consent_given_by": "family",
            "consent_method": "signed",
            "consent_given_at": timezone.now(),
        },
        needs=NeedCategory.objects.filter(code__in=needs),
    )
    return referral


@pytest.fixture
def second_ifsc(ssp_area):
    return factories.ServiceUnitFactory(
        code="ifsc-f-02", unit_type=factories.unit_type("IFSC"), catchment_sub_districts=[ssp_area]
    )


@pytest.fixture
def second_ifsc_worker(second_ifsc):
    return factories.MembershipFactory(
        user=factories.UserFactory(username="second-ifsc-worker"), service_unit=second_ifsc
    ).user


def routed(referral_id) -> Referral:
    with transaction.atomic():
        services.referral_route(referral_id=referral_id)
    return Referral.objects.get(pk=referral_id)


def test_routing_gives_the_unit_a_lead_task_with_the_referrals_needs_rule_and_deadline(
    referrer, caring_team, ssp_area, ifsc_unit
):
    referral = routed(submit(referrer, caring_team, ssp_area, needs=("child_family",)).pk)

    task = referral.tasks.get()
    assert (task.unit, task.status, task.is_lead, task.part_of) == (ifsc_unit, A, True, None)
    assert task.due_at == referral.due_at and task.routing_rule == referral.routing_rule
    assert set(task.needs.values_list("code", flat=True)) == {"child_family"}
    routing_event = referral.events.get(kind=ReferralEvent.Kind.ROUTING)
    assert routing_event.task == task


def test_each_unit_step_moves_its_task_and_the_referral_follows(
    referrer, caring_team, ssp_area, ifsc_unit, unit_worker
):
    referral = routed(submit(referrer, caring_team, ssp_area).pk)
    task = referral.tasks.get()

    for step, kwargs, expected in [
        (services.referral_accept, {}, ACC),
        (services.referral_start, {}, P),
        (services.referral_hold, {"reason": "In hospital"}, H),
        (services.referral_resume, {}, P),
        (services.referral_complete, {"outcome": "Home help arranged."}, C),
    ]:
        step(referral_id=referral.pk, actor=unit_worker, **kwargs)
        task.refresh_from_db()
        referral.refresh_from_db()
        assert task.status == referral.status == expected
        assert referral.events.order_by("-pk").first().task == task
    assert task.outcome_summary == referral.outcome_summary == "Home help arranged."
    assert task.closed_at is not None and task.version == 6


def test_a_decline_closes_the_units_task_and_the_next_unit_gets_a_new_one(
    referrer, caring_team, ssp_area, ifsc_unit, second_ifsc, unit_worker
):
    referral = routed(submit(referrer, caring_team, ssp_area).pk)
    first = referral.tasks.get()
    assert first.unit == ifsc_unit

    services.referral_decline(referral_id=referral.pk, actor=unit_worker, reason="Full")
    first.refresh_from_db()
    assert first.status == R and first.closed_at is not None
    assert Referral.objects.get(pk=referral.pk).status == R

    referral = routed(referral.pk)
    second = referral.tasks.exclude(pk=first.pk).get()
    assert (second.unit, second.status, second.is_lead) == (second_ifsc, A, True)
    assert referral.status == A and referral.assigned_unit == second_ifsc
    # The declining unit has no step left on the referral: its task is closed.
    with pytest.raises(errors.IllegalTransition):
        services.referral_accept(referral_id=referral.pk, actor=unit_worker)


def test_the_office_reassigning_closes_the_old_lead_task(
    referrer, caring_team, ssp_area, ifsc_unit, second_ifsc, district_officer
):
    referral = routed(submit(referrer, caring_team, ssp_area).pk)
    first = referral.tasks.get()

    assignment.referral_assign(
        referral_id=referral.pk, actor=district_officer, unit=second_ifsc, reason="Language"
    )

    first.refresh_from_db()
    assert first.status == X
    assert list(referral.tasks.open().values_list("unit", "is_lead")) == [(second_ifsc.pk, True)]


@pytest.mark.parametrize(
    ("step", "task_status"),
    [
        ("send_to_triage", X),
        ("cancel", X),
        ("mark_entered_in_error", Status.ENTERED_IN_ERROR),
    ],
)
def test_the_office_or_referrer_closing_the_referral_closes_its_open_tasks(
    referrer, caring_team, ssp_area, ifsc_unit, district_officer, step, task_status
):
    referral = routed(submit(referrer, caring_team, ssp_area).pk)
    actor = referrer if step == "cancel" else district_officer

    services.ACTION_SERVICES[step](referral_id=referral.pk, actor=actor, reason="Duplicate")

    assert list(referral.tasks.values_list("status", flat=True)) == [task_status]


def test_a_unit_acts_only_on_its_own_task(
    referrer, caring_team, ssp_area, ifsc_unit, second_ifsc, unit_worker, second_ifsc_worker
):
    """A second unit on the same referral: each accepts or declines its own part; the lead's
    unit cannot act on the other's task, and the referral follows the furthest task."""
    referral = routed(submit(referrer, caring_team, ssp_area).pk)
    lead = referral.tasks.get()
    part = ReferralTask.objects.create(referral=referral, unit=second_ifsc, part_of=lead)

    services.referral_accept(referral_id=referral.pk, actor=second_ifsc_worker)
    part.refresh_from_db()
    lead.refresh_from_db()
    assert (part.status, lead.status) == (ACC, A)
    assert Referral.objects.get(pk=referral.pk).status == ACC

    services.referral_start(referral_id=referral.pk, actor=second_ifsc_worker)
    services.referral_decline(referral_id=referral.pk, actor=unit_worker, reason="Not ours")
    lead.refresh_from_db()
    part.refresh_from_db()
    assert (lead.status, part.status) == (R, P)
    referral.refresh_from_db()
    assert referral.status == P
    with pytest.raises(errors.IllegalTransition):
        services.referral_start(referral_id=referral.pk, actor=unit_worker)


def test_a_referral_has_one_open_lead_and_a_unit_one_open_task_on_it(
    referrer, caring_team, ssp_area, ifsc_unit, second_ifsc
):
    referral = routed(submit(referrer, caring_team, ssp_area).pk)
    for duplicate in [
        {"unit": second_ifsc, "is_lead": True},
        {"unit": ifsc_unit, "is_lead": False},
    ]:
        with pytest.raises(IntegrityError), transaction.atomic():
            ReferralTask.objects.create(referral=referral, **duplicate)
    ReferralTask.objects.create(referral=referral, unit=second_ifsc, status=R, is_lead=True)


def test_overdue_marks_the_lead_task_and_the_lapsed_task_is_closed_on_rerouting(
    referrer, caring_team, ssp_area, ifsc_unit, second_ifsc
):
    referral = routed(submit(referrer, caring_team, ssp_area).pk)
    first = referral.tasks.get()
    later = referral.due_at + timedelta(minutes=1)

    assignment.referral_mark_overdue(referral_id=referral.pk, now=later)

    first.refresh_from_db()
    assert first.overdue_at == later and first.status == X
    overdue = referral.events.get(kind=ReferralEvent.Kind.OVERDUE)
    assert overdue.task == first
    assert referral.tasks.open().get().unit == second_ifsc


# --- Migration 0016 -------------------------------------------------------------------------

MIGRATION = importlib.import_module("referrals.migrations.0016_one_task_per_referral")


def migrate_tasks():
    with connection.schema_editor() as editor:
        MIGRATION.one_task_per_referral(apps, editor)


@pytest.mark.parametrize("status", [s for s in Status.values if s != Status.DRAFT])
def test_the_migration_gives_a_referral_held_by_a_unit_its_task_in_its_status(
    referrer, caring_team, ssp_area, ifsc_unit, status
):
    routed_at = timezone.now() - timedelta(days=3)
    held = status not in (Status.SUBMITTED, Status.TRIAGE)
    referral = factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        sub_district=ssp_area,
        status=status,
        assigned_unit=ifsc_unit if held else None,
        due_at=routed_at + timedelta(days=2) if held else None,
        outcome_summary="Done." if status == Status.COMPLETED else "",
        closed_at=timezone.now() if status in (C, F, X, Status.ENTERED_IN_ERROR) else None,
        task=False,
    )
    referral.needs.set(NeedCategory.objects.filter(code__in=["housing", "child_family"]))
    routing = ReferralEvent.objects.create(
        referral=referral, kind="routing", to_status=A, unit=ifsc_unit if held else None
    )
    ReferralEvent.objects.filter(pk=routing.pk).update(at=routed_at)
    office_step = ReferralEvent.objects.create(referral=referral, to_status=Status.TRIAGE)

    migrate_tasks()
    migrate_tasks()  # a second run adds nothing

    if not held:
        assert not referral.tasks.exists()
        return
    task = referral.tasks.get()
    assert (task.unit, task.status, task.is_lead, task.version) == (ifsc_unit, status, True, 1)
    assert task.due_at == referral.due_at and task.outcome_summary == referral.outcome_summary
    assert task.created_at == routed_at
    assert (task.closed_at is None) == (status in (A, ACC, P, H))
    assert set(task.needs.values_list("code", flat=True)) == {"housing", "child_family"}
    routing.refresh_from_db()
    office_step.refresh_from_db()
    assert routing.task == task and office_step.task is None


# --- A unit per need ------------------------------------------------------------------------

CARER_OF_SON_IN_RECOVERY = ("carer_support", "mental_health", "financial_hardship")


@pytest.fixture
def prc_unit(ssp_area):
    return factories.ServiceUnitFactory(
        code="prc-f-01", unit_type=factories.unit_type("PRC"), catchment_sub_districts=[ssp_area]
    )


@pytest.fixture
def prc_worker(prc_unit):
    return factories.MembershipFactory(
        user=factories.UserFactory(username="prc-worker"), service_unit=prc_unit
    ).user


def submit_carer(referrer, team, sub_district):
    """001 §14: a carer of a son in mental-health recovery, with rent arrears."""
    referral = submit(referrer, team, sub_district, needs=CARER_OF_SON_IN_RECOVERY)
    Referral.objects.filter(pk=referral.pk).update(household="carer_of_disabled")
    return routed(referral.pk)


def parts(referral):
    return {
        task.unit.code: (sorted(n.code for n in task.needs.all()), task.is_lead, task.status)
        for task in referral.tasks.open().select_related("unit").prefetch_related("needs")
    }


def test_a_referral_with_three_needs_gets_a_task_per_unit_with_one_lead(
    referrer, caring_team, ssp_area, ifsc_unit, other_unit, prc_unit
):
    loads = {unit.pk: unit.current_load for unit in (ifsc_unit, other_unit, prc_unit)}
    referral = submit_carer(referrer, caring_team, ssp_area)

    assert parts(referral) == {
        "prc-f-01": (["carer_support"], True, A),
        "ifsc-f-01": (["financial_hardship"], False, A),
        "iccmw-f-01": (["mental_health"], False, A),
    }
    lead = referral.tasks.get(is_lead=True)
    assert set(referral.tasks.exclude(pk=lead.pk).values_list("part_of", flat=True)) == {lead.pk}
    assert referral.status == A and referral.assigned_unit == prc_unit
    # Each unit's task has its own routing event, rule and deadline.
    routing = referral.events.filter(kind=ReferralEvent.Kind.ROUTING)
    assert {event.task.unit.code for event in routing} == set(parts(referral))
    assert all(task.due_at and task.routing_rule for task in referral.tasks.all())
    # The units' loads count their tasks.
    for unit in (ifsc_unit, other_unit, prc_unit):
        unit.refresh_from_db()
        assert unit.current_load == loads[unit.pk] + 1


def test_one_unit_serving_two_needs_gets_one_task_for_both(
    referrer, caring_team, ssp_area, ifsc_unit
):
    referral = routed(
        submit(referrer, caring_team, ssp_area, needs=("financial_hardship", "housing")).pk
    )

    assert parts(referral) == {"ifsc-f-01": (["financial_hardship", "housing"], True, A)}


def test_a_declined_part_is_routed_again_for_its_need_alone(
    referrer, caring_team, ssp_area, ifsc_unit, other_unit, other_unit_worker, prc_unit
):
    second_iccmw = factories.ServiceUnitFactory(
        code="iccmw-f-02",
        unit_type=factories.unit_type("ICCMW"),
        catchment_districts=[factories.district("F")],
    )
    referral = submit_carer(referrer, caring_team, ssp_area)
    untouched = {t.pk: t.version for t in referral.tasks.exclude(unit=other_unit)}

    services.referral_decline(referral_id=referral.pk, actor=other_unit_worker, reason="Full")
    referral = routed(referral.pk)

    assert parts(referral) == {
        "prc-f-01": (["carer_support"], True, A),
        "ifsc-f-01": (["financial_hardship"], False, A),
        "iccmw-f-02": (["mental_health"], False, A),
    }
    assert {t.pk: t.version for t in referral.tasks.filter(pk__in=untouched)} == untouched
    assert referral.tasks.get(unit=second_iccmw).part_of == referral.tasks.get(is_lead=True)
    assert referral.status == A
    routed(referral.pk)  # nothing waits: the job again changes nothing
    assert referral.tasks.count() == 4


def test_a_declined_part_with_no_unit_left_goes_to_the_office_and_the_rest_goes_on(
    referrer, caring_team, ssp_area, ifsc_unit, other_unit, other_unit_worker, prc_unit,
    prc_worker,
):  # fmt: skip
    referral = submit_carer(referrer, caring_team, ssp_area)
    services.referral_accept(referral_id=referral.pk, actor=prc_worker)

    services.referral_decline(referral_id=referral.pk, actor=other_unit_worker, reason="Full")
    referral = routed(referral.pk)

    assert set(parts(referral)) == {"prc-f-01", "ifsc-f-01"}
    assert referral.status == ACC
    unrouted = referral.events.filter(kind=ReferralEvent.Kind.ROUTING).order_by("-pk").first()
    assert unrouted.details["needs"] == ["mental_health"]
    assert unrouted.details["reasons"][0]["code"] == "need_unrouted"


def test_a_declined_lead_hands_the_lead_to_its_next_unit_and_the_parts_follow_it(
    referrer, caring_team, ssp_area, ifsc_unit, other_unit, prc_unit, prc_worker
):
    second_prc = factories.ServiceUnitFactory(
        code="prc-f-02", unit_type=factories.unit_type("PRC"), catchment_sub_districts=[ssp_area]
    )
    referral = submit_carer(referrer, caring_team, ssp_area)

    services.referral_decline(referral_id=referral.pk, actor=prc_worker, reason="Full")
    assert Referral.objects.get(pk=referral.pk).status == A  # the other units still have it
    referral = routed(referral.pk)

    new_lead = referral.tasks.get(is_lead=True, status=A, unit=second_prc)
    assert referral.assigned_unit == second_prc
    others = referral.tasks.open().exclude(pk=new_lead.pk)
    assert set(others.values_list("part_of", flat=True)) == {new_lead.pk}


def test_the_referrer_sees_each_needs_unit_and_status_but_no_unit_notes(
    client, referrer, caring_team, ssp_area, ifsc_unit, other_unit, other_unit_worker, prc_unit
):
    referral = submit_carer(referrer, caring_team, ssp_area)
    services.referral_decline(
        referral_id=referral.pk, actor=other_unit_worker, reason="Private: staff on leave"
    )
    client.force_login(referrer)

    page = client.get(f"/referrals/{referral.public_id}/").content.decode()

    statuses = re.findall(r'data-unit="([^"]+)" data-status="([^"]+)"', page)
    assert sorted(statuses) == [
        ("iccmw-f-01", "rejected"),
        ("ifsc-f-01", "assigned"),
        ("prc-f-01", "assigned"),
    ]
    assert "Private: staff on leave" not in page
    # Why each unit: its own routing reasons, beside it.
    row = page.split('data-unit="ifsc-f-01"', 1)[1].split("</li>\n  ", 1)[0]
    assert "Financial hardship → IFSC" in row


def test_a_part_unit_sees_the_referral_and_acts_from_its_page_on_its_own_task(
    client, referrer, caring_team, ssp_area, ifsc_unit, other_unit, other_unit_worker, prc_unit
):
    referral = submit_carer(referrer, caring_team, ssp_area)
    client.force_login(other_unit_worker)
    url = f"/referrals/{referral.public_id}/"
    assert client.get(url).status_code == 200
    inbox = client.get("/inbox/?tab=new").content.decode()
    assert referral.reference in inbox

    response = client.post(url + "act/", {"action": "accept", "version": referral.version})

    assert response.status_code == 302
    assert referral.tasks.get(unit=other_unit).status == ACC
    assert referral.tasks.get(unit=prc_unit).status == A
    assert referral.reference in client.get("/inbox/?tab=open").content.decode()


@pytest.mark.parametrize("next_unit", [True, False])
def test_urgent_work_past_its_time_goes_at_once_to_the_unit_on_call(
    referrer, caring_team, ssp_area, ifsc_unit, next_unit
):
    hotline = factories.ServiceUnitFactory(
        code="carer-hotline",
        unit_type=factories.unit_type("CARER_HOTLINE"),
        catchment_districts=[factories.district("F")],
    )
    if next_unit:
        factories.ServiceUnitFactory(
            code="ifsc-f-02",
            unit_type=factories.unit_type("IFSC"),
            catchment_sub_districts=[ssp_area],
        )
    referral = submit(referrer, caring_team, ssp_area)
    Referral.objects.filter(pk=referral.pk).update(risk_level="urgent")
    referral = routed(referral.pk)
    assert referral.assigned_unit == ifsc_unit

    assignment.referral_mark_overdue(
        referral_id=referral.pk, now=referral.due_at + timedelta(minutes=1)
    )

    referral.refresh_from_db()
    on_call = referral.tasks.get(unit=hotline)
    assert on_call.status == A and on_call.is_lead == (not next_unit)
    assert on_call.due_at - on_call.created_at == pytest.approx(
        timedelta(hours=4), abs=timedelta(seconds=5)
    )
    event = referral.events.get(task=on_call)
    assert event.details["reasons"][0]["code"] == "on_call"
    assert referral.escalated_at is not None
    expected = {"ifsc-f-02", "carer-hotline"} if next_unit else {"carer-hotline"}
    assert set(referral.tasks.open().values_list("unit__code", flat=True)) == expected
    # Marked again: nothing more.
    assignment.referral_mark_overdue(referral_id=referral.pk)
    assert referral.tasks.filter(unit=hotline).count() == 1


def test_a_parts_lapsed_deadline_is_swept_and_only_that_need_moves_on(
    referrer, caring_team, ssp_area, ifsc_unit, other_unit, prc_unit, prc_worker
):
    second_iccmw = factories.ServiceUnitFactory(
        code="iccmw-f-02",
        unit_type=factories.unit_type("ICCMW"),
        catchment_districts=[factories.district("F")],
    )
    referral = submit_carer(referrer, caring_team, ssp_area)
    services.referral_accept(referral_id=referral.pk, actor=prc_worker)  # the lead accepted
    lapsed = referral.tasks.get(unit=other_unit)
    later = lapsed.due_at + timedelta(minutes=1)

    assert lapsed.pk in selectors.tasks_past_due(now=later)
    assignment.task_mark_overdue(task_id=lapsed.pk, now=later)

    lapsed.refresh_from_db()
    assert lapsed.overdue_at == later and lapsed.status == X
    assert parts(Referral.objects.get(pk=referral.pk)) == {
        "prc-f-01": (["carer_support"], True, ACC),
        "ifsc-f-01": (["financial_hardship"], False, A),
        "iccmw-f-02": (["mental_health"], False, A),
    }
    overdue = referral.events.get(kind=ReferralEvent.Kind.OVERDUE)
    assert overdue.task == lapsed and overdue.details["released"] is True
    assert referral.tasks.get(unit=second_iccmw).part_of.unit == prc_unit
    # Again: nothing more.
    assignment.task_mark_overdue(task_id=lapsed.pk, now=later)
    assert referral.events.filter(kind=ReferralEvent.Kind.OVERDUE).count() == 1


def test_the_sweep_finds_the_parts_the_referrals_own_mark_does_not(
    referrer, caring_team, ssp_area, ifsc_unit, other_unit, prc_unit, prc_worker
):
    referral = submit_carer(referrer, caring_team, ssp_area)
    later = max(t.due_at for t in referral.tasks.all()) + timedelta(minutes=1)
    # Led and still waiting: the referral's own mark takes the lead, the sweep the parts.
    assert selectors.referrals_past_due(now=later) == [referral.pk]
    parts_due = set(selectors.tasks_past_due(now=later))
    assert parts_due == set(referral.tasks.filter(is_lead=False).values_list("pk", flat=True))
    # Once another unit accepted, the referral is no longer "assigned": the lead's lapse
    # is the sweep's too.
    services.referral_accept(
        referral_id=referral.pk,
        actor=factories.MembershipFactory(
            user=factories.UserFactory(username="ifsc-staff"), service_unit=ifsc_unit
        ).user,
    )
    assert selectors.referrals_past_due(now=later) == []
    lead = referral.tasks.get(is_lead=True)
    assert lead.pk in selectors.tasks_past_due(now=later)


def test_the_office_makes_another_unit_the_lead_with_a_reason(
    client, referrer, caring_team, ssp_area, ifsc_unit, other_unit, prc_unit, district_officer,
    unit_worker,
):  # fmt: skip
    referral = submit_carer(referrer, caring_team, ssp_area)
    ifsc_task = referral.tasks.get(unit=ifsc_unit)
    version = Referral.objects.get(pk=referral.pk).version
    with pytest.raises(errors.ReasonRequired):
        assignment.referral_set_lead(
            referral_id=referral.pk, actor=district_officer, task_public_id=ifsc_task.public_id,
            reason=" ",
        )  # fmt: skip
    with pytest.raises(errors.NotPermitted):
        assignment.referral_set_lead(
            referral_id=referral.pk, actor=unit_worker, task_public_id=ifsc_task.public_id,
            reason="We should lead",
        )  # fmt: skip
    assert Referral.objects.get(pk=referral.pk).version == version  # refused: nothing changed
    client.force_login(district_officer)
    page = client.get(f"/referrals/{referral.public_id}/").content.decode()
    assert page.count('class="action action-lead"') == 2  # the two parts

    response = client.post(
        f"/referrals/{referral.public_id}/lead/",
        {
            "task": ifsc_task.public_id,
            "reason": "Rent arrears are the main need",
            "version": version,
        },
    )

    assert response.status_code == 302
    referral.refresh_from_db()
    ifsc_task.refresh_from_db()
    assert ifsc_task.is_lead and ifsc_task.part_of is None
    assert referral.assigned_unit == ifsc_unit and referral.due_at == ifsc_task.due_at
    others = referral.tasks.open().exclude(pk=ifsc_task.pk)
    assert set(others.values_list("is_lead", "part_of")) == {(False, ifsc_task.pk)}
    event = referral.events.order_by("-pk").first()
    assert event.reason == "Rent arrears are the main need" and event.task == ifsc_task
    assert event.details["previous_lead"] == "prc-f-01"
    with pytest.raises(errors.ReferralError):
        assignment.referral_set_lead(
            referral_id=referral.pk, actor=district_officer, task_public_id=ifsc_task.public_id,
            reason="Again",
        )  # fmt: skip
    client.force_login(unit_worker)
    page = client.get(f"/referrals/{referral.public_id}/").content.decode()
    assert "action-lead" not in page


def test_the_units_on_a_referral_write_to_each_other_and_the_referrer_reads_none_of_it(
    client, referrer, caring_team, ssp_area, ifsc_unit, other_unit, other_unit_worker, prc_unit,
    prc_worker, district_officer, unit_worker,
):  # fmt: skip
    from referrals.models import Notification, UnitMessage
    from referrals.unit_messages import notify_units, referral_message_units

    referral = submit_carer(referrer, caring_team, ssp_area)
    with pytest.raises(errors.ReasonRequired):
        referral_message_units(referral_id=referral.pk, actor=prc_worker, body="  ")
    client.force_login(prc_worker)
    response = client.post(
        f"/referrals/{referral.public_id}/message/",
        {"body": "Son's review at the ICCMW on Friday; rent relief first?"},
    )
    assert response.status_code == 302
    message = UnitMessage.objects.get()
    assert (message.unit, message.author) == (prc_unit, prc_worker)
    event = referral.events.get(kind=ReferralEvent.Kind.MESSAGE)
    notify_units(event_id=event.pk)
    told = set(Notification.objects.filter(kind="message").values_list("recipient", flat=True))
    assert told == {unit_worker.pk, other_unit_worker.pk}  # the other units' staff, not the PRC

    for reader, sees in [(other_unit_worker, True), (district_officer, True), (referrer, False)]:
        client.force_login(reader)
        page = client.get(f"/referrals/{referral.public_id}/").content.decode()
        assert ("rent relief first?" in page) == sees, reader
    # A unit that declined its part has left the conversation.
    services.referral_decline(referral_id=referral.pk, actor=other_unit_worker, reason="Full")
    with pytest.raises(errors.NotPermitted):
        referral_message_units(referral_id=referral.pk, actor=other_unit_worker, body="Still here")
    assert UnitMessage.objects.count() == 1
