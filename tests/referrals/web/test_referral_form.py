"""The intake form: drafts, one submission per form, errors beside the fields, identity data."""

import logging

import pytest
from django.db import connection
from django.urls import reverse

from accounts.models import Membership
from referrals import identity
from referrals.models import Referral, ReferralEvent, Status
from tests import factories
from tests.referrals.conftest import file_through_page

pytestmark = pytest.mark.django_db
NEW = reverse("referrals:new")


def test_referrer_gets_the_form_prefilled_with_their_team_area(client, referrer, ssp_area):
    client.force_login(referrer)
    response = client.get(NEW)
    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["district"] == ssp_area.district
    assert form.initial["sub_district"] == ssp_area
    html = response.content.decode()
    assert f'data-district="{ssp_area.district_id}"' in html
    assert 'name="token"' in html


def test_only_referrers_may_open_the_form(client, unit_worker):
    client.force_login(unit_worker)
    assert client.get(NEW).status_code == 403
    assert client.post(NEW, {}).status_code == 403


def test_submitting_stores_one_referral_with_reference_and_event(client, referrer, referral_form):
    client.force_login(referrer)
    response = file_through_page(client, referral_form())
    referral = Referral.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("referrals:filed", args=[referral.public_id])
    assert referral.status == Status.SUBMITTED
    assert referral.reference.startswith("SSP-")
    assert referral.risk_level == "urgent"
    assert [n.code for n in referral.needs.all()] == ["elderly_care"]
    assert list(referral.events.values_list("from_status", "to_status")) == [("draft", "submitted")]
    page = client.get(reverse("referrals:detail", args=[referral.public_id])).content.decode()
    assert referral.reference in page
    assert 'id="status"' in page


def test_the_same_form_posted_twice_makes_one_referral(client, referrer, referral_form):
    client.force_login(referrer)
    data = referral_form()
    first = file_through_page(client, data)
    second = file_through_page(client, data)  # the form resent: to the filed referral
    referral = Referral.objects.get()
    assert ReferralEvent.objects.count() == 1
    assert first.url == reverse("referrals:filed", args=[referral.public_id])
    assert second.url == reverse("referrals:detail", args=[referral.public_id])


def test_draft_is_saved_and_resumed_then_submitted(client, referrer, referral_form):
    client.force_login(referrer)
    data = referral_form(needs=None, consent_basis=None, household=None, submit=None)
    data["save_draft"] = "1"
    response = client.post(NEW, data)
    draft = Referral.objects.get()
    assert draft.status == Status.DRAFT
    assert draft.reference is None
    assert response.url == reverse("referrals:edit", args=[draft.public_id])

    resumed = client.get(response.url)
    assert resumed.context["form"]["subject_name_zh"].value() == "李美華"
    assert "G12****(*)" in resumed.content.decode()

    # Submit from the draft without retyping the identity number: it is kept.
    complete = referral_form(token=str(draft.submission_token), id_number="")
    file_through_page(client, complete, url=reverse("referrals:edit", args=[draft.public_id]))
    draft.refresh_from_db()
    assert draft.status == Status.SUBMITTED
    assert Referral.objects.count() == 1
    assert draft.id_number_masked == "G12****(*)"
    assert identity.decrypt(draft.id_number_encrypted) == "G123456A"


def test_someone_elses_draft_is_not_found(client, referrer, referral_form):
    draft = factories.ReferralFactory(referrer=referrer, status="draft", reference=None)
    client.force_login(factories.UserFactory())
    assert client.get(reverse("referrals:edit", args=[draft.public_id])).status_code == 404


def test_errors_are_shown_beside_the_fields_in_chinese_and_nothing_is_saved(
    client, referrer, referral_form
):
    client.force_login(referrer)
    client.cookies["django_language"] = "zh-hant"
    data = referral_form(
        needs=None,
        consent_basis=None,
        id_number="A123456(0)",
        subject_name_zh="",
        subject_name_en="",
    )
    response = client.post(NEW, data, HTTP_ACCEPT_LANGUAGE="zh-hant")
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) >= {"needs", "consent_basis", "id_number", "subject_name_zh"}
    html = response.content.decode()
    assert "請至少剔選一項需要。" in html
    assert "身份證號碼無效" in html or "檢查碼" in html
    assert Referral.objects.count() == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"consent_given_by": "", "consent_method": ""}, "consent_given_by"),
        ({"consent_basis": "urgent_protection", "consent_exemption_reason": " "}, None),
        ({"sub_district": "__other__"}, "sub_district"),
        ({"age": "150"}, "age"),
        ({"phone": "12"}, "phone"),
        ({"id_type": "", "id_number": "A123456(3)"}, "id_type"),
    ],
)
def test_incomplete_or_bad_submissions_are_refused(
    client, referrer, referral_form, overrides, field
):
    if overrides.get("sub_district") == "__other__":
        overrides["sub_district"] = factories.SubDistrictFactory(
            code="E77", district=factories.district("E")
        ).pk
    client.force_login(referrer)
    response = client.post(NEW, referral_form(**overrides))
    assert response.status_code == 400
    if field:
        assert field in response.context["form"].errors
    else:
        assert "consent_exemption_reason" in response.context["form"].errors
    assert Referral.objects.count() == 0


@pytest.mark.parametrize("save", ["submit", "save_draft"])
def test_a_consent_time_in_year_one_is_a_field_error_and_saves_nothing(
    client, referrer, referral_form, save
):
    """Year 1 in Hong Kong falls before the first year in UTC: PostgreSQL stored it (as 1 BC)
    and could not give it back, SQLite could not store it (OverflowError, a 500)."""
    client.force_login(referrer)
    data = referral_form(consent_given_at="0001-01-01T00:00", submit=None)
    response = client.post(NEW, {**data, save: "1"})

    assert response.status_code == 400
    assert response.context["form"].errors == {
        "consent_given_at": ["This date and time is out of range."]
    }
    assert not Referral.objects.exists()


def test_submitting_takes_a_fixed_number_of_queries(
    client, referrer, referral_form, django_assert_num_queries
):
    client.force_login(referrer)
    file_through_page(client, referral_form())  # the office's reference sequence exists
    data = referral_form(id_number="", phone="6111 2222")
    # Issue 19 split the one POST in two (it was 32). The form's "Continue": the session,
    # user and two-factor device, the form's choices and checks, the draft kept (created,
    # saved, its needs).
    with django_assert_num_queries(22):
        check = client.post(NEW, data)
    assert check.status_code == 302
    draft = Referral.objects.get(submission_token=data["token"])
    # "Submit referral": the session, user and device, the draft, the author still on its
    # team, its needs, the duplicates, the referral, its reference, needs, duplicates, event
    # and outbox row.
    with django_assert_num_queries(20):
        response = client.post(check.url, {"version": draft.version})
    assert response.status_code == 302


def test_urgent_protection_without_consent_is_accepted_with_a_reason(
    client, referrer, referral_form
):
    client.force_login(referrer)
    data = referral_form(
        consent_basis="urgent_protection",
        consent_exemption_reason="Signs of neglect; the son refuses any contact.",
        consent_given_by=None,
        consent_method=None,
    )
    file_through_page(client, data)
    referral = Referral.objects.get()
    assert referral.status == Status.SUBMITTED
    assert referral.consent_basis == "urgent_protection"
    assert referral.consent_given_at is None
    assert referral.consent_exemption_reason.startswith("Signs of neglect")


def test_identity_number_is_encrypted_at_rest_and_masked(client, referrer, referral_form):
    client.force_login(referrer)
    file_through_page(client, referral_form(id_number="g 123456 (a)"))
    referral = Referral.objects.get()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM referrals_referral WHERE id = %s", [referral.pk])
        raw_row = " ".join(str(value) for value in cursor.fetchone())
    assert "123456" not in raw_row
    assert referral.id_number_masked == "G12****(*)"
    assert referral.id_number_hash == identity.keyed_hash("hkid", "G123456A")
    assert identity.decrypt(referral.id_number_encrypted) == "G123456A"


def test_identity_number_never_reaches_urls_or_logs(client, referrer, referral_form, caplog):
    client.force_login(referrer)
    caplog.set_level(logging.DEBUG)
    bad = client.post(NEW, referral_form(id_number="G123456(7)"))  # wrong check digit
    assert bad.status_code == 400
    check = client.post(NEW, referral_form(id_number="G123456(A)"))
    assert "123456" not in check.url
    page = client.get(check.url)  # check your answers
    assert "123456" not in page.content.decode()  # the referrer sees the masked form only
    good = file_through_page(client, referral_form(id_number="G123456(A)"))
    assert "123456" not in good.url
    assert "123456" not in client.get(good.url).content.decode()
    assert "123456" not in caplog.text


def test_another_accounts_token_names_a_form_of_ones_own(
    client, referrer, caring_team, referral_form
):
    """A token copied from someone else's form (or guessed) reaches only the poster's own
    referrals: theirs is untouched, the poster gets a referral of their own, and nothing
    answers 500 (issue 14 item 5)."""
    other = factories.UserFactory()
    factories.MembershipFactory(user=other, service_unit=caring_team, role=Membership.Role.REFERRER)
    data = referral_form()
    client.force_login(referrer)
    client.post(NEW, {key: value for key, value in data.items() if key != "submit"})  # a draft
    theirs = Referral.objects.get(referrer=referrer)
    client.force_login(other)

    response = file_through_page(client, {**data, "subject_name_zh": "張三"})

    assert response.status_code == 302
    mine = Referral.objects.get(referrer=other)
    assert mine.pk != theirs.pk and mine.status == Status.SUBMITTED
    theirs.refresh_from_db()
    assert (theirs.status, theirs.subject_name_zh) == (Status.DRAFT, "李美華")
