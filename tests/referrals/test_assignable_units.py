"""Whom the district office may assign a referral to: one rule (``units_assignable_to``),
held by ``referral_assign`` whatever the path, and the one the routing panel offers by."""

import pytest

from referrals.assignment import referral_assign
from referrals.errors import ReferralError
from referrals.models import Referral, ReferralEvent, Status
from referrals.routing_inputs import routing_decision_for
from referrals.selectors import (
    may_assign,
    routing_choices,
    units_assignable_to,
)
from services.models import ServiceUnit
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def ewc_officer(db):
    return factories.MembershipFactory(
        role="district_officer", service_unit=None, welfare_office=factories.office("EWC")
    ).user


@pytest.fixture
def wan_chai_referral(db):
    return factories.ReferralFactory(district=factories.district("B"), status=Status.TRIAGE)


@pytest.fixture
def units(db):
    """Units of the Eastern and Wan Chai office's districts, and one beyond them."""
    wan_chai, eastern = factories.district("B"), factories.district("C")
    wan_chai_area = factories.SubDistrictFactory(code="B01", district=wan_chai)
    return {
        "eastern_only": factories.ServiceUnitFactory(
            district=eastern, catchment_districts=[eastern]
        ),
        "located_in_wan_chai": factories.ServiceUnitFactory(district=wan_chai),
        "eastern_reaching_wan_chai": factories.ServiceUnitFactory(
            district=eastern, catchment_districts=[eastern, wan_chai]
        ),
        "eastern_serving_a_wan_chai_area": factories.ServiceUnitFactory(
            district=eastern, catchment_sub_districts=[wan_chai_area]
        ),
        "wan_chai_but_closed": factories.ServiceUnitFactory(district=wan_chai, is_active=False),
        "wan_chai_caring_team": factories.ServiceUnitFactory(
            district=wan_chai, unit_type=factories.unit_type("CARE_TEAM")
        ),
        "kwun_tong": factories.ServiceUnitFactory(district=factories.district("J")),
    }


ASSIGNABLE = {"located_in_wan_chai", "eastern_reaching_wan_chai", "eastern_serving_a_wan_chai_area"}


def test_the_rule_is_the_units_taking_referrals_that_serve_the_referrals_district(
    wan_chai_referral, units
):
    assignable = set(units_assignable_to(wan_chai_referral))
    assert {name for name, unit in units.items() if unit in assignable} == ASSIGNABLE
    for name, unit in units.items():
        assert may_assign(wan_chai_referral, unit) is (name in ASSIGNABLE), name


def test_the_routing_panel_offers_exactly_what_the_service_accepts(wan_chai_referral, units):
    candidates, others = routing_choices(wan_chai_referral, routing_decision_for(wan_chai_referral))
    offered = {choice.unit for choice in [*candidates, *others]}
    assert offered == set(units_assignable_to(wan_chai_referral))


def test_the_service_refuses_a_unit_outside_the_referrals_district(
    ewc_officer, wan_chai_referral, units
):
    """The Eastern-only unit is in the officer's office, but not serving Wan Chai."""
    eastern_only = units["eastern_only"]
    with pytest.raises(ReferralError) as refused:
        referral_assign(
            referral_id=wan_chai_referral.pk,
            actor=ewc_officer,
            unit=eastern_only,
            reason="forged form",
        )
    assert "does not take referrals for Wan Chai" in str(refused.value.message)
    after = Referral.objects.get(pk=wan_chai_referral.pk)
    assert (after.status, after.assigned_unit_id) == (Status.TRIAGE, None)
    assert not ReferralEvent.objects.filter(referral=wan_chai_referral).exists()
    assert ServiceUnit.objects.get(pk=eastern_only.pk).current_load == eastern_only.current_load


@pytest.mark.parametrize("name", ["wan_chai_caring_team", "kwun_tong"])
def test_the_service_refuses_any_unit_the_panel_would_not_offer(
    ewc_officer, wan_chai_referral, units, name
):
    with pytest.raises(ReferralError):
        referral_assign(
            referral_id=wan_chai_referral.pk, actor=ewc_officer, unit=units[name], reason="x"
        )
    assert Referral.objects.get(pk=wan_chai_referral.pk).status == Status.TRIAGE


def test_a_closed_unit_is_still_refused_as_not_taking_referrals(
    ewc_officer, wan_chai_referral, units
):
    with pytest.raises(ReferralError) as refused:
        referral_assign(
            referral_id=wan_chai_referral.pk,
            actor=ewc_officer,
            unit=units["wan_chai_but_closed"],
            reason="x",
        )
    assert "is not taking referrals" in str(refused.value.message)


@pytest.mark.parametrize("name", sorted(ASSIGNABLE))
def test_the_service_assigns_to_a_unit_serving_the_district(
    ewc_officer, wan_chai_referral, units, name
):
    referral_assign(
        referral_id=wan_chai_referral.pk, actor=ewc_officer, unit=units[name], reason="x"
    )
    assert Referral.objects.get(pk=wan_chai_referral.pk).assigned_unit == units[name]
