"""The page chrome in Chromium (issue 19): the skip link is the first thing Tab reaches, it
shows while it has the focus, and following it puts the focus on the main region; the
favicon loads; the two-factor step has no navigation."""

from playwright.sync_api import expect

from tests.e2e.conftest import fill_login_form, log_in
from tests.two_factor import authenticator

FOCUSED_ID = "document.activeElement && document.activeElement.id"


def test_the_skip_link_is_first_shows_on_focus_and_moves_the_focus_to_main(
    page, live_server, referrer
):
    log_in(page, live_server, referrer.username)
    skip = page.locator("a.skip-link")
    box = skip.bounding_box()
    assert box is None or box["y"] + box["height"] <= 0, "visible before it has the focus"

    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    expect(skip).to_have_text("Skip to main content")
    box = skip.bounding_box()
    assert box is not None and box["y"] >= 0 and box["height"] > 0, "not shown on focus"

    page.keyboard.press("Enter")
    page.wait_for_function(f"({FOCUSED_ID}) === 'main'")
    # The next Tab goes on from the content, not back through the header.
    page.keyboard.press("Tab")
    inside_main = page.evaluate("document.querySelector('main').contains(document.activeElement)")
    assert inside_main


def test_the_favicon_loads(page, live_server, referrer):
    log_in(page, live_server, referrer.username)
    href = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(f"{live_server.url}{href}").ok
    response = page.request.get(f"{live_server.url}/favicon.ico")
    assert response.ok and response.headers["content-type"] == "image/svg+xml"


def test_the_two_factor_step_has_only_the_brand_the_languages_and_log_out(
    page, live_server, district_officer
):
    authenticator(district_officer)
    fill_login_form(page, live_server, district_officer.username, "correct-horse-battery-staple")
    expect(page.locator("#two-factor-verify")).to_be_visible()
    expect(page.locator("nav.site-nav")).to_have_count(0)
    header = page.locator("header.site-header")
    expect(
        header.get_by_role("button", name=f"Log out ({district_officer.username})")
    ).to_be_visible()
    expect(header.locator(".language-switcher button")).to_have_count(2)
    expect(header.get_by_role("link")).to_have_count(1)  # the brand
    expect(page.locator("input[name=token]")).to_be_focused()  # the code field, at once
