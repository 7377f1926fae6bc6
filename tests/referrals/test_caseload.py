"""Case owners inside a unit (issue 17): allocation by a supervisor, caseloads against
limits, "my cases", and the cases a deactivated worker leaves without an owner."""

import pytest

from accounts.models import Membership
from referrals import caseload
from referrals.errors import NotPermitted
from referrals.lifecycle import Actor, timeline_for
from referrals.models import ReferralEvent, ReferralTask
from tests import factories


def open_cases(unit, n, status="in_progress"):
    referrals = [factories.ReferralFactory(status=status, assigned_unit=unit) for _ in range(n)]
    return list(ReferralTask.objects.filter(referral__in=referrals).order_by("pk"))


def worker(unit, name, role=Membership.Role.UNIT_STAFF, **kwargs):
    return factories.MembershipFactory(
        user=factories.UserFactory(username=name), role=role, service_unit=unit, **kwargs
    ).user


@pytest.mark.django_db
def test_a_supervisor_allocates_30_cases_to_two_workers_in_one_action(ifsc_unit, unit_supervisor):
    tasks = open_cases(ifsc_unit, 30)
    ann, ben = worker(ifsc_unit, "ann"), worker(ifsc_unit, "ben")

    given = caseload.allocate(
        actor=unit_supervisor,
        unit_id=ifsc_unit.pk,
        task_ids=[t.pk for t in tasks],
        worker_ids=[ann.pk, ben.pk],
    )

    assert given == {ann.pk: 15, ben.pk: 15}
    owners = ReferralTask.objects.filter(pk__in=[t.pk for t in tasks])
    assert owners.filter(owner=ann).count() == 15 and owners.filter(owner=ben).count() == 15
    assert all(t.owner_since is not None and t.version == 2 for t in owners)
    events = ReferralEvent.objects.filter(kind=ReferralEvent.Kind.ALLOCATION)
    assert events.count() == 30
    assert {e.actor_id for e in events} == {unit_supervisor.pk}
    loads = {w.user.pk: w.load for w in caseload.workers(ifsc_unit.pk)}
    assert loads[ann.pk] == 15 and loads[ben.pk] == 15


@pytest.mark.django_db
def test_allocation_balances_against_existing_load_and_respects_limits(ifsc_unit, unit_supervisor):
    ann = worker(ifsc_unit, "ann", caseload_limit=12)
    ben = worker(ifsc_unit, "ben", caseload_limit=12)
    caseload.allocate(
        actor=unit_supervisor,
        unit_id=ifsc_unit.pk,
        task_ids=[t.pk for t in open_cases(ifsc_unit, 10)],
        worker_ids=[ann.pk],
    )
    given = caseload.allocate(
        actor=unit_supervisor,
        unit_id=ifsc_unit.pk,
        task_ids=[t.pk for t in open_cases(ifsc_unit, 12)],
        worker_ids=[ann.pk, ben.pk],
    )
    assert given == {ann.pk: 1, ben.pk: 11}  # Ben had the room

    more = open_cases(ifsc_unit, 3)
    with pytest.raises(caseload.AllocationError) as refused:
        caseload.allocate(
            actor=unit_supervisor,
            unit_id=ifsc_unit.pk,
            task_ids=[t.pk for t in more],
            worker_ids=[ann.pk, ben.pk],
        )
    assert "room for 2 more cases, not 3" in str(refused.value.message)
    assert not ReferralTask.objects.filter(pk__in=[t.pk for t in more], owner__isnull=False)


@pytest.mark.django_db
def test_only_the_units_supervisor_allocates_and_only_to_its_workers(
    ifsc_unit, other_unit, unit_worker, unit_supervisor, other_unit_worker
):
    tasks = open_cases(ifsc_unit, 2)
    with pytest.raises(NotPermitted):
        caseload.allocate(
            actor=unit_worker,
            unit_id=ifsc_unit.pk,
            task_ids=[t.pk for t in tasks],
            worker_ids=[unit_worker.pk],
        )
    with pytest.raises(caseload.AllocationError):
        caseload.allocate(
            actor=unit_supervisor,
            unit_id=ifsc_unit.pk,
            task_ids=[t.pk for t in tasks],
            worker_ids=[other_unit_worker.pk],
        )
    theirs = open_cases(other_unit, 1)
    with pytest.raises(caseload.AllocationError):  # another unit's case
        caseload.allocate(
            actor=unit_supervisor,
            unit_id=ifsc_unit.pk,
            task_ids=[theirs[0].pk],
            worker_ids=[unit_worker.pk],
        )
    assert not ReferralTask.objects.filter(owner__isnull=False).exists()


@pytest.mark.django_db
def test_a_deactivated_workers_open_cases_need_an_owner_at_once(ifsc_unit, unit_supervisor):
    leaving, staying = worker(ifsc_unit, "leaving"), worker(ifsc_unit, "staying")
    theirs = open_cases(ifsc_unit, 12)
    closed = open_cases(ifsc_unit, 2, status="completed")
    caseload.allocate(
        actor=unit_supervisor,
        unit_id=ifsc_unit.pk,
        task_ids=[t.pk for t in theirs],
        worker_ids=[leaving.pk],
    )
    ReferralTask.objects.filter(pk__in=[t.pk for t in closed]).update(owner=leaving)
    caseload.allocate(
        actor=unit_supervisor,
        unit_id=ifsc_unit.pk,
        task_ids=[t.pk for t in open_cases(ifsc_unit, 3)],
        worker_ids=[staying.pk],
    )
    assert not caseload.cases_needing_owner([ifsc_unit.pk]).exists()

    leaving.is_active = False
    leaving.save(update_fields=["is_active"])

    needing = set(caseload.cases_needing_owner([ifsc_unit.pk]).values_list("pk", flat=True))
    assert needing == {t.pk for t in theirs}
    assert leaving.pk not in {w.user.pk for w in caseload.workers(ifsc_unit.pk)}


@pytest.mark.django_db
def test_a_worker_gone_from_the_unit_leaves_cases_needing_an_owner(ifsc_unit, unit_supervisor):
    moved_on = worker(ifsc_unit, "moved-on")
    tasks = open_cases(ifsc_unit, 2)
    caseload.allocate(
        actor=unit_supervisor,
        unit_id=ifsc_unit.pk,
        task_ids=[t.pk for t in tasks],
        worker_ids=[moved_on.pk],
    )
    Membership.objects.filter(user=moved_on).delete()
    assert caseload.cases_needing_owner([ifsc_unit.pk]).count() == 2
    assert not caseload.my_cases(moved_on).exists()


@pytest.mark.django_db
def test_my_cases_are_the_workers_own_open_cases(ifsc_unit, unit_supervisor, unit_worker):
    other = worker(ifsc_unit, "other")
    mine, theirs = open_cases(ifsc_unit, 3), open_cases(ifsc_unit, 2)
    for tasks, owner in ((mine, unit_worker), (theirs, other)):
        caseload.allocate(
            actor=unit_supervisor,
            unit_id=ifsc_unit.pk,
            task_ids=[t.pk for t in tasks],
            worker_ids=[owner.pk],
        )
    ReferralTask.objects.filter(pk=mine[0].pk).update(status="completed")
    assert set(caseload.my_cases(unit_worker).values_list("pk", flat=True)) == {
        mine[1].pk,
        mine[2].pk,
    }


@pytest.mark.django_db
def test_the_referrer_never_sees_an_allocation_on_the_timeline(
    assigned_referral, unit_supervisor, unit_worker
):
    task = assigned_referral.tasks.get()
    caseload.allocate(
        actor=unit_supervisor,
        unit_id=task.unit_id,
        task_ids=[task.pk],
        worker_ids=[unit_worker.pk],
    )
    kinds = {
        Actor.REFERRER: [e.kind for e in timeline_for(assigned_referral, roles={Actor.REFERRER})],
        Actor.UNIT: [e.kind for e in timeline_for(assigned_referral, roles={Actor.UNIT})],
    }
    assert ReferralEvent.Kind.ALLOCATION not in kinds[Actor.REFERRER]
    assert ReferralEvent.Kind.ALLOCATION in kinds[Actor.UNIT]


@pytest.mark.django_db
def test_a_shared_contact_needs_the_current_version(assigned_referral, unit_worker):
    from referrals.errors import Conflict

    task = assigned_referral.tasks.get()
    caseload.share_contact(
        actor=unit_worker, task_id=task.pk, contact="Ms Wong, 2345 6789", expected_version=1
    )
    with pytest.raises(Conflict):
        caseload.share_contact(actor=unit_worker, task_id=task.pk, contact="x", expected_version=1)
    task.refresh_from_db()
    assert task.shared_contact == "Ms Wong, 2345 6789"
