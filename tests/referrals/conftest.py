import uuid

import pytest
from django.utils import timezone

from tests import factories


@pytest.fixture
def assigned_referral(referrer, caring_team, ifsc_unit):
    """A Sham Shui Po referral filed by ``referrer`` and assigned to ``ifsc_unit``."""
    return factories.ReferralFactory(
        referrer=referrer, referring_team=caring_team, status="assigned", assigned_unit=ifsc_unit
    )


def form_data(ssp_area, caring_team, **overrides) -> dict:
    """A complete referral form as a browser would post it."""
    from services.models import NeedCategory

    data = {
        "token": str(uuid.uuid4()),
        "team": caring_team.pk,
        "district": ssp_area.district_id,
        "sub_district": ssp_area.pk,
        "subject_name_zh": "李美華",
        "subject_name_en": "Lee Mei Wah",
        "sex": "female",
        "age": "78",
        "phone": "6987 6543",
        "address": "Flat A, 1/F, Synthetic Building, Sham Shui Po",
        "preferred_language": "yue",
        "id_type": "hkid",
        "id_number": "G123456(A)",
        "household": "lives_alone",
        "needs": [NeedCategory.objects.get(code="elderly_care").pk],
        "risk_factors": ["carer_hospitalised"],
        "situation": "Husband in hospital since last week; she cannot cook for herself.",
        "referrer_contact": "caring team hotline",
        "consent_basis": "consent",
        "consent_given_by": "subject",
        "consent_method": "verbal",
        "consent_given_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "submit": "1",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def file_through_page(client, data: dict, url: str = "", **check):
    """File a referral the way the page does (issue 19): the form's "Continue" keeps the
    draft and leads to "check your answers", whose "Submit referral" files it. Returns the
    form's answer when it refused, else the check page's answer to the filing POST."""
    from django.urls import reverse

    from referrals.models import Referral

    answer = client.post(url or reverse("referrals:new"), data)
    if answer.status_code != 302 or not answer.url.endswith("/check/"):
        return answer
    draft = Referral.objects.get(public_id=answer.url.rstrip("/").split("/")[-2])
    return client.post(answer.url, {"version": draft.version, **check})


@pytest.fixture
def referral_form(ssp_area, caring_team):
    def build(**overrides):
        return form_data(ssp_area, caring_team, **overrides)

    return build
