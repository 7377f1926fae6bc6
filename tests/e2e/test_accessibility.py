"""Accessibility (issue 19): every page of the portal, in both languages, on a phone and on a
desktop, has no axe-core violation (WCAG 2.1 A/AA and best practice), and a full-page
screenshot of each is saved to ``test-artifacts/screens/<page>-<lang>-<phone|desktop>.png``
for a reviewer (always, not only on failure; the folder is git-ignored).

One test per language and viewport walks the pages: one browser context per role, signed in
once; each page is a subtest named ``<page>-<lang>-<viewport>``, so a failure names the page
and the others still run. A page added to the portal belongs in ``TOUR``.

The first tests prove the check itself: it fails on a page with known violations, naming
their rules, and passes on a clean one.
"""

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from referrals.models import (
    HANDOVER_TEMPLATE,
    Notification,
    ReferralEvent,
    Status,
    TransferCase,
    TransferPlan,
)
from tests import factories
from tests.e2e.axe import AxeViolations, axe_violations, install_axe
from tests.e2e.conftest import ARTIFACTS_DIR, DEFAULT_TIMEOUT_MS, PHONE
from tests.factories import TEST_PASSWORD
from tests.two_factor import authenticator, totp_code

SCREENS_DIR = ARTIFACTS_DIR / "screens"
LANGUAGES = {"en": "en", "zh-Hant": "zh-hant"}  # screenshot name → Django language code
VIEWPORTS = {
    "phone": PHONE,
    "desktop": {"viewport": {"width": 1366, "height": 768}},
}


# --- The check itself ------------------------------------------------------------------------

BROKEN = """<!doctype html><html lang="en"><head><title>Broken</title></head><body>
<main><h1>Broken</h1><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<form><input type="text" name="name"></form></main></body></html>"""

CLEAN = """<!doctype html><html lang="en"><head><title>Clean</title></head><body>
<main><h1>Clean</h1><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="A dot">
<form><label for="name">Name</label><input type="text" id="name" name="name"></form></main>
</body></html>"""


def test_the_check_fails_naming_each_broken_rule(browser, axe):
    page = browser.new_page()
    try:
        page.set_content(BROKEN)
        with pytest.raises(AxeViolations) as failure:
            axe(page, "the broken page")
    finally:
        page.close()
    rules = {rule["id"] for rule in failure.value.violations}
    assert {"image-alt", "label"} <= rules
    message = str(failure.value)
    assert "the broken page" in message
    assert "- image-alt (critical)" in message and "- label (critical)" in message
    assert "    img" in message and "    input" in message  # the elements, as selectors


def test_the_check_passes_a_clean_page(browser, axe):
    page = browser.new_page()
    try:
        page.set_content(CLEAN)
        axe(page, "the clean page")
        assert axe_violations(page) == []
    finally:
        page.close()


# --- The tour ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stop:
    """A page of the tour: its name (in test ids and screenshot names), who opens it, its
    path (from the tour's data) and the answer expected."""

    name: str
    role: str | None  # None: not signed in
    path: Callable[[dict], str]
    status: int = 200
    ready: str | None = None  # drawn by a script: checked once this is visible
    lang: str | None = None  # the page's language whatever the reader's (the API's English)
    then: Callable[[Page, str], None] | None = None  # more to check there, given the language


def at(path: str) -> Callable[[dict], str]:
    return lambda data: path


def referral(suffix: str = "", which: str = "referral") -> Callable[[dict], str]:
    return lambda data: f"/referrals/{data[which].public_id}/{suffix}"


def household(suffix: str = "") -> Callable[[dict], str]:
    return lambda data: f"/outreach/households/{data['household'].public_id}/{suffix}"


def seen_as_a_list(page: Page, language: str) -> None:
    """Who was seen on a visit: a list as the language writes it (join_list)."""
    separator = "、" if language == "zh-Hant" else ", "
    expect(page.locator("#timeline .visit-seen").first).to_contain_text(separator)


def visit_list(suffix: str = "") -> Callable[[dict], str]:
    return lambda data: f"/outreach/lists/{data['visit_list'].public_id}/{suffix}"


TOUR = [
    Stop("login", None, at("/login/")),
    Stop("privacy-notice", None, at("/privacy/")),
    Stop("api-docs", None, at("/api/docs/"), ready=".swagger-ui .info .title", lang="en"),
    Stop("error-404", None, at("/no-such-page/"), status=404),
    # A caring-team member: files referrals, visits households.
    Stop("home-referrer", "referrer", at("/")),
    Stop("referral-form", "referrer", at("/referrals/new/")),
    Stop("referral-edit", "referrer", referral("edit/", which="draft")),
    Stop("referral-check", "referrer", referral("check/", which="draft")),
    Stop("referral-filed", "referrer", referral("filed/")),
    Stop("referral-referrer", "referrer", referral()),
    Stop("referrals-list", "referrer", at("/referrals/")),
    Stop("notifications", "referrer", at("/notifications/")),
    Stop("directory", "referrer", at("/directory/")),
    Stop("account-security", "referrer", at("/account/security/")),
    Stop("password-change", "referrer", at("/account/password/")),
    Stop("password-change-done", "referrer", at("/account/password/done/")),
    Stop("outreach-home", "referrer", at("/outreach/")),
    Stop("outreach-team-list", "referrer", at("/outreach/team/")),
    Stop("outreach-household", "referrer", household(), then=seen_as_a_list),
    Stop("outreach-visit-form", "referrer", household("visit/")),
    # A unit's worker and supervisor.
    Stop("home-unit", "unit_worker", at("/")),
    *(
        Stop(f"inbox-{tab}", "unit_worker", at(f"/inbox/?tab={tab}"))
        for tab in ("new", "open", "on_hold", "overdue", "closed")
    ),
    Stop("referral-unit", "unit_worker", referral()),
    Stop("my-cases", "unit_worker", at("/referrals/my-cases/")),
    Stop("transfers-incoming", "unit_worker", at("/referrals/transfers/incoming/")),
    Stop("error-403", "unit_worker", at("/referrals/new/"), status=403),
    Stop("caseload", "unit_supervisor", at("/referrals/caseload/")),
    # The district office.
    Stop("home-office", "officer", at("/")),
    Stop("queue", "officer", at("/queue/")),
    Stop("referral-office", "officer", referral()),
    Stop("dashboard", "officer", at("/dashboard/")),
    Stop("matching", "officer", at("/referrals/matching/")),
    Stop("transfers", "officer", at("/referrals/transfers/")),
    Stop("transfer-new", "officer", at("/referrals/transfers/new/")),
    Stop("transfer-detail", "officer", lambda d: f"/referrals/transfers/{d['plan'].public_id}/"),
    Stop("outreach-lists", "officer", at("/outreach/lists/")),
    Stop("outreach-list-new", "officer", at("/outreach/lists/new/")),
    Stop("outreach-list-detail", "officer", visit_list()),
    Stop("outreach-list-import", "officer", visit_list("import/")),
    Stop("outreach-figures", "officer", at("/outreach/figures/")),
    Stop("outreach-team-list-of", "officer", lambda d: f"/outreach/team/{d['team'].pk}/"),
    # Headquarters.
    Stop("home-admin", "admin", at("/")),
    Stop("access-request", "admin", at("/privacy/access-request/")),
    Stop("unit-caseload", "admin", lambda d: f"/referrals/caseload/{d['unit'].pk}/"),
    Stop("admin-index", "admin", at("/admin/")),
]
# E2E_TOUR_PAGES=queue,api-docs: only those pages (while fixing them), else all of them.
ONLY = {name for name in os.environ.get("E2E_TOUR_PAGES", "").split(",") if name}
ROLES = list(dict.fromkeys(stop.role for stop in TOUR))


# Routes answering GET that are not pages to look at, each with the page that shows them.
NOT_PAGES = {
    "healthz": "JSON for the load balancer",
    "favicon": "the icon",
    "logout": "GET is refused; the sign-out button posts (on every page)",
    "api-schema": "the OpenAPI schema the api-docs page draws",
    "referrals:status": "a fragment htmx puts into the referral page",
    "referrals:triage_panel": "a fragment htmx puts into the queue",
    "referrals:sub_districts": "the options htmx puts into the referral form's sub-district list",
    "dashboard:export": "CSV",
    "outreach:figures_export": "CSV",
}


def test_the_tour_names_every_page_once():
    names = [stop.name for stop in TOUR] + [name for _, seen in FLOWS.values() for name in seen]
    assert len(names) == len(set(names))


def test_every_page_of_the_portal_is_on_the_tour():
    """Every route the authorisation matrix says answers GET (and every route it does not
    know yet), outside the admin's model pages and the API, is opened by a stop of the tour
    or listed in ``NOT_PAGES``: a new page cannot miss the accessibility check."""
    from types import SimpleNamespace
    from uuid import uuid4

    from django.urls import Resolver404, resolve

    from tests.test_authorisation_matrix import MATRIX, project_routes

    some = SimpleNamespace(public_id=uuid4(), pk=1)
    data = dict.fromkeys(("referral", "draft", "unit", "team", "plan", "visit_list"), some)
    toured = {  # the pages seen on the way through the two-factor steps (FLOWS)
        "two-factor-verify": "two_factor:verify",
        "two-factor-setup": "two_factor:setup",
        "admin-index": "admin:index",
    }
    for stop in TOUR:
        try:
            toured[stop.name] = resolve(stop.path(data | {"household": some}).split("?")[0])
        except Resolver404:
            continue
    toured_names = {getattr(match, "view_name", match) for match in toured.values()}
    pages = [
        route.key
        for route in project_routes()
        if not (route.is_admin or route.is_api)
        and "GET" in MATRIX.get(route.key, {"GET": "not in the matrix yet"})
    ]
    missing = [key for key in pages if key not in toured_names and key not in NOT_PAGES]
    assert missing == [], f"pages missing from TOUR in {__file__}: {missing}"


@pytest.fixture
def tour_data(
    referrer,
    unit_worker,
    unit_supervisor,
    district_officer,
    other_district_officer,
    admin_user,
    ssp_area,
    caring_team,
):
    """The people of ``tests/conftest.py`` and something on each of their pages."""
    from tests.outreach.test_visits import make_household, make_visit_list, two_needs, visit

    ifsc = unit_worker.memberships.get().service_unit
    other = factories.ServiceUnitFactory(
        code="iccmw-f-01",
        unit_type=factories.unit_type("ICCMW"),
        catchment_districts=[factories.district("F")],
    )
    made = {"referrer": referrer, "referring_team": caring_team, "sub_district": ssp_area}
    case = factories.ReferralFactory(status=Status.ASSIGNED, assigned_unit=ifsc, **made)
    factories.ReferralFactory(status=Status.TRIAGE, risk_level="urgent", **made)
    factories.ReferralFactory(status=Status.IN_PROGRESS, assigned_unit=ifsc, **made)
    draft = factories.ReferralFactory(status=Status.DRAFT, submitted_at=None, **made)
    event = ReferralEvent.objects.create(
        referral=case, from_status="submitted", to_status="assigned", unit=ifsc
    )
    Notification.objects.create(
        recipient=referrer, referral=case, event=event, kind=Notification.Kind.STATUS
    )
    plan = plan_a_transfer(case, ifsc, other, district_officer)
    the_list = make_visit_list(district_officer)
    home = make_household(
        the_list, caring_team, sub_district=ssp_area, people=2, reasons=["carer", "disability"]
    )
    visit(referrer, home, seen=home.people.all(), needs=two_needs(), next_step="refer")
    users = {
        "referrer": referrer,
        "unit_worker": unit_worker,
        "unit_supervisor": unit_supervisor,
        "officer": district_officer,
        "new_officer": other_district_officer,  # no authenticator yet
        "admin": admin_user,
    }
    return {
        "users": users,
        "referral": case,
        "draft": draft,
        "unit": ifsc,
        "team": caring_team,
        "plan": plan,
        "visit_list": the_list,
        "household": home,
    }


def plan_a_transfer(case, from_unit, to_unit, planner) -> TransferPlan:
    """The office plans to move the case's lead task next week (the transfer pages)."""
    plan = TransferPlan.objects.create(
        kind="unit",
        title="Moving the Sham Shui Po cases",
        from_unit=from_unit,
        effective_on=timezone.localdate() + timedelta(days=7),
        created_by=planner,
    )
    TransferCase.objects.create(
        plan=plan,
        task=case.tasks.get(is_lead=True),
        referral=case,
        from_unit=from_unit,
        to_unit=to_unit,
        handover_note=str(HANDOVER_TEMPLATE),
    )
    return plan


@dataclass(frozen=True)
class Run:
    """One walk of the tour: a language and a viewport, each page a subtest."""

    subtests: object
    axe: Callable
    language: str
    viewport: str

    def name(self, page_name: str) -> str:
        return f"{page_name}-{self.language}-{self.viewport}"

    def check(self, page: Page, page_name: str, lang: str | None = None) -> None:
        """Its screenshot is saved; axe finds nothing; it is in the language asked for."""
        page.wait_for_load_state("load")
        where = self.name(page_name)
        page.screenshot(path=SCREENS_DIR / f"{where}.png", full_page=True)
        self.axe(page, f"{where} ({page.url})")
        pattern = re.compile(rf"^{re.escape(lang or self.language)}(-|$)", re.IGNORECASE)
        expect(page.locator("html")).to_have_attribute("lang", pattern)


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_passes_axe(browser, live_server, tour_data, subtests, axe, language, viewport):
    SCREENS_DIR.mkdir(parents=True, exist_ok=True)
    run = Run(subtests, axe, language, viewport)
    for role in ROLES:
        stops = [s for s in TOUR if s.role == role and (not ONLY or s.name in ONLY)]
        flow_names = FLOWS.get(role, (None, ()))[1]
        if not stops and not (ONLY & set(flow_names) if ONLY else flow_names):
            continue
        context = browser.new_context(
            base_url=live_server.url,
            locale="en-HK",
            timezone_id="Asia/Hong_Kong",
            **VIEWPORTS[viewport],
        )
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        install_axe(context)
        context.add_cookies(
            [{"name": "django_language", "value": LANGUAGES[language], "url": live_server.url}]
        )
        page = context.new_page()
        try:
            if role is not None:
                sign_in(page, tour_data["users"][role], run, check_verify=role == "officer")
            for stop in stops:
                with subtests.test(msg=run.name(stop.name)):
                    visit_stop(page, stop, tour_data, run)
            if role in FLOWS and (not ONLY or ONLY & set(FLOWS[role][1])):
                FLOWS[role][0](page, tour_data, run)
        finally:
            context.close()


def visit_stop(page: Page, stop: Stop, data: dict, run: Run) -> None:
    response = page.goto(stop.path(data))
    assert response is not None and response.status == stop.status, (
        f"{stop.name}: {stop.path(data)} answered {response and response.status}"
    )
    if stop.ready:
        expect(page.locator(stop.ready).first).to_be_visible()
    run.check(page, stop.name, lang=stop.lang)
    if stop.then:
        stop.then(page, run.language)


def _password_step(page: Page, user) -> None:
    page.goto("/login/")
    form = page.locator("main form")
    form.locator("input[name=username]").fill(user.username)
    form.locator("input[name=password]").fill(TEST_PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


def sign_in(page: Page, user, run: Run, *, check_verify: bool) -> None:
    """Password, then (for the roles that need one) the authenticator's code, checking the
    code page on the way: the form is found by its fields, so it works in either language."""
    from accounts.two_factor import two_factor_state

    device = authenticator(user) if two_factor_state(user=user).must_verify else None
    _password_step(page, user)
    if device is not None:
        expect(page.locator("#two-factor-verify")).to_be_visible()
        if check_verify and (not ONLY or "two-factor-verify" in ONLY):
            with run.subtests.test(msg=run.name("two-factor-verify")):
                run.check(page, "two-factor-verify")
        form = page.locator("#two-factor-verify form").first
        form.locator("input[name=token]").fill(totp_code(device))
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
    expect(page.locator(".site-nav form button")).to_contain_text(user.username)


# --- The two-factor steps: pages reached by doing something, after the role's other pages --


def held_for_an_enrolment_code(page: Page, data: dict, run: Run) -> None:
    """An officer without an authenticator signs in: held at the enrolment code step."""
    with run.subtests.test(msg=run.name("two-factor-enrolment")):
        _password_step(page, data["users"]["new_officer"])
        expect(page.locator("main form input[name=enrolment_code]")).to_be_visible()
        run.check(page, "two-factor-enrolment")


def set_up_an_authenticator(page: Page, data: dict, run: Run) -> None:
    """The referrer turns two-factor on: the set-up page, then the backup codes."""
    from accounts.two_factor import pending_device

    with run.subtests.test(msg=run.name("two-factor-setup")):
        page.goto("/account/two-factor/setup/")
        run.check(page, "two-factor-setup")
    with run.subtests.test(msg=run.name("backup-codes")):
        form = page.locator("main form").first
        device = pending_device(user=data["users"]["referrer"])
        form.locator("input[name=token]").fill(totp_code(device))
        form.locator("button[type=submit]").click()
        expect(page.locator("#backup-codes")).to_be_visible()
        run.check(page, "backup-codes")


# role → (what it does, the pages it checks); "two-factor-verify" is seen by ``sign_in``.
FLOWS = {
    None: (held_for_an_enrolment_code, ("two-factor-enrolment",)),
    "referrer": (set_up_an_authenticator, ("two-factor-setup", "backup-codes")),
    "officer": (lambda page, data, run: None, ("two-factor-verify",)),  # seen in sign_in
}
