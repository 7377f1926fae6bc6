"""From a visit to a referral: the pre-filled draft, its link back, the same draft again,
two people from one visit, and the panel on the referral's page."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from outreach.errors import NotPermitted, OutreachError
from outreach.models import HouseholdEvent, NextStep, Visit, VisitOutcome, VisitReferral
from outreach.referring import household_type_for, refer_person, referral_token
from referrals.models import ConsentBasis, ConsentGivenBy, ConsentMethod, Referral, Status
from tests import factories
from tests.outreach.test_visits import make_household, make_visit_list, two_needs, visit

pytestmark = pytest.mark.django_db


@pytest.fixture
def household(district_officer, caring_team, ssp_area):
    return make_household(
        make_visit_list(district_officer),
        caring_team,
        sub_district=ssp_area,
        people=2,
        reasons=["carer", "disability"],
    )


@pytest.fixture
def referring_visit(referrer, household):
    recorded, _ = visit(
        referrer,
        household,
        next_step=NextStep.REFER,
        needs=two_needs(),
        emergency_link_application=True,
        note="Carer exhausted, elder fell last week.",
    )
    return recorded


def test_the_draft_is_filled_in_from_the_list_and_the_visit(
    referrer, household, referring_visit, caring_team
):
    elder = household.people.get(position=0)
    referral = refer_person(actor=referrer, visit=referring_visit, person=elder)
    assert referral.status == Status.DRAFT
    assert referral.referrer == referrer and referral.referring_team == caring_team
    assert referral.submission_token == referral_token(referring_visit, elder)
    assert (referral.subject_name_zh, referral.subject_name_en) == ("陳大文", "Chan Tai Man")
    assert referral.phone == "+85261234567"
    assert referral.address == household.address == "Test Estate, Block 2, 12/F, 1"
    assert (referral.district, referral.sub_district) == (
        household.district,
        household.sub_district,
    )
    # The identity number is the list's, kept the same way: same hash, mask and ciphertext.
    assert referral.id_type == "hkid"
    assert referral.id_number_hash == elder.id_number_hash
    assert referral.id_number_masked == elder.id_number_masked == "A12****(*)"
    assert referral.id_number_encrypted == elder.id_number_encrypted
    assert referral.household == "carer_of_disabled"
    assert set(referral.needs.all()) == set(referring_visit.needs.all())
    assert referral.age is None  # the list has an age band, not an age
    visited_on = timezone.localtime(referring_visit.visited_at).strftime("%Y-%m-%d")
    assert referral.situation.splitlines()[0] == f"From a caring-team visit on {visited_on}."
    assert "80 or above" in referral.situation
    assert "平安鐘" in referral.situation
    assert referral.situation.endswith("Carer exhausted, elder fell last week.")
    link = VisitReferral.objects.get(referral=referral)
    assert (link.visit, link.person) == (referring_visit, elder)
    event = household.events.get(kind=HouseholdEvent.Kind.REFERRAL)
    assert (event.visit, event.referral, event.actor) == (referring_visit, referral, referrer)


def test_asking_again_gives_the_same_draft_as_the_member_left_it(
    referrer, household, referring_visit
):
    elder = household.people.get(position=0)
    first = refer_person(actor=referrer, visit=referring_visit, person=elder)
    Referral.objects.filter(pk=first.pk).update(situation="Edited by the member")
    again = refer_person(actor=referrer, visit=referring_visit, person=elder)
    assert again.pk == first.pk
    again.refresh_from_db()
    assert again.situation == "Edited by the member"
    assert Referral.objects.count() == 1 and VisitReferral.objects.count() == 1
    assert household.events.filter(kind=HouseholdEvent.Kind.REFERRAL).count() == 1


def test_two_people_of_one_household_from_one_visit(referrer, household, referring_visit):
    elder, carer = household.people.order_by("position")
    for_elder = refer_person(actor=referrer, visit=referring_visit, person=elder)
    for_carer = refer_person(actor=referrer, visit=referring_visit, person=carer)
    assert for_elder.pk != for_carer.pk
    assert for_carer.subject_name_zh == "陳小明" and for_carer.id_type == ""
    assert for_carer.phone == ""
    assert set(referring_visit.referrals.values_list("referral", flat=True)) == {
        for_elder.pk,
        for_carer.pk,
    }


def test_refusals(referrer, household, referring_visit, district_officer, ssp_area, caring_team):
    elder = household.people.get(position=0)
    other_team = factories.ServiceUnitFactory(unit_type=factories.unit_type("CARE_TEAM"))
    outsider = factories.MembershipFactory(
        role=Membership.Role.REFERRER, service_unit=other_team
    ).user
    with pytest.raises(NotPermitted):
        refer_person(actor=outsider, visit=referring_visit, person=elder)
    with pytest.raises(NotPermitted):
        refer_person(actor=district_officer, visit=referring_visit, person=elder)
    neighbour = make_household(
        household.visit_list, caring_team, sub_district=ssp_area, row="9"
    ).people.get()
    with pytest.raises(NotPermitted):
        refer_person(actor=referrer, visit=referring_visit, person=neighbour)
    nobody_home, _ = visit(referrer, neighbour.household, VisitOutcome.NOT_AT_HOME)
    with pytest.raises(OutreachError, match="household was seen"):
        refer_person(actor=referrer, visit=nobody_home, person=neighbour)
    assert not Referral.objects.exists()


@pytest.mark.parametrize(
    ("reasons", "household_type"),
    [
        (["living_alone"], "lives_alone"),
        (["elderly_couple", "low_income"], "elderly_couple"),
        (["carer", "disability"], "carer_of_disabled"),
        (["high_load_carer"], "carer_of_elder"),
        (["low_income"], ""),
    ],
)
def test_the_household_type_from_the_listing_reasons(reasons, household_type):
    assert household_type_for(reasons) == household_type


# --- The referral page's panel -----------------------------------------------------------


def submitted(referral, unit):
    """The draft as submitted and assigned to ``unit`` (its page is the non-draft one)."""
    Referral.objects.filter(pk=referral.pk).update(
        status=Status.ASSIGNED,
        assigned_unit=unit,
        reference="TEST-2026-000777",
        submitted_at=timezone.now(),
        consent_basis=ConsentBasis.CONSENT,
        consent_given_by=ConsentGivenBy.SUBJECT,
        consent_method=ConsentMethod.VERBAL,
        consent_given_at=timezone.now(),
    )
    return referral


def test_the_referral_page_says_it_came_from_a_visit(
    client, referrer, unit_worker, ifsc_unit, household, referring_visit
):
    elder = household.people.get(position=0)
    referral = submitted(
        refer_person(actor=referrer, visit=referring_visit, person=elder), ifsc_unit
    )
    url = reverse("referrals:detail", args=[referral.public_id])
    household_url = reverse("outreach:household", args=[household.public_id])

    client.force_login(referrer)
    page = client.get(url).content.decode()
    assert 'id="visit-origin"' in page
    assert referring_visit.team.name in page
    assert household_url in page

    client.force_login(unit_worker)  # sees the referral, not the list's household
    page = client.get(url).content.decode()
    assert 'id="visit-origin"' in page
    assert household_url not in page


def test_a_referral_not_from_a_visit_has_no_panel_and_costs_no_query_for_it(
    client, referrer, caring_team, django_assert_max_num_queries
):
    referral = factories.ReferralFactory(referrer=referrer, referring_team=caring_team)
    client.force_login(referrer)
    url = reverse("referrals:detail", args=[referral.public_id])
    response = client.get(url)
    assert 'id="visit-origin"' not in response.content.decode()
    with django_assert_max_num_queries(100) as counted:
        client.get(url)
    assert not any("outreach_visitreferral" in q["sql"] for q in counted.captured_queries)


def test_the_visit_date_in_the_situation_is_hong_kongs(referrer, household, referring_visit):
    late_evening_utc = datetime(2026, 4, 14, 20, 0, tzinfo=UTC)  # 04:00 on the 15th in HK
    Visit.objects.filter(pk=referring_visit.pk).update(visited_at=late_evening_utc)
    referring_visit.refresh_from_db()
    referral = refer_person(actor=referrer, visit=referring_visit, person=household.people.first())
    assert referral.situation.startswith("From a caring-team visit on 2026-04-15.")
