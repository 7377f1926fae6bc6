"""Property-based tests of the referral form (``POST /referrals/new/``) with hostile input:
whatever a referrer's browser sends, the page answers without a server error, a refused form
files nothing, and a filed referral holds only what validation let through."""

import pytest
from django.urls import reverse
from hypothesis import event, given
from hypothesis import strategies as st

from referrals.models import Referral, Status
from tests.fuzz.conftest import assert_stored_within_limits
from tests.fuzz.strategies import (
    BOUNDED,
    bad_dates,
    bad_datetimes,
    bad_identity_numbers,
    bad_phones,
    unicode_text,
)
from tests.referrals.conftest import file_through_page, form_data

pytestmark = pytest.mark.django_db

NEW = reverse("referrals:new")
TEXT_FIELDS = [
    "subject_name_zh",
    "subject_name_en",
    "address",
    "situation",
    "referrer_contact",
    "consent_exemption_reason",
    "duplicate_note",
]
ANY = unicode_text()
FIELD_VALUES = {
    **dict.fromkeys(TEXT_FIELDS, ANY),
    "age": st.one_of(st.integers(-(2**40), 2**40).map(str), ANY),
    "date_of_birth": bad_dates(),
    "consent_given_at": bad_datetimes(),
    "phone": bad_phones(),
    "id_number": bad_identity_numbers(),
    "id_type": st.sampled_from(["hkid", "twid", "passport", "", "HKID", "other"]),
    "sex": st.one_of(st.sampled_from(["female", "male", "unknown", "x", ""]), ANY),
    "household": st.one_of(st.sampled_from(["lives_alone", "nope", ""]), ANY),
    "consent_basis": st.sampled_from(["consent", "urgent_protection", "none", ""]),
    "district": st.one_of(st.integers(-5, 10**12).map(str), ANY),
    "sub_district": st.one_of(st.integers(-5, 10**12).map(str), ANY),
    "team": st.one_of(st.integers(-5, 10**12).map(str), ANY),
    "token": st.one_of(st.uuids().map(str), ANY),
    "needs": st.lists(st.one_of(st.integers(-5, 10**12).map(str), ANY), max_size=3),
    "risk_factors": st.lists(
        st.one_of(st.sampled_from(["carer_hospitalised", "self_harm"]), ANY), max_size=3
    ),
    "confirm_duplicates": st.sampled_from(["1", "0", "yes"]),
}


@pytest.fixture
def referrer_client(client, referrer):
    """Signed in once per test, not per example."""
    client.force_login(referrer)
    return client


# Some fields hostile, the rest as a complete, valid form.
HOSTILE_FIELDS = st.fixed_dictionaries({}, optional=FIELD_VALUES)


@given(hostile=HOSTILE_FIELDS)
@BOUNDED
def test_any_form_post_is_filed_whole_or_not_at_all(
    referrer_client, ssp_area, caring_team, changes, hostile
):
    data = {**form_data(ssp_area, caring_team), **hostile}
    checked = {name: hostile[name] for name in ("duplicate_note",) if name in hostile}
    changes()

    # The form keeps a draft, "check your answers" files it (issue 19).
    response = file_through_page(referrer_client, data, **checked)

    event(f"status {response.status_code}")
    assert response.status_code in (200, 302, 400), response.status_code
    delta = changes()
    if response.status_code != 302:
        # Nothing filed (a submission writes its event), at most the draft kept.
        assert delta["events"] == delta["intakes"] == 0
        return
    referral = Referral.objects.get(submission_token=data["token"])
    assert delta["referrals"] == 1 and referral.status == Status.SUBMITTED
    assert_stored_within_limits(referral)
    for name in set(TEXT_FIELDS) & set(hostile):
        if name not in ("duplicate_note", "consent_exemption_reason"):
            assert getattr(referral, name) == hostile[name].strip(), name


@given(hostile=HOSTILE_FIELDS)
@BOUNDED
def test_a_hostile_draft_is_saved_whole_or_not_at_all(
    referrer_client, ssp_area, caring_team, changes, hostile
):
    data = {**form_data(ssp_area, caring_team, submit=None), "save_draft": "1", **hostile}
    changes()

    response = referrer_client.post(NEW, data)

    event(f"status {response.status_code}")
    assert response.status_code in (200, 302, 400), response.status_code
    delta = changes()
    if response.status_code != 302:
        assert delta == {"referrals": 0, "events": 0, "intakes": 0, "versions": 0}
        return
    referral = Referral.objects.get(submission_token=data["token"])
    assert referral.status == Status.DRAFT
    assert_stored_within_limits(referral)


@given(texts=st.fixed_dictionaries({}, optional=dict.fromkeys(TEXT_FIELDS, ANY)))
@BOUNDED
def test_text_in_any_script_is_stored_as_typed_or_refused(
    referrer_client, ssp_area, caring_team, changes, texts
):
    """Only the free-text fields hostile: most such forms are valid, and what is stored is
    exactly the text sent (less surrounding white space), or the form is refused whole."""
    data = {**form_data(ssp_area, caring_team), "confirm_duplicates": "1", **texts}
    changes()

    response = referrer_client.post(NEW, data)

    event(f"status {response.status_code}")
    assert response.status_code in (200, 302, 400), response.status_code
    delta = changes()
    if response.status_code != 302:
        assert delta == {"referrals": 0, "events": 0, "intakes": 0, "versions": 0}
        assert any("\x00" in text or len(text.strip()) > 100 for text in texts.values())
        return
    referral = Referral.objects.get(submission_token=data["token"])
    assert_stored_within_limits(referral)
    # The exemption reason is dropped when consent was given (``submission._apply``).
    for name in set(texts) - {"duplicate_note", "consent_exemption_reason"}:
        assert getattr(referral, name) == texts[name].strip(), name
