"""A district officer signs in with password and authenticator code in Chromium, and the
Content-Security-Policy holds: no page reports a violation, the API docs included."""

from playwright.sync_api import expect

from tests.e2e.conftest import enter_totp_code, fill_login_form, log_in
from tests.two_factor import authenticator, totp_code

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def test_an_officer_signs_in_with_a_code_and_no_page_breaks_the_policy(
    page, live_server, district_officer
):
    device = authenticator(district_officer)
    console = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.add_init_script(RECORD_VIOLATIONS)

    fill_login_form(page, live_server, district_officer.username, "correct-horse-battery-staple")
    expect(page).to_have_url(f"{live_server.url}/account/two-factor/verify/?next=%2F")
    page.goto(f"{live_server.url}/queue/")  # still held at the code step
    expect(page.locator("#two-factor-verify")).to_be_visible()

    enter_totp_code(page, "000000")
    expect(page.locator("#two-factor-verify .error")).to_contain_text("That code is not right")
    page.wait_for_timeout(1100)  # the device's back-off after a wrong code
    enter_totp_code(page, totp_code(device))
    expect(page).to_have_url(f"{live_server.url}/queue/")
    expect(page.locator("h1")).to_be_visible()
    assert page.evaluate("window.__cspViolations") == []

    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Welfare Portal partner API")
    assert page.evaluate("window.__cspViolations") == []

    policy_errors = [line for line in console if "Content Security Policy" in line]
    assert policy_errors == []


def test_the_django_admin_works_under_the_policy(page, live_server, admin_user):
    page.add_init_script(RECORD_VIOLATIONS)
    log_in(page, live_server, admin_user.username)
    for path in (
        "/admin/",
        "/admin/accounts/user/",
        f"/admin/accounts/user/{admin_user.pk}/change/",
    ):
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("#content h1")).to_be_visible()
        assert page.evaluate("window.__cspViolations") == [], path
    # The admin's own scripts run: the changelist's select-all box ticks every row.
    page.goto(f"{live_server.url}/admin/accounts/user/")
    page.locator("#action-toggle").check()
    expect(page.locator("input.action-select").first).to_be_checked()


def test_after_a_reset_an_officer_enrols_with_the_code_and_keeps_backup_codes(
    page, live_server, district_officer
):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.two_factor import BACKUP_CODE_COUNT, reset_two_factor

    authenticator(district_officer)
    issued = reset_two_factor(user=district_officer, issued_by=None)
    page.add_init_script(RECORD_VIOLATIONS)
    fill_login_form(page, live_server, district_officer.username, "correct-horse-battery-staple")
    expect(page.locator("#two-factor-enrolment")).to_be_visible()
    expect(page.locator("#totp-secret")).to_have_count(0)
    form = page.locator("main form")
    form.locator("input[name=enrolment_code]").fill(issued.code)
    form.get_by_role("button", name="Continue").click()
    expect(page.locator("#totp-secret")).to_be_visible()

    device = TOTPDevice.objects.get(user=district_officer, confirmed=False)
    form = page.locator("main form")
    form.locator("input[name=token]").fill(totp_code(device))
    form.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.locator("#backup-codes li")).to_have_count(BACKUP_CODE_COUNT)
    assert page.evaluate("window.__cspViolations") == []
    page.locator("#backup-codes a.button").click()  # on to the page first asked for
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator(".site-nav form button")).to_contain_text(district_officer.username)
    assert page.evaluate("window.__cspViolations") == []
