"""The form patterns of issue 19 on the server's side: the error summary and the ids and
aria the fields point to, "check your answers" before filing, the confirmation page, the
times a draft keeps, and the phone number's message in the user's language."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from referrals.models import Referral, ReferralEvent, Status
from tests.referrals.conftest import file_through_page

pytestmark = pytest.mark.django_db
NEW = reverse("referrals:new")


def _html(response) -> str:
    return response.content.decode()


def _summary(html: str) -> str:
    match = re.search(r'<div class="error-summary"[^>]*>(.*?)</div>', html, re.S)
    assert match, "no error summary"
    return match.group(0)


def test_a_failed_submit_has_a_focusable_summary_linking_to_every_field_in_error(
    client, referrer, referral_form
):
    client.force_login(referrer)
    data = referral_form(needs=None, consent_basis=None, subject_name_zh="", subject_name_en="")
    html = _html(client.post(NEW, {**data, "phone": "12", "household": ""}))
    summary = _summary(html)
    assert 'role="alert"' in summary and 'tabindex="-1"' in summary
    assert "data-error-summary" in summary
    links = re.findall(r'<a href="#([^"]+)">', summary)
    # In the page's order; a group of choices is reached through its first input.
    assert links == [
        "id_subject_name_zh",
        "id_phone",
        "id_household_0",
        "id_needs_0",
        "id_consent_basis_0",
    ]
    for target in links:
        assert f'id="{target}"' in html


def test_the_ids_the_inputs_point_to_exist_and_errors_are_outlined(client, referrer, referral_form):
    client.force_login(referrer)
    html = _html(client.post(NEW, referral_form(phone="12", id_number="G123456(A)")))
    phone = re.search(r'<input[^>]*name="phone"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in phone
    assert 'aria-describedby="id_phone_error"' in phone
    assert re.search(r'<p class="error" id="id_phone_error">', html)
    assert re.search(r'<div class="field has-error" id="field-phone">', html)
    # Help texts: every aria-describedby names an element of the page.
    for described in re.findall(r'aria-describedby="([^"]+)"', html):
        for target in described.split():
            assert f'id="{target}"' in html, target
    assert 'id="id_id_number_helptext"' in html
    assert re.search(r'<fieldset[^>]*id="field-risk_factors"[^>]*aria-describedby=', html)


def test_a_bad_phone_number_is_refused_in_traditional_chinese(client, referrer, referral_form):
    client.force_login(referrer)
    client.cookies["django_language"] = "zh-hant"
    response = client.post(NEW, referral_form(phone="12"))
    assert response.status_code == 400
    assert response.context["form"].errors["phone"] == [
        "電話號碼無效，例如 6123 4567 或 +852 6123 4567。"
    ]
    assert "Enter a valid phone number" not in _html(response)


def test_continue_keeps_a_draft_and_shows_every_answer_before_anything_is_filed(
    client, referrer, referral_form
):
    client.force_login(referrer)
    response = client.post(NEW, referral_form())
    draft = Referral.objects.get()
    check = reverse("referrals:check", args=[draft.public_id])
    assert response.status_code == 302 and response.url == check
    assert draft.status == Status.DRAFT and not ReferralEvent.objects.exists()

    html = _html(client.get(check))
    assert "G12****(*)" in html and "123456" not in html
    assert "李美華" in html and "Lives alone" in html and "Elderly care" in html
    edit = reverse("referrals:edit", args=[draft.public_id])
    assert f'href="{edit}#field-phone"' in html
    assert f'href="{edit}#field-consent_given_by"' in html
    assert "#field-consent_exemption_reason" not in html  # the other basis's detail
    assert len(re.findall(r'<button type="submit"', html.split("</header>")[1])) == 1
    assert f'name="version" value="{draft.version}"' in html


def test_only_the_check_pages_post_files_the_referral_then_confirms_it(
    client, referrer, referral_form
):
    client.force_login(referrer)
    answer = file_through_page(client, referral_form())
    referral = Referral.objects.get()
    assert referral.status == Status.SUBMITTED
    assert answer.url == reverse("referrals:filed", args=[referral.public_id])
    html = _html(client.get(answer.url))
    assert f'<strong id="reference">{referral.reference}</strong>' in html
    assert reverse("referrals:detail", args=[referral.public_id]) in html
    assert f'href="{NEW}"' in html
    # The same check page posted again (a double tap) files nothing more.
    check = reverse("referrals:check", args=[referral.public_id])
    again = client.post(check, {"version": referral.version - 1})
    assert again.url == answer.url
    assert ReferralEvent.objects.filter(to_status=Status.SUBMITTED).count() == 1


def test_a_draft_changed_since_it_was_checked_is_not_filed(client, referrer, referral_form):
    client.force_login(referrer)
    data = referral_form()
    check = client.post(NEW, data).url
    draft = Referral.objects.get()
    shown = draft.version
    client.post(NEW, {**data, "age": "79"})  # another tab: the draft changes
    refused = client.post(check, {"version": shown})
    assert refused.status_code == 409
    assert "changed after these answers were shown" in _html(refused)
    draft.refresh_from_db()
    assert draft.status == Status.DRAFT
    assert client.post(check, {}).status_code == 400


def test_an_incomplete_draft_lists_what_is_missing_with_links_and_cannot_be_filed(
    client, referrer, referral_form
):
    client.force_login(referrer)
    client.post(NEW, referral_form(needs=None, submit=None, save_draft="1"))
    draft = Referral.objects.get()
    check = reverse("referrals:check", args=[draft.public_id])
    html = _html(client.get(check))
    edit = reverse("referrals:edit", args=[draft.public_id])
    assert f'href="{edit}#field-needs"' in html and "Submit referral" not in html
    refused = client.post(check, {"version": draft.version})
    assert refused.status_code == 400
    draft.refresh_from_db()
    assert draft.status == Status.DRAFT


def test_the_duplicate_warning_is_a_focusable_panel_at_the_top_of_the_check_page(
    client, referrer, referral_form
):
    client.force_login(referrer)
    file_through_page(client, referral_form())
    first = Referral.objects.get()
    warned = file_through_page(client, referral_form())
    html = _html(warned)
    assert warned.status_code == 200, html
    panel = re.search(r'<section class="warning-panel"[^>]*>', html).group(0)
    assert 'tabindex="-1"' in panel and "data-error-summary" in panel
    assert first.reference in html
    assert html.index("warning-panel") < html.index("check-section")
    assert 'name="confirm_duplicates" value="1"' in html
    second = Referral.objects.exclude(pk=first.pk).get()
    assert second.status == Status.DRAFT
    check = reverse("referrals:check", args=[second.public_id])
    filed = client.post(
        check, {"version": second.version, "confirm_duplicates": "1", "duplicate_note": "New"}
    )
    second.refresh_from_db()
    assert filed.status_code == 302 and second.status == Status.SUBMITTED
    assert second.duplicate_note == "New" and list(second.possible_duplicates.all()) == [first]


def test_a_resumed_draft_keeps_its_consent_time_and_is_submitted_at_submission_time(
    client, referrer, referral_form
):
    client.force_login(referrer)
    given = timezone.localtime() - timedelta(hours=2)
    typed = given.strftime("%Y-%m-%dT%H:%M")
    data = referral_form(consent_basis=None, consent_given_at=typed, submit=None)
    client.post(NEW, {**data, "save_draft": "1"})  # the basis not chosen yet
    draft = Referral.objects.get()
    assert (draft.consent_given_by, draft.consent_method) == ("subject", "verbal")
    assert timezone.localtime(draft.consent_given_at).strftime("%Y-%m-%dT%H:%M") == typed
    resumed = client.get(reverse("referrals:edit", args=[draft.public_id]))
    assert f'value="{typed}"' in _html(resumed)

    Referral.objects.filter(pk=draft.pk).update(created_at=timezone.now() - timedelta(days=3))
    before = timezone.now()
    edit = reverse("referrals:edit", args=[draft.public_id])
    file_through_page(
        client, referral_form(token=str(draft.submission_token), consent_given_at=typed), url=edit
    )
    draft.refresh_from_db()
    assert draft.status == Status.SUBMITTED
    assert draft.submitted_at >= before
    assert timezone.localtime(draft.consent_given_at).strftime("%Y-%m-%dT%H:%M") == typed


def test_check_and_confirmation_pages_are_the_referrers_own(client, referrer, referral_form):
    from tests import factories

    client.force_login(referrer)
    file_through_page(client, referral_form())
    referral = Referral.objects.get()
    client.force_login(factories.UserFactory())
    for name in ("check", "filed"):
        assert (
            client.get(reverse(f"referrals:{name}", args=[referral.public_id])).status_code == 404
        )


def test_a_referrer_who_left_the_team_cannot_file_its_draft_from_the_check_page(
    client, referrer, referral_form
):
    client.force_login(referrer)
    answer = client.post(NEW, {**referral_form(), "submit": "1"})
    assert answer.status_code == 302 and answer.url.endswith("/check/")
    draft = Referral.objects.get()
    referrer.memberships.filter(service_unit=draft.referring_team).delete()
    for response in (
        client.get(answer.url),
        client.post(answer.url, {"version": draft.version, "file": "1"}),
    ):
        assert response.status_code == 403
    draft.refresh_from_db()
    assert draft.status == Status.DRAFT and draft.reference is None
    assert not ReferralEvent.objects.filter(referral=draft).exists()
