"""Submission rules: references, idempotency, consent, duplicates; the rules a referral must
meet (``draft_errors``, ``submission_errors``) and the shared reading of fields."""

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from referrals import identity
from referrals.models import AccessLog, ReferenceSequence, Referral
from referrals.selectors import possible_duplicates
from referrals.submission import (
    draft_errors,
    in_range,
    protected_identity,
    referral_save_draft,
    referral_submit,
    submission_errors,
)
from services.models import NeedCategory
from tests import factories
from tests.referrals.conftest import file_through_page

pytestmark = pytest.mark.django_db
HONG_KONG = ZoneInfo("Asia/Hong_Kong")
YEAR_ONE = datetime(1, 1, 1, tzinfo=HONG_KONG)  # before the first year in UTC


def values(district, **overrides):
    base = {
        "district": district,
        "subject_name_zh": "黃小明",
        "subject_name_en": "",
        "phone": "+85261234000",
        "address": "Flat B, 3/F, Synthetic Court, Sham Shui Po",
        "household": "elderly_couple",
        "risk_factors": [],
        "consent_basis": "consent",
        "consent_given_by": "family",
        "consent_method": "signed",
        "consent_given_at": timezone.now(),
    }
    return {**base, **overrides}


def submit(referrer, team, token=None, identity_of=None, **overrides):
    return referral_submit(
        referrer=referrer,
        team=team,
        token=token or uuid.uuid4(),
        values=values(overrides.pop("district", factories.district("F")), **overrides),
        needs=NeedCategory.objects.filter(code="carer_support"),
        identity=identity.protect("hkid", identity_of) if identity_of else None,
    )


def test_references_follow_office_year_sequence_and_are_never_reused(referrer, caring_team):
    year = timezone.localtime().year
    first, _ = submit(referrer, caring_team)
    second, _ = submit(referrer, caring_team)
    assert first.reference == f"SSP-{year}-000001"
    assert second.reference == f"SSP-{year}-000002"
    second.delete()
    third, _ = submit(referrer, caring_team)
    assert third.reference == f"SSP-{year}-000003"
    kwun_tong, _ = submit(referrer, caring_team, district=factories.district("J"))
    assert kwun_tong.reference == f"KT-{year}-000001"
    assert ReferenceSequence.objects.get(office=factories.office("SSP"), year=year).last_value == 3


def test_resubmitting_a_token_returns_the_first_referral_untouched(referrer, caring_team):
    token = uuid.uuid4()
    first, created = submit(referrer, caring_team, token=token)
    again, created_again = submit(referrer, caring_team, token=token, subject_name_zh="改名")
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert Referral.objects.get().subject_name_zh == "黃小明"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"consent_basis": ""}, "consent_basis"),
        ({"consent_given_by": ""}, "consent_given_by"),
        ({"consent_method": ""}, "consent_method"),
        ({"consent_given_at": None}, "consent_given_at"),
        ({"consent_basis": "urgent_protection", "consent_exemption_reason": "  "}, None),
        # What the service let through before the rules had one home:
        ({"consent_given_at": YEAR_ONE}, "consent_given_at"),
        ({"consent_given_at": timezone.now() + timedelta(days=7)}, "consent_given_at"),
    ],
)
def test_no_referral_without_consent_or_a_reasoned_exemption(
    referrer, caring_team, overrides, field
):
    with pytest.raises(ValidationError) as refused:
        submit(referrer, caring_team, **overrides)
    assert list(refused.value.message_dict) == [field or "consent_exemption_reason"]
    assert not Referral.objects.exists()  # not even the draft row the token would name


@pytest.mark.parametrize(
    ("overrides", "needs", "field"),
    [
        ({}, [], "needs"),
        ({"subject_name_zh": ""}, ["carer_support"], "subject_name_zh"),
        ({"phone": "", "address": ""}, ["carer_support"], "phone"),
        ({"household": ""}, ["carer_support"], "household"),
        ({"age": 131}, ["carer_support"], "age"),
    ],
)
def test_the_service_refuses_what_the_page_refuses_whoever_calls_it(
    referrer, caring_team, overrides, needs, field
):
    with pytest.raises(ValidationError) as refused:
        referral_submit(
            referrer=referrer,
            team=caring_team,
            token=uuid.uuid4(),
            values=values(factories.district("F"), **overrides),
            needs=NeedCategory.objects.filter(code__in=needs),
        )
    assert list(refused.value.message_dict) == [field]
    assert not Referral.objects.exists()


def test_the_service_refuses_a_sub_district_of_another_district(referrer, caring_team):
    elsewhere = factories.SubDistrictFactory(code="K01", district=factories.district("K"))
    with pytest.raises(ValidationError) as refused:
        submit(referrer, caring_team, sub_district=elsewhere)
    assert refused.value.message_dict == {
        "sub_district": ["This sub-district is not in the chosen district."]
    }
    assert not Referral.objects.exists()


def test_a_draft_with_a_consent_time_no_database_gives_back_is_not_saved(referrer, caring_team):
    with pytest.raises(ValidationError) as refused:
        referral_save_draft(
            referrer=referrer,
            team=caring_team,
            token=uuid.uuid4(),
            values={
                "district": factories.district("F"),
                "consent_basis": "consent",
                "consent_given_at": YEAR_ONE,
            },
            needs=[],
        )
    assert refused.value.message_dict == {
        "consent_given_at": ["This date and time is out of range."]
    }
    assert not Referral.objects.exists()


def test_the_details_of_the_consent_basis_not_chosen_are_not_kept(referrer, caring_team):
    urgent, _ = submit(
        referrer,
        caring_team,
        consent_basis="urgent_protection",
        consent_exemption_reason="Signs of neglect",
        risk_factors=["unsafe_home", "carer_hospitalised"],
    )
    consented, _ = submit(referrer, caring_team, consent_exemption_reason="typed, then changed")
    urgent.refresh_from_db()
    consented.refresh_from_db()
    assert (urgent.consent_given_by, urgent.consent_method, urgent.consent_given_at) == (
        "",
        "",
        None,
    )
    assert urgent.risk_factors == ["carer_hospitalised", "unsafe_home"]
    assert consented.consent_exemption_reason == ""
    assert consented.consent_given_by == "family"


def test_the_database_refuses_a_submitted_referral_without_consent(referrer, caring_team):
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.ReferralFactory(referrer=referrer, referring_team=caring_team, consent_basis="")


def test_duplicates_by_identity_or_by_phone_and_name_within_90_days(referrer, caring_team):
    by_id, _ = submit(referrer, caring_team, identity_of="G123456(A)", phone="")
    by_phone, _ = submit(referrer, caring_team, phone="+85261234999", subject_name_zh="周婆婆")
    digest = identity.keyed_hash("hkid", "G123456A")

    assert possible_duplicates(id_hash=digest) == [by_id]
    assert possible_duplicates(phone="+85261234999", names=("周婆婆",)) == [by_phone]
    assert possible_duplicates(phone="+85261234999", names=("陳先生",)) == []
    assert possible_duplicates(phone="", names=("周婆婆",)) == []

    Referral.objects.filter(pk=by_id.pk).update(status="completed")
    assert possible_duplicates(id_hash=digest) == []
    Referral.objects.filter(pk=by_phone.pk).update(submitted_at=timezone.now() - timedelta(days=91))
    assert possible_duplicates(phone="+85261234999", names=("周婆婆",)) == []


def test_the_referrer_is_warned_of_a_referral_it_may_not_see_without_learning_about_it(
    client, referrer, referral_form, ifsc_unit, district_officer
):
    """Issue 14 item 2: another team's referral for the same person is only "may already be
    open"; no reference, status or unit (a mental-wellness centre, say) is given away."""
    earlier = factories.ReferralFactory(
        status="assigned",
        assigned_unit=ifsc_unit,
        subject_name_zh="另一個名字",
        id_number_hash=identity.keyed_hash("hkid", "G123456A"),
        situation="Earlier referral's private situation",
    )
    client.force_login(referrer)
    data = referral_form()
    response = file_through_page(client, data)  # the warning is on "check your answers"
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="duplicate-warning"' in html and 'id="duplicate-elsewhere"' in html
    assert earlier.reference not in html and "Assigned" not in html
    assert ifsc_unit.name_en not in html
    assert "另一個名字" not in html and "private situation" not in html
    draft = Referral.objects.exclude(pk=earlier.pk).get()
    assert draft.status == "draft"  # kept, not filed
    probe = AccessLog.objects.get(referral=earlier)  # who looked is on the person's record
    assert probe.user == referrer and probe.detail == "duplicate check on the referral form"

    response = client.post(
        reverse("referrals:check", args=[draft.public_id]),
        {
            "version": draft.version,
            "confirm_duplicates": "1",
            "duplicate_note": "New need: carer now in hospital",
        },
    )
    new = Referral.objects.exclude(pk=earlier.pk).get()
    assert new.status == "submitted"
    assert list(new.possible_duplicates.all()) == [earlier]
    assert new.duplicate_note == "New need: carer now in hospital"

    detail = reverse("referrals:detail", args=[new.public_id])
    referrer_page = client.get(detail).content.decode()
    assert "New need: carer now in hospital" in referrer_page
    assert 'id="duplicate-links"' not in referrer_page
    client.force_login(district_officer)
    officer_page = client.get(detail).content.decode()
    assert reverse("referrals:detail", args=[earlier.public_id]) in officer_page


def test_a_duplicate_the_referrer_may_see_is_named(
    client, referrer, caring_team, referral_form, ifsc_unit
):
    mine, _ = submit(referrer, caring_team, identity_of="G123456(A)")
    Referral.objects.filter(pk=mine.pk).update(status="assigned", assigned_unit=ifsc_unit)
    client.force_login(referrer)

    html = file_through_page(client, referral_form()).content.decode()

    assert 'id="duplicate-warning"' in html and 'id="duplicate-elsewhere"' not in html
    assert mine.reference in html and "Assigned" in html and ifsc_unit.name_en in html


def test_the_service_links_duplicates_whichever_path_submits(referrer, caring_team):
    first, _ = submit(referrer, caring_team, identity_of="G123456(A)")
    second, _ = submit(referrer, caring_team, identity_of="g123456a")
    unrelated, _ = submit(referrer, caring_team, phone="+85261230000", subject_name_zh="林生")
    assert list(second.possible_duplicates.all()) == [first]
    assert list(first.possible_duplicates.all()) == []
    assert list(unrelated.possible_duplicates.all()) == []


# --- The rules themselves ------------------------------------------------------------------

NAME = "Enter the person's name in Chinese or English."
REQUIRED = "This field is required to submit."
REACH = "Give a phone number or an address to reach the person."
NO_BASIS = "A referral needs the person's consent, or the urgent-protection exemption."
CONSENT = "Record who gave consent, how and when."
NO_REASON = "Give the reason for acting without consent."
AGE = "Enter an age between 0 and 130."
BORN = "The date of birth cannot be in the future."
FUTURE = "Consent cannot be given in the future."
OUT_OF_RANGE = "This date and time is out of range."
ELSEWHERE = "This sub-district is not in the chosen district."
SOME_NEED = ["carer_support"]
EXEMPTED = {
    "consent_basis": "urgent_protection",
    "consent_given_by": "",
    "consent_method": "",
    "consent_given_at": None,
}


def complete(**overrides) -> dict:
    """A referral's values that meet every rule."""
    district = factories.district("F")
    base = {
        "district": district,
        "sub_district": factories.SubDistrictFactory(code="F01", district=district),
        "subject_name_zh": "黃小明",
        "subject_name_en": "",
        "age": 80,
        "date_of_birth": None,
        "phone": "+85261234000",
        "address": "",
        "household": "elderly_couple",
        "consent_basis": "consent",
        "consent_given_by": "family",
        "consent_method": "signed",
        "consent_given_at": timezone.now(),
        "consent_exemption_reason": "",
    }
    return {**base, **overrides}


def test_values_that_meet_every_rule_have_no_errors():
    assert submission_errors(complete(), needs=SOME_NEED) == {}
    assert draft_errors(complete()) == {}


def rule(case, overrides, errors=None, *, needs=SOME_NEED, draft_too=False):
    return pytest.param(overrides, needs, errors or {}, draft_too, id=case)


# A time or a date as a timedelta is that long from when the test runs.
RULES = [
    rule("no name", {"subject_name_zh": ""}, {"subject_name_zh": [NAME]}),
    rule("English name only", {"subject_name_zh": "", "subject_name_en": "Wong"}),
    rule("no district", {"district": None, "sub_district": None}, {"district": [REQUIRED]}),
    rule("no household", {"household": ""}, {"household": [REQUIRED]}),
    rule("no needs", {}, {"needs": ["Tick at least one need."]}, needs=[]),
    rule("no way to reach", {"phone": ""}, {"phone": [REACH]}),
    rule("an address only", {"phone": "", "address": "Flat B, 3/F"}),
    rule("no consent basis", {"consent_basis": ""}, {"consent_basis": [NO_BASIS]}),
    rule("consent: who missing", {"consent_given_by": ""}, {"consent_given_by": [CONSENT]}),
    rule("consent: how missing", {"consent_method": ""}, {"consent_method": [CONSENT]}),
    rule("consent: when missing", {"consent_given_at": None}, {"consent_given_at": [CONSENT]}),
    rule(
        "exemption without reason",
        {**EXEMPTED, "consent_exemption_reason": " "},
        {"consent_exemption_reason": [NO_REASON]},
    ),
    rule("exemption with reason", {**EXEMPTED, "consent_exemption_reason": "Neglect"}),
    rule("age 130", {"age": 130}),
    rule("age 131", {"age": 131}, {"age": [AGE]}, draft_too=True),
    rule("age -1", {"age": -1}, {"age": [AGE]}, draft_too=True),
    rule("born today", {"date_of_birth": timedelta(0)}),
    rule(
        "born tomorrow",
        {"date_of_birth": timedelta(days=1)},
        {"date_of_birth": [BORN]},
        draft_too=True,
    ),
    rule("consent in 4 minutes", {"consent_given_at": timedelta(minutes=4)}),
    rule(
        "consent in 6 minutes",
        {"consent_given_at": timedelta(minutes=6)},
        {"consent_given_at": [FUTURE]},
        draft_too=True,
    ),
    rule(
        "consent in year 1",
        {"consent_given_at": YEAR_ONE},
        {"consent_given_at": [OUT_OF_RANGE]},
        draft_too=True,
    ),
    rule(
        "sub-district elsewhere",
        {"sub_district": "elsewhere"},
        {"sub_district": [ELSEWHERE]},
        draft_too=True,
    ),
]


@pytest.mark.parametrize(("overrides", "needs", "errors", "draft_too"), RULES)
def test_each_rule_of_a_referral(overrides, needs, errors, draft_too):
    overrides = dict(overrides)
    for name, value in overrides.items():
        if isinstance(value, timedelta):
            overrides[name] = value + (
                timezone.localdate() if name == "date_of_birth" else timezone.now()
            )
    if overrides.get("sub_district") == "elsewhere":
        kowloon_city = factories.district("K")
        overrides["sub_district"] = factories.SubDistrictFactory(code="K01", district=kowloon_city)
    values = complete(**overrides)

    assert submission_errors(values, needs=needs) == errors
    assert draft_errors(values) == (errors if draft_too else {})


def test_several_broken_rules_are_all_named():
    values = complete(subject_name_zh="", household="", consent_method="", age=200)
    errors = submission_errors(values, needs=[])
    assert set(errors) == {"subject_name_zh", "household", "needs", "consent_method", "age"}


def test_in_range_gives_utc_or_a_field_error():
    noon = datetime(2025, 6, 1, 12, 0, tzinfo=HONG_KONG)
    assert in_range(noon) == datetime(2025, 6, 1, 4, 0, tzinfo=UTC)
    assert in_range(noon).tzinfo is UTC
    for beyond in (YEAR_ONE, datetime(9999, 12, 31, 23, 59, tzinfo=ZoneInfo("America/New_York"))):
        with pytest.raises(ValidationError) as refused:
            in_range(beyond)
        assert refused.value.code == "overflow"


def test_an_identity_number_is_read_once_for_page_and_api():
    assert protected_identity("", "") is None
    assert protected_identity("hkid", "g 123456 (a)").masked == "G12****(*)"
    with pytest.raises(ValidationError) as no_kind:
        protected_identity("", "G123456(A)")
    assert no_kind.value.message_dict == {"id_type": ["Choose the kind of identity document."]}
    with pytest.raises(ValidationError) as wrong:
        protected_identity("hkid", "G123456(7)")
    assert list(wrong.value.message_dict) == ["id_number"]
