"""End-to-end (issue 19): the district officer opens the dashboard on a 1366 x 768 desktop
and on a 375 px phone; the working view's charts are drawn with their numbers as tables,
the page keeps to the Content-Security-Policy, axe finds nothing (colour contrast included),
and the phone never scrolls sideways. In Chinese too."""

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from referrals.models import ReferralEvent, Status
from services.models import NeedCategory
from tests import factories
from tests.e2e.axe import assert_accessible
from tests.e2e.conftest import DEFAULT_TIMEOUT_MS, PHONE, log_in, save_screenshot

DESKTOP = {"viewport": {"width": 1366, "height": 768}}
PHONE_WIDTH = PHONE["viewport"]["width"]
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""
# The elements reaching past the screen's right edge (outside any scrolling box).
WIDER_THAN_THE_SCREEN = """(width) => [...document.querySelectorAll("main *")]
  .filter((el) => el.getBoundingClientRect().right > width && !el.closest(".table-scroll"))
  .slice(0, 8)
  .map((el) => `${el.tagName}#${el.id}.${el.className} ${el.getBoundingClientRect().right}`)"""
CHARTS = [
    "chart-trend",
    "chart-outcomes",
    "chart-declined-reasons",
    "chart-failed-reasons",
    "chart-received",
    "chart-open",
    "chart-needs",
    "chart-sub-districts",
]


@pytest.fixture(params=["desktop", "phone"])
def screen(request, browser, live_server) -> Iterator[tuple[str, Page]]:
    options = DESKTOP if request.param == "desktop" else {**PHONE, "device_scale_factor": 2}
    context = browser.new_context(
        base_url=live_server.url, locale="en-HK", timezone_id="Asia/Hong_Kong", **options
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    try:
        yield request.param, page
    finally:
        context.close()


@pytest.fixture
def office_work(referrer, caring_team, ssp_area, ifsc_unit, other_unit):
    """A few weeks of Sham Shui Po's work: received, accepted, declined, completed, failed."""
    now = timezone.now()

    needs = list(NeedCategory.objects.filter(code__in=["elderly_care", "housing"]))

    def referral(days_ago, status, unit=None, **fields):
        made = factories.ReferralFactory(
            referrer=referrer,
            referring_team=caring_team,
            sub_district=ssp_area,
            submitted_at=now - timedelta(days=days_ago),
            status=status,
            assigned_unit=unit,
            **fields,
        )
        made.needs.set(needs)
        return made

    for week in range(6):
        accepted = referral(week * 7 + 1, Status.IN_PROGRESS, ifsc_unit)
        ReferralEvent.objects.create(
            referral=accepted,
            at=accepted.submitted_at + timedelta(hours=week + 2),
            to_status=Status.ACCEPTED,
            unit=ifsc_unit,
        )
    declined = referral(3, Status.ASSIGNED, other_unit)
    ReferralEvent.objects.create(
        referral=declined,
        at=declined.submitted_at + timedelta(hours=1),
        to_status=Status.REJECTED,
        unit=ifsc_unit,
        reason="Outside our catchment area",
    )
    referral(2, Status.TRIAGE)
    for days, status in [(20, Status.COMPLETED), (30, Status.COMPLETED), (25, Status.FAILED)]:
        closed = referral(days, status, ifsc_unit, closed_at=now - timedelta(days=days - 5))
        if status == Status.FAILED:
            ReferralEvent.objects.create(
                referral=closed,
                at=closed.closed_at,
                to_status=Status.FAILED,
                unit=ifsc_unit,
                reason="Could not reach the person after three tries",
            )


def test_the_office_reads_its_working_view_on_desktop_and_phone(
    screen, live_server, district_officer, office_work
):
    kind, page = screen
    log_in(page, live_server, district_officer.username)
    page.goto(f"{live_server.url}/dashboard/")
    expect(page.locator("h1")).to_have_text("District dashboard")

    for chart_id in CHARTS:
        figure = page.locator(f"#{chart_id}")
        expect(figure.locator("svg[role=img] title").first).to_be_attached()
        expect(figure.locator(f"#{chart_id}-table")).to_be_attached()
    trend = page.locator("#chart-trend")
    expect(trend.locator("svg")).to_be_visible()
    expect(trend.locator("polyline")).to_have_count(3)
    # The weeks' table is open under the chart; the others open on a tap.
    expect(trend.locator("#chart-trend-table tbody tr")).to_have_count(12)
    expect(trend.locator("#chart-trend-table")).to_be_visible()
    outcomes = page.locator("#chart-outcomes")
    expect(outcomes.locator("table")).not_to_be_visible()
    outcomes.locator("summary").click()
    expect(outcomes.locator("table")).to_be_visible()
    expect(outcomes.locator("tbody tr").first).to_contain_text("2")  # completed
    expect(page.locator("#chart-failed-reasons")).to_contain_text("Could not reach the person")
    expect(page.locator("#time-table [data-figure=closure] td").first).not_to_have_text("—")
    expect(page.locator("#by-sub-district tbody tr")).to_have_count(1)
    expect(page.locator("#by-unit tbody tr")).to_have_count(3)  # IFSC, ICCMW, no unit yet

    assert page.evaluate("window.__cspViolations") == []
    assert_accessible(page, f"the dashboard ({kind})")
    if kind == "phone":
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE_WIDTH, f"the page scrolls sideways: {width}px: " + str(
            page.evaluate(WIDER_THAN_THE_SCREEN, PHONE_WIDTH)
        )
        box = trend.locator("svg").bounding_box()
        assert box is not None and box["width"] <= PHONE_WIDTH
    save_screenshot(page, f"e2e-dashboard-{kind}.png")

    page.locator("button[name=language][value=zh-hant]").click()
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", re.compile(r"^zh-Hant"))
    expect(page.locator("#dashboard-scope")).to_contain_text("深水埗區")
    expect(page.locator("#chart-trend polyline")).to_have_count(3)
    assert page.evaluate("window.__cspViolations") == []
    assert_accessible(page, f"the dashboard in Chinese ({kind})")
