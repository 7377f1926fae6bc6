"""End-to-end: the district officer works the queue; the unit works its inbox; the referrer
sees the outcome."""

import re

from playwright.sync_api import expect

from referrals.models import Referral, ReferralEvent, Status
from tests import factories
from tests.e2e.conftest import log_in, save_screenshot


def test_the_officer_filters_urgent_triage_in_one_district_and_reassigns_one(
    page, live_server, district_officer, referrer, caring_team, ssp_area, other_unit
):
    urgent = factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        sub_district=ssp_area,
        status=Status.TRIAGE,
        risk_level="urgent",
        reference="SSP-2026-000101",
    )
    factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        sub_district=ssp_area,
        status=Status.TRIAGE,
        reference="SSP-2026-000102",
    )
    log_in(page, live_server, district_officer.username)
    page.get_by_role("link", name="Queue").click()
    filters = page.locator("#queue-filters")
    page.evaluate("window.stillTheSamePage = true")
    filters.get_by_label("Show").select_option("triage")
    expect(page).to_have_url(f"{live_server.url}/queue/?view=triage&sort=urgency")
    filters.locator("#more-filters > summary").click()  # the other filters fold (issue 19)
    filters.get_by_label("Risk level").select_option("urgent")
    filters.get_by_label("District", exact=True).select_option(label="Sham Shui Po")
    expect(page).to_have_url(re.compile(r"risk_level=urgent.*district=\d+"))
    rows = page.locator("#queue-rows tr.referral")
    expect(rows).to_have_count(1)
    expect(page.locator("#result-count")).to_have_text("1 referral")
    assert page.evaluate("window.stillTheSamePage") is True  # no full reload
    expect(rows.first).to_have_attribute("data-reference", urgent.reference)

    rows.first.get_by_role("checkbox").check()
    bulk = page.locator("#bulk")
    bulk.get_by_label("Action").select_option("reassign")
    bulk.get_by_label("Unit (for reassigning)").select_option(str(other_unit.pk))
    bulk.get_by_label("Reason").fill("Mental wellness centre has a Cantonese worker free today")
    bulk.get_by_role("button", name="Apply to selected").click()

    expect(page.locator(".messages")).to_contain_text(f"{urgent.reference}: done.")
    expect(page.locator("#queue-rows tr.referral")).to_have_count(0)
    assert "risk_level=urgent" in page.url
    save_screenshot(page, "e2e-queue.png")
    urgent.refresh_from_db()
    assert (urgent.status, urgent.assigned_unit) == (Status.ASSIGNED, other_unit)
    event = ReferralEvent.objects.get(referral=urgent, kind="routing")
    assert event.reason.startswith("Mental wellness centre")


def test_the_unit_accepts_and_closes_and_the_referrer_sees_the_outcome(
    page, browser, live_server, unit_worker, referrer, caring_team, ssp_area, ifsc_unit
):
    referral = factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        sub_district=ssp_area,
        status=Status.ASSIGNED,
        assigned_unit=ifsc_unit,
        reference="SSP-2026-000201",
    )
    log_in(page, live_server, unit_worker.username)
    page.get_by_role("link", name="Inbox").click()
    # Each row links to its next step on the referral page: one form at a time (issue 19).
    row = page.locator(f"#inbox-rows tr[data-reference='{referral.reference}']")
    row.get_by_role("link", name=f"Accept {referral.reference}").click()
    page.locator("#action-form").get_by_role("button", name="Accept").click()
    expect(page.locator(".messages")).to_contain_text("is now “Accepted”")
    expect(page).to_have_url(f"{live_server.url}/inbox/")

    page.locator("#tab-open").click()
    row = page.locator(f"#inbox-rows tr[data-reference='{referral.reference}']")
    row.get_by_role("link", name=f"Start work {referral.reference}").click()
    page.locator("#action-form").get_by_role("button", name="Start work").click()
    expect(page.locator(".messages")).to_contain_text("is now “In progress”")
    row = page.locator(f"#inbox-rows tr[data-reference='{referral.reference}']")
    row.get_by_role("link", name=f"Complete {referral.reference}").click()
    form = page.locator("#action-form")
    form.get_by_label("Services provided").fill("Home visit; meal delivery arranged")
    form.get_by_label("Outcome summary (the referrer sees this)").fill(
        "Meals arranged; seen weekly by our worker."
    )
    form.get_by_label("Internal note").fill("Son owes money")
    form.get_by_role("button", name="Complete").click()
    expect(page.locator(".messages")).to_contain_text("is now “Completed”")
    assert Referral.objects.get(pk=referral.pk).status == Status.COMPLETED

    context = browser.new_context(base_url=live_server.url, locale="en-HK")
    referrer_page = context.new_page()
    try:
        log_in(referrer_page, live_server, referrer.username)
        referrer_page.goto(f"{live_server.url}/referrals/{referral.public_id}/")
        expect(referrer_page.locator("#status")).to_have_text("Completed")
        expect(referrer_page.locator("#outcome")).to_have_text(
            "Meals arranged; seen weekly by our worker."
        )
        expect(referrer_page.locator("#timeline")).not_to_contain_text("Son owes money")
    finally:
        context.close()


def test_the_officer_routes_a_row_from_its_own_panel_without_leaving_the_queue(
    page, live_server, district_officer, referrer, caring_team, ssp_area, other_unit
):
    waiting = factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        sub_district=ssp_area,
        status=Status.TRIAGE,
        reference="SSP-2026-000301",
    )
    log_in(page, live_server, district_officer.username)
    page.goto(f"{live_server.url}/queue/?view=triage")
    row = page.locator(f"#queue-rows tr[data-reference='{waiting.reference}']")
    row.get_by_role("button", name="Route…").click()
    panel = page.locator(f"#triage-{waiting.pk}")  # in the row under it
    expect(panel.locator("select[name=unit]")).to_be_visible()
    panel.locator("select[name=unit]").select_option(str(other_unit.pk))
    panel.get_by_label("Reason").fill("Knows the family")
    panel.get_by_role("button", name="Assign to this unit").click()
    expect(page).to_have_url(f"{live_server.url}/queue/?view=triage")
    expect(page.locator(".messages")).to_contain_text(f"Assigned to {other_unit.name_en}")
    expect(page.locator(f"#queue-rows tr[data-reference='{waiting.reference}']")).to_have_count(0)
    waiting.refresh_from_db()
    assert (waiting.status, waiting.assigned_unit) == (Status.ASSIGNED, other_unit)


def test_the_officer_searches_a_name_that_never_reaches_a_url(
    page, live_server, district_officer, referrer, caring_team, ssp_area
):
    """issue 14 item 9: the search box POSTs; the address bar, htmx's pushed URLs and every
    request the browser makes carry ``search=<id>``, never the name, and filters keep it."""
    from urllib.parse import unquote_plus

    wanted = factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        sub_district=ssp_area,
        status=Status.TRIAGE,
        subject_name_zh="李美華",
        subject_name_en="Lee Mei Wah",
        reference="SSP-2026-000401",
    )
    factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        sub_district=ssp_area,
        status=Status.TRIAGE,
        reference="SSP-2026-000402",
    )
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    log_in(page, live_server, district_officer.username)
    page.goto(f"{live_server.url}/queue/?view=triage")
    filters = page.locator("#queue-filters")
    filters.locator("#more-filters > summary").click()
    filters.get_by_label("Risk level").select_option("routine")  # htmx: results redrawn
    expect(page).to_have_url(re.compile(r"risk_level=routine"))

    box = page.locator("#queue-search").get_by_label("Reference or name")
    box.fill("李美華")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"search=[\w-]+"))
    assert "view=triage" in page.url and "risk_level=routine" in page.url
    rows = page.locator("#queue-rows tr.referral")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-reference", wanted.reference)

    filters.get_by_label("Sort").select_option("oldest")  # htmx pushes the filters again
    expect(page).to_have_url(re.compile(r"sort=oldest"))
    assert "search=" in page.url
    expect(rows).to_have_count(1)
    assert requested
    for url in requested:
        assert "李美華" not in unquote_plus(url), url
