"""``ServiceUnit.current_load`` is a counter of the referrals a unit holds; when it drifts
(a hand edit, a data fix) the ``reconcile_unit_loads`` task sets it back, and routing ranks
units by the true load again."""

import itertools

import pytest

from referrals import tasks
from referrals.assignment import referral_assign
from referrals.models import Status
from referrals.routing_inputs import routing_decision_for, unit_loads
from referrals.services import referral_accept, referral_decline
from services.models import NeedCategory, ServiceUnit
from tests import factories

pytestmark = pytest.mark.django_db

PHONES = itertools.count(1)


def holding(unit, count, status=Status.ASSIGNED):
    """``count`` referrals of separate households in ``status``, assigned to ``unit``."""
    for _ in range(count):
        factories.ReferralFactory(
            assigned_unit=unit, status=status, phone=f"+8526{next(PHONES):07d}"
        )


def load_of(unit) -> int:
    return ServiceUnit.objects.get(pk=unit.pk).current_load


@pytest.fixture
def second_ifsc(ssp_area):
    """Another IFSC covering the same sub-district as ``ifsc_unit`` (ifsc-f-01)."""
    return factories.ServiceUnitFactory(
        code="ifsc-f-02", unit_type=factories.unit_type("IFSC"), catchment_sub_districts=[ssp_area]
    )


@pytest.fixture
def child_family_referral(referrer, caring_team, ssp_area):
    referral = factories.ReferralFactory(
        referrer=referrer, referring_team=caring_team, sub_district=ssp_area, phone="+85251110000"
    )
    referral.needs.set([NeedCategory.objects.get(code="child_family")])
    return referral


def test_a_hand_edited_load_is_repaired_and_routing_ranks_by_the_true_load(
    ifsc_unit, second_ifsc, child_family_referral
):
    holding(ifsc_unit, 3)
    holding(ifsc_unit, 1, status=Status.IN_PROGRESS)
    holding(ifsc_unit, 2, status=Status.COMPLETED)  # closed: not carried any more
    holding(ifsc_unit, 1, status=Status.REJECTED)  # declined: not carried
    holding(second_ifsc, 6, status=Status.ACCEPTED)
    ServiceUnit.objects.filter(pk=ifsc_unit.pk).update(current_load=95)  # typed in by hand
    ServiceUnit.objects.filter(pk=second_ifsc.pk).update(current_load=6)
    assert routing_decision_for(child_family_referral).unit.id == second_ifsc.pk  # misled

    repaired = tasks.reconcile_unit_loads()

    assert (load_of(ifsc_unit), load_of(second_ifsc)) == (4, 6)
    assert repaired >= 1  # ifsc-f-01, and the test referrals' caring teams (10 by default)
    assert routing_decision_for(child_family_referral).unit.id == ifsc_unit.pk  # 4 < 6


def test_a_unit_holding_nothing_is_set_to_zero_and_a_right_counter_is_left_alone(
    ifsc_unit, second_ifsc
):
    holding(second_ifsc, 2)
    ServiceUnit.objects.update(current_load=7)
    ServiceUnit.objects.filter(pk=second_ifsc.pk).update(current_load=2)

    repaired = tasks.reconcile_unit_loads()

    assert load_of(ifsc_unit) == 0
    assert load_of(second_ifsc) == 2
    assert repaired == ServiceUnit.objects.count() - 1  # every unit but the right one
    assert tasks.reconcile_unit_loads() == 0  # nothing left to repair


def test_the_true_load_counts_the_serving_statuses_only(ifsc_unit):
    for status in Status.values:
        holding(ifsc_unit, 1, status=status)
    assert unit_loads() == {ifsc_unit.pk: 4}  # assigned, accepted, in progress, on hold
    assert unit_loads(unit_ids=[ifsc_unit.pk + 1000]) == {}


def test_the_steps_keep_the_counter_and_the_repair_agrees(ifsc_unit, unit_worker, district_officer):
    """What the services count and what the repair counts are the same thing: after real
    steps, the repair finds nothing to change on the unit."""
    ServiceUnit.objects.filter(pk=ifsc_unit.pk).update(current_load=0)
    first, second = (
        factories.ReferralFactory(status=Status.TRIAGE, phone=f"+8526{next(PHONES):07d}")
        for _ in range(2)
    )
    for referral in (first, second):
        referral_assign(
            referral_id=referral.pk, actor=district_officer, unit=ifsc_unit, reason="by hand"
        )
    referral_accept(referral_id=first.pk, actor=unit_worker)
    referral_decline(referral_id=second.pk, actor=unit_worker, reason="full")
    counter = load_of(ifsc_unit)
    tasks.reconcile_unit_loads()
    assert load_of(ifsc_unit) == counter == unit_loads()[ifsc_unit.pk] == 1


def test_the_repair_is_scheduled(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["reconcile-unit-loads"]
    assert schedule["task"] == "referrals.tasks.reconcile_unit_loads"
    assert schedule["schedule"] <= 15 * 60
