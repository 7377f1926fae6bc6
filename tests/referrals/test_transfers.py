"""Planned transfers (issue 17): a plan of open cases from unit A to unit B moves on its
effective date in batches, keeps every case's timeline, lets A see the cases until B
accepts, and sends a case B declines back to A with the reason."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Membership
from referrals import caseload, transfer_plans, transfers
from referrals.errors import NotPermitted
from referrals.lifecycle import Actor, timeline_for
from referrals.models import (
    HANDOVER_TEMPLATE,
    Notification,
    Referral,
    ReferralEvent,
    ReferralTask,
    TransferCase,
    TransferPlan,
)
from referrals.selectors import referrals_visible_to
from services.models import ServiceUnit
from tests import factories

Case = TransferCase.State


def member(unit, name, role=Membership.Role.UNIT_STAFF):
    return factories.MembershipFactory(
        user=factories.UserFactory(username=name), role=role, service_unit=unit
    ).user


def in_progress(unit, n, **kwargs):
    referrals = [
        factories.ReferralFactory(status="in_progress", assigned_unit=unit, **kwargs)
        for _ in range(n)
    ]
    return list(ReferralTask.objects.filter(referral__in=referrals).order_by("pk"))


def specs(tasks, **kwargs):
    told = timezone.now() - timedelta(days=1)
    defaults = {"handover_note": "Lives alone; daughter visits on Sundays.", **kwargs}
    defaults.setdefault("family_informed_at", told)
    return [transfer_plan_spec(t.pk, **defaults) for t in tasks]


def transfer_plan_spec(task_id, **kwargs):
    return transfer_plans.CaseSpec(task_id=task_id, **kwargs)


@pytest.fixture
def unit_b(ssp_area):
    return factories.ServiceUnitFactory(
        code="ifsc-f-02",
        unit_type=factories.unit_type("IFSC"),
        catchment_sub_districts=[ssp_area],
    )


def plan_of(officer, unit_a, unit_b, tasks, *, today=None, **spec_kwargs):
    return transfer_plans.plan_create(
        actor=officer,
        kind=TransferPlan.Kind.UNIT,
        title="IFSC reorganisation",
        from_unit_id=unit_a.pk,
        to_unit_id=unit_b.pk,
        effective_on=today or timezone.localdate(),
        cases=specs(tasks, **spec_kwargs),
    )


@pytest.mark.django_db
def test_a_plan_of_200_cases_moves_keeps_timelines_and_one_declined_goes_back(
    ifsc_unit, unit_b, district_officer, unit_supervisor, settings, monkeypatch
):
    settings.TRANSFER_BATCH_SIZE = 50
    worker_a = member(ifsc_unit, "worker-a")
    worker_b = member(unit_b, "worker-b")
    tasks = in_progress(ifsc_unit, 200)
    caseload.allocate(
        actor=unit_supervisor,
        unit_id=ifsc_unit.pk,
        task_ids=[t.pk for t in tasks],
        worker_ids=[worker_a.pk],
        respect_limits=False,
    )
    events_before = {
        t.referral_id: set(
            ReferralEvent.objects.filter(referral_id=t.referral_id).values_list("pk", flat=True)
        )
        for t in tasks
    }
    ServiceUnit.objects.filter(pk=ifsc_unit.pk).update(current_load=200)
    ServiceUnit.objects.filter(pk=unit_b.pk).update(current_load=0)
    tomorrow = timezone.localdate() + timedelta(days=1)
    plan = plan_of(district_officer, ifsc_unit, unit_b, tasks, today=tomorrow)

    assert transfers.plan_run(plan_id=plan.pk).not_due  # not before its date
    assert ReferralTask.objects.filter(unit=ifsc_unit).count() == 200

    batches = []
    real = transfers._move_batch
    monkeypatch.setattr(
        transfers, "_move_batch", lambda p, ids: batches.append(len(ids)) or real(p, ids)
    )
    result = transfers.plan_run(plan_id=plan.pk, today=tomorrow)

    assert (result.moved, result.skipped) == (200, 0)
    assert batches == [50, 50, 50, 50]  # never more than a batch of referrals locked at once
    moved = ReferralTask.objects.filter(pk__in=[t.pk for t in tasks])
    assert all(t.unit_id == unit_b.pk and t.status == "in_progress" for t in moved)
    assert not moved.filter(owner__isnull=False).exists()  # B's supervisor allocates
    assert Referral.objects.filter(assigned_unit=unit_b).count() == 200
    for task in tasks:  # the whole timeline went with the case, and the move is on it
        events = set(
            ReferralEvent.objects.filter(referral_id=task.referral_id).values_list("pk", flat=True)
        )
        assert events_before[task.referral_id] < events
    loads = dict(
        ServiceUnit.objects.filter(pk__in=[ifsc_unit.pk, unit_b.pk]).values_list(
            "pk", "current_load"
        )
    )
    assert loads == {ifsc_unit.pk: 0, unit_b.pk: 200}
    plan.refresh_from_db()
    assert plan.state == TransferPlan.State.DONE

    # The overlap window: A still sees the cases until B answers.
    assert referrals_visible_to(worker_a).filter(pk=tasks[0].referral_id).exists()
    cases = list(plan.cases.order_by("pk"))
    assert (
        transfers.cases_answer(actor=worker_b, case_ids=[c.pk for c in cases[:199]], accept=True)
        == 199
    )
    assert (
        transfers.cases_answer(
            actor=worker_b, case_ids=[cases[199].pk], accept=False, reason="Outside our catchment"
        )
        == 1
    )

    assert not referrals_visible_to(worker_a).filter(pk=cases[0].referral_id).exists()
    back = ReferralTask.objects.get(pk=cases[199].task_id)
    assert (back.unit_id, back.owner_id, back.status) == (ifsc_unit.pk, worker_a.pk, "in_progress")
    assert Referral.objects.get(pk=back.referral_id).assigned_unit_id == ifsc_unit.pk
    returned = ReferralEvent.objects.get(task=back, details__step="returned")
    assert returned.reason == "Outside our catchment" and returned.unit_id == ifsc_unit.pk
    figures = transfers.plan_figures(plan)
    assert (figures.moved, figures.accepted, figures.returned, figures.informed_before) == (
        200,
        199,
        1,
        200,
    )
    loads = dict(
        ServiceUnit.objects.filter(pk__in=[ifsc_unit.pk, unit_b.pk]).values_list(
            "pk", "current_load"
        )
    )
    assert loads == {ifsc_unit.pk: 1, unit_b.pk: 199}


@pytest.mark.django_db
def test_a_family_not_informed_blocks_the_plan_until_a_reason_is_recorded(
    ifsc_unit, unit_b, district_officer
):
    tasks = in_progress(ifsc_unit, 3)
    plan = plan_of(district_officer, ifsc_unit, unit_b, tasks[:2])
    uninformed = transfer_plans.plan_create(
        actor=district_officer,
        kind=TransferPlan.Kind.UNIT,
        title="Second",
        from_unit_id=ifsc_unit.pk,
        to_unit_id=unit_b.pk,
        effective_on=timezone.localdate(),
        cases=specs(tasks[2:], family_informed_at=None),
    )

    result = transfers.plan_run(plan_id=uninformed.pk)
    assert result.blockers.family_not_ready and not result.moved
    assert ReferralTask.objects.get(pk=tasks[2].pk).unit_id == ifsc_unit.pk
    assert transfers.plan_run(plan_id=plan.pk).moved == 2  # the other plan is not held up

    case = uninformed.cases.get()
    transfer_plans.case_update(
        actor=district_officer,
        case_id=case.pk,
        expected_version=case.version,
        handover_note=case.handover_note,
        family_informed_at=None,
        not_informed_reason="Family abroad, cannot be reached; letter sent.",
    )
    assert transfers.run_due_plans() == {uninformed.pk: 1}
    assert ReferralTask.objects.get(pk=tasks[2].pk).unit_id == unit_b.pk


@pytest.mark.django_db
def test_the_handover_note_must_say_more_than_the_template(ifsc_unit, unit_b, district_officer):
    tasks = in_progress(ifsc_unit, 1)
    plan = plan_of(district_officer, ifsc_unit, unit_b, tasks, handover_note="")
    case = plan.cases.get()
    assert case.handover_note == str(HANDOVER_TEMPLATE)
    assert transfers.plan_run(plan_id=plan.pk).blockers.no_handover == [case.pk]


@pytest.mark.django_db
def test_a_plan_refuses_what_it_cannot_move_and_makes_nothing(
    ifsc_unit, unit_b, other_unit, district_officer, other_district_officer
):
    tasks = in_progress(ifsc_unit, 2)
    closed = factories.ReferralFactory(status="completed", assigned_unit=ifsc_unit).tasks.get()
    with pytest.raises(NotPermitted):
        plan_of(other_district_officer, ifsc_unit, unit_b, tasks)
    with pytest.raises(transfer_plans.TransferError) as refused:
        transfer_plans.plan_create(
            actor=district_officer,
            kind=TransferPlan.Kind.UNIT,
            title="Mixed",
            from_unit_id=ifsc_unit.pk,
            to_unit_id=unit_b.pk,
            effective_on=timezone.localdate(),
            cases=specs([*tasks, closed]),
        )
    assert len(refused.value.problems) == 1
    # The receiving unit already works on one of the referrals (a part of it).
    ReferralTask.objects.create(referral_id=tasks[0].referral_id, unit=unit_b, status="accepted")
    with pytest.raises(transfer_plans.TransferError) as refused:
        plan_of(district_officer, ifsc_unit, unit_b, tasks)
    assert "already works on this referral" in str(refused.value.problems[0])
    with pytest.raises(transfer_plans.TransferError):
        plan_of(
            district_officer,
            ifsc_unit,
            unit_b,
            tasks[1:],
            today=timezone.localdate() - timedelta(days=1),
        )
    assert not TransferPlan.objects.exists()
    # A case is in one pending plan at a time.
    plan_of(district_officer, ifsc_unit, unit_b, tasks[1:])
    with pytest.raises(transfer_plans.TransferError):
        plan_of(district_officer, ifsc_unit, other_unit, tasks[1:])


@pytest.mark.django_db
def test_a_case_closed_before_the_date_is_skipped_not_moved(ifsc_unit, unit_b, district_officer):
    tasks = in_progress(ifsc_unit, 2)
    plan = plan_of(district_officer, ifsc_unit, unit_b, tasks)
    ReferralTask.objects.filter(pk=tasks[0].pk).update(status="completed")
    result = transfers.plan_run(plan_id=plan.pk)
    assert (result.moved, result.skipped) == (1, 1)
    assert plan.cases.get(task=tasks[0]).state == Case.SKIPPED
    assert ReferralTask.objects.get(pk=tasks[0].pk).unit_id == ifsc_unit.pk


@pytest.mark.django_db
def test_the_referrer_is_told_the_new_unit(
    ifsc_unit, unit_b, district_officer, referrer, eager_tasks, django_capture_on_commit_callbacks
):
    tasks = in_progress(ifsc_unit, 1, referrer=referrer)
    plan = plan_of(district_officer, ifsc_unit, unit_b, tasks)
    with django_capture_on_commit_callbacks(execute=True):
        transfers.plan_run(plan_id=plan.pk)
    told = Notification.objects.get(recipient=referrer, kind=Notification.Kind.TRANSFER)
    assert told.event.unit_id == unit_b.pk
    assert told.event.details["to_unit"]["en"] == unit_b.name_en


@pytest.mark.django_db
def test_a_worker_to_worker_plan_stays_inside_the_unit(
    ifsc_unit, unit_supervisor, referrer, eager_tasks, django_capture_on_commit_callbacks
):
    leaving, taking = member(ifsc_unit, "leaving"), member(ifsc_unit, "taking")
    tasks = in_progress(ifsc_unit, 4, referrer=referrer)
    caseload.allocate(
        actor=unit_supervisor,
        unit_id=ifsc_unit.pk,
        task_ids=[t.pk for t in tasks],
        worker_ids=[leaving.pk],
    )
    plan = transfer_plans.plan_create(
        actor=unit_supervisor,
        kind=TransferPlan.Kind.WORKER,
        title="Ms Leaving's caseload",
        reason=TransferPlan.Reason.WORKER_LEFT,
        from_unit_id=ifsc_unit.pk,
        effective_on=timezone.localdate(),
        cases=specs(tasks, to_owner_id=taking.pk),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert transfers.plan_run(plan_id=plan.pk).moved == 4
    assert set(
        ReferralTask.objects.filter(pk__in=[t.pk for t in tasks]).values_list("owner_id", "unit_id")
    ) == {(taking.pk, ifsc_unit.pk)}
    assert set(plan.cases.values_list("state", flat=True)) == {Case.ACCEPTED}
    assert not Notification.objects.filter(recipient=referrer).exists()
    referral = Referral.objects.get(pk=tasks[0].referral_id)
    assert ReferralEvent.Kind.TRANSFER not in {
        e.kind for e in timeline_for(referral, roles={Actor.REFERRER})
    }
    with pytest.raises(NotPermitted):  # a plain worker cannot plan
        transfer_plans.plan_create(
            actor=taking,
            kind=TransferPlan.Kind.WORKER,
            title="x",
            from_unit_id=ifsc_unit.pk,
            effective_on=timezone.localdate(),
            cases=specs(tasks, to_owner_id=leaving.pk),
        )


@pytest.mark.django_db
def test_only_the_receiving_unit_answers_and_a_decline_needs_a_reason(
    ifsc_unit, unit_b, district_officer, unit_worker
):
    tasks = in_progress(ifsc_unit, 1)
    plan = plan_of(district_officer, ifsc_unit, unit_b, tasks)
    transfers.plan_run(plan_id=plan.pk)
    case = plan.cases.get()
    with pytest.raises(transfer_plans.TransferError):  # A cannot accept for B
        transfers.cases_answer(actor=unit_worker, case_ids=[case.pk], accept=True)
    worker_b = member(unit_b, "worker-b")
    from referrals.errors import ReasonRequired

    with pytest.raises(ReasonRequired):
        transfers.cases_answer(actor=worker_b, case_ids=[case.pk], accept=False, reason=" ")
    case.refresh_from_db()
    assert case.state == Case.MOVED


@pytest.mark.django_db
def test_cases_pushed_on_after_a_worker_left_are_counted_for_the_office(
    ifsc_unit, unit_b, district_officer
):
    tasks = in_progress(ifsc_unit, 3)
    plan = transfer_plans.plan_create(
        actor=district_officer,
        kind=TransferPlan.Kind.UNIT,
        title="Worker left",
        reason=TransferPlan.Reason.WORKER_LEFT,
        from_unit_id=ifsc_unit.pk,
        to_unit_id=unit_b.pk,
        effective_on=timezone.localdate(),
        cases=specs(tasks),
    )
    assert transfers.pushed_after_worker_left(district_ids=[ifsc_unit.district_id]) == 0
    transfers.plan_run(plan_id=plan.pk)
    assert transfers.pushed_after_worker_left(district_ids=[ifsc_unit.district_id]) == 3
    assert transfers.pushed_after_worker_left(district_ids=[factories.district("A").pk]) == 0


@pytest.mark.django_db
def test_moved_cases_without_an_owner_for_days_are_counted(ifsc_unit, unit_b, district_officer):
    tasks = in_progress(ifsc_unit, 2)
    plan = plan_of(district_officer, ifsc_unit, unit_b, tasks)
    transfers.plan_run(plan_id=plan.pk)
    assert transfers.plan_figures(plan).without_owner == 0
    later = timezone.now() + timedelta(days=8)
    assert transfers.plan_figures(plan, now=later).without_owner == 2
