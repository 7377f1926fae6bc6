""" "The same person" is one rule (``selectors.person_match``): the identity number, or the
phone with a name. The household (the phone line alone) is asked for by name where it is the
point, and every caller gets the matches its variant defines."""

import pytest

from referrals import access_requests, identity, privacy
from referrals.models import Referral, Status
from referrals.routing_inputs import units_serving_household
from referrals.selectors import (
    person_match,
    possible_duplicates,
    possible_duplicates_of,
    same_person,
)
from tests import factories

pytestmark = pytest.mark.django_db

PHONE = "+85291234567"


def with_identity(referral, number="G123456A"):
    referral.id_number_hash = identity.keyed_hash("hkid", number)
    referral.save()
    return referral


@pytest.fixture
def family(db):
    """Mr Chan's referrals, his wife's on the same phone line, and a stranger's."""

    def make(**kwargs):
        kwargs.setdefault("status", Status.ASSIGNED)
        kwargs.setdefault("assigned_unit", factories.ServiceUnitFactory())
        return factories.ReferralFactory(**kwargs)

    return {
        "origin": with_identity(make(phone=PHONE)),
        "same_id": with_identity(make(phone="+85261234567", subject_name_en="T M Chan")),
        "same_phone_and_name": make(
            phone=PHONE, subject_name_zh="", subject_name_en="CHAN TAI MAN"
        ),
        "household": make(phone=PHONE, subject_name_zh="陳太", subject_name_en="Mrs Chan"),
        "stranger": with_identity(
            make(phone="+85290000000", subject_name_en="Wong Siu Ming"), number="A1234563"
        ),
    }


def names(family, referrals) -> set[str]:
    by_pk = {referral.pk: name for name, referral in family.items()}
    return {by_pk[referral.pk] for referral in referrals}


def test_details_that_can_match_nothing_match_nothing():
    assert person_match() is None
    assert person_match(phone=PHONE) is None  # a phone alone is a household, not a person
    assert person_match(names=("Chan Tai Man",)) is None
    assert person_match(phone=PHONE, names=("  ",)) is None
    assert person_match(phone=PHONE, household=True) is not None


def test_possible_duplicates_are_the_person(family):
    expected = {"same_id", "same_phone_and_name"}
    assert names(family, possible_duplicates_of(family["origin"])) == expected
    origin = family["origin"]
    found = possible_duplicates(
        id_hash=origin.id_number_hash,
        phone=PHONE,
        names=("陳大文", "chan tai man"),
        exclude_pk=origin.pk,
    )
    assert names(family, found) == expected


def test_a_data_access_request_finds_the_person(family):
    by_number = access_requests.access_request_referrals(id_hash=family["origin"].id_number_hash)
    assert names(family, by_number) == {"origin", "same_id"}
    by_name = access_requests.access_request_referrals(name="chan tai man", phone=PHONE)
    assert names(family, by_name) == {"origin", "same_phone_and_name"}


def test_routing_looks_for_the_units_serving_the_household(family):
    units = {unit_id for unit_id, _reference in units_serving_household(family["origin"])}
    expected = {"same_id", "same_phone_and_name", "household"}
    assert units == {family[name].assigned_unit_id for name in expected}


def test_consent_withdrawal_reaches_the_identity_number_alone(family):
    """issue 14 item 1: consent is a person's; a shared phone line reaches no one."""
    reached = Referral.objects.filter(privacy._person_match(family["origin"]))
    assert names(family, reached) == {"origin", "same_id"}


def test_the_household_of_a_partly_loaded_referral_costs_no_query(
    family, django_assert_num_queries
):
    """Withdrawal loads only the hash and the phone of the referral it starts from."""
    snapshot = Referral.objects.only("id_number_hash", "phone").get(pk=family["origin"].pk)
    with django_assert_num_queries(0):
        same_person(snapshot, household=True)
