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


# --- One scope for every page: visibility, queue, dashboard, lifecycle, navigation -----------


def _covered_everywhere(user) -> dict[str, set[int] | bool]:
    """Which districts each of the five places says ``user`` covers as an office."""
    from django.test import RequestFactory

    from referrals.dashboard import dashboard_districts
    from referrals.lifecycle import Actor, actor_roles
    from referrals.queues import office_scope
    from referrals.web.context_processors import notifications

    probes = {code: referral_in(code) for code in ("A", "B", "C", "D", "F", "T")}
    request = RequestFactory().get("/")
    request.user = user
    return {
        "visibility": {
            r.district_id for r in probes.values() if r.pk in visible(user) and r.referrer != user
        },
        "queue": set(office_scope(user).district_ids),
        "dashboard": {d.pk for d in dashboard_districts(user=user)},
        "lifecycle": {
            r.district_id
            for r in probes.values()
            if Actor.OFFICE in actor_roles(user=user, referral=r)
        },
        "navigation": notifications(request)["works_queue"],
    }


@pytest.mark.parametrize(
    ("offices", "covered"),
    [
        (("CWSI",), {"A", "D", "T"}),
        (("CWSI", "EWC"), {"A", "B", "C", "D", "T"}),
        ((), set()),
    ],
)
def test_every_page_agrees_on_the_districts_an_officer_covers(offices, covered):
    officer = officer_of(*offices)
    factories.MembershipFactory(user=officer)  # unit staff too: no district from that
    ids = {factories.district(code).pk for code in covered}
    answers = _covered_everywhere(officer)
    assert answers.pop("navigation") is bool(covered)
    assert answers == dict.fromkeys(answers, ids)


def test_a_deactivated_officer_covers_nothing_anywhere():
    officer = officer_of("CWSI")
    officer.is_active = False
    officer.save()
    answers = _covered_everywhere(officer)
    assert answers.pop("navigation") is False
    assert answers == {place: set() for place in answers}


def test_user_scope_reads_units_and_districts_in_one_query(django_assert_num_queries):
    from accounts.selectors import user_scope

    officer = officer_of("CWSI", "SSP")
    staffed = factories.MembershipFactory(user=officer).service_unit
    with django_assert_num_queries(1):
        scope = user_scope(officer)
    assert scope.unit_ids == (staffed.pk,)
    assert set(scope.district_ids) == {factories.district(code).pk for code in ("A", "D", "T", "F")}
