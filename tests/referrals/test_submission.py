"""Submission rules: references, idempotency, consent, duplicates."""

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from referrals import identity
from referrals.models import ReferenceSequence, Referral
from referrals.selectors import possible_duplicates
from referrals.submission import referral_submit
from services.models import NeedCategory
from tests import factories

pytestmark = pytest.mark.django_db


def values(district, **overrides):
    base = {
        "district": district,
        "subject_name_zh": "黃小明",
        "subject_name_en": "",
        "phone": "+85261234000",
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
    "overrides",
    [
        {"consent_basis": ""},
        {"consent_given_by": ""},
        {"consent_method": ""},
        {"consent_given_at": None},
        {"consent_basis": "urgent_protection", "consent_exemption_reason": "  "},
    ],
)
def test_no_referral_without_consent_or_a_reasoned_exemption(referrer, caring_team, overrides):
    with pytest.raises(ValidationError):
        submit(referrer, caring_team, **overrides)
    assert not Referral.objects.exclude(status="draft").exists()


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


def test_the_referrer_is_warned_sees_only_reference_status_unit_and_may_go_on(
    client, referrer, referral_form, ifsc_unit, district_officer
):
    earlier = factories.ReferralFactory(
        status="assigned",
        assigned_unit=ifsc_unit,
        subject_name_zh="另一個名字",
        id_number_hash=identity.keyed_hash("hkid", "G123456A"),
        situation="Earlier referral's private situation",
    )
    client.force_login(referrer)
    data = referral_form()
    response = client.post(reverse("referrals:new"), data)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="duplicate-warning"' in html
    assert earlier.reference in html and "Assigned" in html and ifsc_unit.name_en in html
    assert "另一個名字" not in html and "private situation" not in html
    assert Referral.objects.count() == 1

    response = client.post(
        reverse("referrals:new"),
        {**data, "confirm_duplicates": "1", "duplicate_note": "New need: carer now in hospital"},
    )
    new = Referral.objects.exclude(pk=earlier.pk).get()
    assert new.status == "submitted"
    assert list(new.possible_duplicates.all()) == [earlier]
    assert new.duplicate_note == "New need: carer now in hospital"

    referrer_page = client.get(response.url).content.decode()
    assert "New need: carer now in hospital" in referrer_page
    assert 'id="duplicate-links"' not in referrer_page
    client.force_login(district_officer)
    officer_page = client.get(response.url).content.decode()
    assert reverse("referrals:detail", args=[earlier.public_id]) in officer_page


def test_the_service_links_duplicates_whichever_path_submits(referrer, caring_team):
    first, _ = submit(referrer, caring_team, identity_of="G123456(A)")
    second, _ = submit(referrer, caring_team, identity_of="g123456a")
    unrelated, _ = submit(referrer, caring_team, phone="+85261230000", subject_name_zh="林生")
    assert list(second.possible_duplicates.all()) == [first]
    assert list(first.possible_duplicates.all()) == []
    assert list(unrelated.possible_duplicates.all()) == []
