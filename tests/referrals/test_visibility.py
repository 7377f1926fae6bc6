"""``referrals_visible_to`` for the roles that see more than their own referrals: staff see
what is assigned to their units, district officers what is in the districts their offices
cover (an office may cover several), and everyone their own."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership
from referrals.selectors import referrals_visible_to
from tests import factories

pytestmark = pytest.mark.django_db


def referral_in(code: str, **fields):
    return factories.ReferralFactory(district=factories.district(code), **fields)


def officer_of(*office_codes: str):
    user = factories.UserFactory()
    for code in office_codes:
        factories.MembershipFactory(
            user=user,
            role=Membership.Role.DISTRICT_OFFICER,
            service_unit=None,
            welfare_office=factories.office(code),
        )
    return user


def visible(user) -> set[int]:
    return set(referrals_visible_to(user).values_list("pk", flat=True))


def test_an_officer_sees_every_district_their_office_covers_and_no_other():
    # Central, Western and Islands office: districts A, D and T.
    in_scope = {referral_in(code).pk for code in ("A", "D", "T")}
    elsewhere = referral_in("F")
    officer = officer_of("CWSI")

    assert visible(officer) == in_scope
    assert elsewhere.pk not in visible(officer)


def test_an_officer_of_two_offices_sees_both_and_their_own_elsewhere():
    wanted = {referral_in("A").pk, referral_in("F").pk}
    officer = officer_of("CWSI", "SSP")
    own = referral_in("J", referrer=officer)  # Kwun Tong: filed by them, outside both offices
    referral_in("J")

    assert visible(officer) == wanted | {own.pk}


def test_drafts_in_the_district_stay_their_authors():
    officer = officer_of("SSP")
    referral_in("F", status="draft")
    submitted = referral_in("F")

    assert visible(officer) == {submitted.pk}


def test_staff_see_what_is_assigned_to_their_units_in_any_district():
    unit = factories.ServiceUnitFactory(district=factories.district("J"))
    staff = factories.MembershipFactory(service_unit=unit).user
    assigned = referral_in("F", assigned_unit=unit, status="assigned")
    referral_in("F")

    assert visible(staff) == {assigned.pk}


def test_the_districts_are_read_with_the_memberships_in_one_query():
    officer = officer_of("CWSI", "SSP")
    with CaptureQueriesContext(connection) as queries:
        referrals = referrals_visible_to(officer)
    assert len(queries) == 1
    assert "district_id" in str(referrals.query)
