"""Browser tests: Debian's Chromium, driven by Playwright's sync API, against the live server.

Every test under tests/e2e is marked ``e2e`` and runs on a transactional database (the live
server answers from another thread, so it must see committed rows). The reference data the
migrations load (districts, unit types, needs) is restored before each test through
``serialized_rollback``, because a transactional test empties every table when it ends.

Chromium is never downloaded: ``playwright install`` is not used, the browser is the
distribution's ``/usr/bin/chromium`` (``apt-get install chromium``), or ``E2E_CHROMIUM``.
A browser that cannot start fails the run; it is never skipped.
"""

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Error, Page, expect, sync_playwright

from tests.e2e.axe import assert_accessible
from tests.factories import TEST_PASSWORD
from tests.two_factor import authenticator, totp_code

E2E_DIR = Path(__file__).resolve().parent
ARTIFACTS_DIR = E2E_DIR.parents[1] / "test-artifacts"
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True}
DEFAULT_TIMEOUT_MS = 10_000


def pytest_collection_modifyitems(config, items):
    # This hook sees the whole session's items, not only this folder's.
    for item in items:
        if E2E_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.django_db(transaction=True, serialized_rollback=True))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"_e2e_report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def _e2e_settings(settings):
    # With DEBUG off the manifest storage needs collectstatic; the live server serves the
    # source files through StaticFilesHandler, so plain storage gives the same URLs.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(scope="session")
def browser(django_db_setup) -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"No Chromium at {CHROMIUM}: run `apt-get install -y chromium` "
            "(never `playwright install`), or point E2E_CHROMIUM at a Chromium binary.",
            pytrace=False,
        )
    test_db_state = _test_database_state()
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
        except Error as exc:
            launch_error = str(exc)
        else:
            _carry_over_test_database_state(test_db_state)
            yield chromium
            chromium.close()
            return
    # Outside the except block, so the report shows the browser's log once, not chained.
    pytest.fail(f"Chromium at {CHROMIUM} did not start:\n{launch_error}", pytrace=False)


def _test_database_state() -> dict[str, str]:
    from django.db import connections

    return {
        alias: connections[alias]._test_serialized_contents
        for alias in connections
        if hasattr(connections[alias], "_test_serialized_contents")
    }


def _carry_over_test_database_state(state: dict[str, str]) -> None:
    """Give the connections Django hands out once Playwright runs the snapshot of the test DB.

    Playwright's sync API leaves its asyncio loop registered as the thread's running loop.
    Django keeps connections in a thread-critical asgiref ``Local``: thread-local storage
    while no loop runs, context-local storage while one does. So from here on the main
    thread gets new connection objects, without the serialized copy of the reference data
    that ``serialized_rollback`` restores before each test. Without this, every e2e test
    after the first one would find no districts whenever an earlier (non-browser) test
    had already created the test database.
    """
    from django.db import connections

    for alias, contents in state.items():
        connections[alias]._test_serialized_contents = contents


def _open_page(browser, live_server, request, **context_options) -> Iterator[Page]:
    context = browser.new_context(
        base_url=live_server.url,
        locale="en-HK",
        timezone_id="Asia/Hong_Kong",
        **context_options,
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        _screenshot_on_failure(page, request)
        context.close()


def _screenshot_on_failure(page: Page, request) -> None:
    report = getattr(request.node, "_e2e_report_call", None)
    if report is None or not report.failed:
        return
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("tests/e2e/", 1)[-1])
    path = ARTIFACTS_DIR / f"{name}.png"
    try:
        page.screenshot(path=path, full_page=True)
    except Error as exc:  # a crashed page must not hide the test's own failure
        print(f"could not save a screenshot of the failed test: {exc}")
    else:
        print(f"screenshot of the failed test: {path}")


@pytest.fixture
def page(browser, live_server, request) -> Iterator[Page]:
    """A desktop-sized page in a fresh browser context (no cookies), in English."""
    yield from _open_page(browser, live_server, request, viewport={"width": 1280, "height": 800})


@pytest.fixture
def phone_page(browser, live_server, request) -> Iterator[Page]:
    """A 375 x 812 touch phone page in a fresh browser context, in English."""
    yield from _open_page(browser, live_server, request, device_scale_factor=2, **PHONE)


@pytest.fixture
def axe():
    """``axe(page, where)``: run axe-core (WCAG 2.1 A/AA and best practice) on the page as it
    is now and fail listing each violation (rule, impact, elements, help); ``where`` names
    the page in the message. See tests/e2e/axe.py."""
    return assert_accessible


def fill_login_form(page: Page, live_server, username: str, password: str) -> None:
    """Open the login page and submit it the way a person does: type, then press the button."""
    page.goto(f"{live_server.url}/login/")
    form = page.locator("main form")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(password)
    form.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def log_in(page: Page, live_server, username: str, password: str = TEST_PASSWORD) -> None:
    """Log ``username`` in through the login form and check they reached the home page.

    A user whose role requires two-factor authentication is given an authenticator first
    (unless they have one) and types its current code on the page after the password."""
    from accounts.models import User
    from accounts.two_factor import two_factor_state

    user = User.objects.get(username=username)
    state = two_factor_state(user=user)
    device = authenticator(user) if state.must_verify else None
    fill_login_form(page, live_server, username, password)
    if device is not None:
        enter_totp_code(page, totp_code(device))
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator(".site-nav form button")).to_contain_text(username)


def enter_totp_code(page: Page, code: str) -> None:
    """On the two-factor page: type the code, then press the button."""
    expect(page.locator("#two-factor-verify")).to_be_visible()
    form = page.locator("main form")
    form.locator("input[name=token]").fill(code)
    form.get_by_role("button", name="Verify").click()
    page.wait_for_load_state()


def save_screenshot(page: Page, name: str) -> None:
    """Keep a picture of the page for a person to look at, when E2E_SCREENSHOT_DIR is set."""
    if screenshot_dir := os.environ.get("E2E_SCREENSHOT_DIR"):
        page.screenshot(path=Path(screenshot_dir) / name, full_page=True)
