"""End-to-end: the form patterns of issue 19 on a 375 x 812 phone, in Traditional Chinese.

A failed submit is seen at once (the error summary, focused, at the top, a link per field
that moves the focus to the field; the fields outlined, their messages read out with them);
the consent basis reveals only the details it calls for; a form being sent cannot be sent
twice, and the pressed button still reaches the server."""

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import log_in, save_screenshot

PHONE_HEIGHT = 812
# form.submit is shadowed by the button named "submit"; the prototype's is the form's own.
SEND_FOR_REAL = """() => {
  window.letGo = true;
  HTMLFormElement.prototype.submit.call(document.querySelector("form.referral-form"));
}"""


def _new_referral_in_chinese(page: Page, live_server, referrer) -> None:
    log_in(page, live_server, referrer.username)
    page.locator("button[name=language][value=zh-hant]").click()
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hant-HK")
    page.goto(f"{live_server.url}/referrals/new/")
    expect(page.locator("h1")).to_have_text("新轉介")


def test_an_empty_submit_focuses_an_error_summary_linking_to_each_field(
    phone_page, live_server, referrer, ssp_area
):
    page = phone_page
    _new_referral_in_chinese(page, live_server, referrer)
    form = page.locator("form.referral-form")
    form.get_by_label("電話").fill("12")
    # Hold the submission after forms.js has seen it, to look at the form being sent.
    page.evaluate(
        "() => window.addEventListener('submit', e => { if (!window.letGo) e.preventDefault(); })"
    )
    form.get_by_role("button", name="繼續").click()

    # While it is being sent: marked, every button disabled, the pressed one still posted.
    expect(form).to_have_class(re.compile(r"\bis-sending\b"))
    for button in form.locator(".form-actions button").all():
        expect(button).to_be_disabled()
    expect(form.locator("input[type=hidden][name=submit][value='1']")).to_have_count(1)
    with page.expect_navigation():
        page.evaluate(SEND_FOR_REAL)

    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    box = summary.bounding_box()
    assert box is not None and 0 <= box["y"] < PHONE_HEIGHT, f"summary off screen: {box}"
    links = summary.locator("a")
    hrefs = [link.get_attribute("href") for link in links.all()]
    assert {"#id_subject_name_zh", "#id_household_0", "#id_needs_0", "#id_consent_basis_0"} <= set(
        hrefs
    ), hrefs
    assert "#id_phone" in hrefs
    expect(summary).to_contain_text("電話號碼無效")  # our own message, in Chinese
    for href in hrefs:
        expect(page.locator(href)).to_have_count(1)  # every link has its field

    # Each field in error is outlined, its message above it and read out with it.
    name_box = page.locator("#field-subject_name_zh")
    assert name_box.evaluate("e => getComputedStyle(e).borderLeftWidth") == "5px"
    name = page.locator("#id_subject_name_zh")
    assert name.evaluate("e => getComputedStyle(e).borderTopColor") == "rgb(164, 22, 26)"
    expect(name).to_have_attribute("aria-invalid", "true")
    described = name.get_attribute("aria-describedby") or ""
    assert "id_subject_name_zh_error" in described.split()
    expect(page.locator("#id_subject_name_zh_error")).to_be_visible()
    expect(page.locator("#field-needs")).to_have_attribute("aria-describedby", "id_needs_error")

    # A link moves the focus to its field, with the field in view.
    summary.locator("a[href='#id_needs_0']").click()
    expect(page.locator("#id_needs_0")).to_be_focused()
    summary.locator("a[href='#id_subject_name_zh']").click()
    expect(name).to_be_focused()
    assert 0 <= name.bounding_box()["y"] < PHONE_HEIGHT
    save_screenshot(page, "e2e-form-errors-zh.png")


def test_urgent_protection_hides_the_consent_giver_fields_and_asks_the_reason(
    phone_page, live_server, referrer, ssp_area
):
    page = phone_page
    _new_referral_in_chinese(page, live_server, referrer)
    form = page.locator("form.referral-form")
    giver = ["#field-consent_given_by", "#field-consent_method", "#field-consent_given_at"]
    reason = page.locator("#field-consent_exemption_reason")
    for selector in giver:  # no basis chosen yet: the consent details are asked
        expect(page.locator(selector)).to_be_visible()
    expect(reason).to_be_hidden()

    form.locator("input[name=consent_basis][value=urgent_protection]").check()
    for selector in giver:
        expect(page.locator(selector)).to_be_hidden()
    expect(reason).to_be_visible()

    form.locator("input[name=consent_basis][value=consent]").check()
    for selector in giver:
        expect(page.locator(selector)).to_be_visible()
    expect(reason).to_be_hidden()

    # Kept through a failed submit: the page comes back with the basis chosen, and the
    # reveal follows it on load.
    form.locator("input[name=consent_basis][value=urgent_protection]").check()
    form.get_by_role("button", name="繼續").click()
    expect(page.locator(".error-summary")).to_be_focused()
    expect(page.locator("#field-consent_exemption_reason")).to_be_visible()
    expect(page.locator("#field-consent_given_by")).to_be_hidden()
    expect(page.locator("#field-consent_exemption_reason")).to_have_class(
        re.compile(r"\bhas-error\b")
    )
