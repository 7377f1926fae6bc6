"""End-to-end (issue 19): the workspaces at the sizes people use them. The office's queue on
a 1366 x 768 desk screen shows results in its first screen and selects every row at once;
the unit's inbox on a 375 px phone has no action forms in its rows, and a row leads to one
action form on the referral page; a bulk withdraw asks first."""

import pytest
from playwright.sync_api import expect

from referrals.lifecycle import TRANSITIONS
from referrals.models import Referral, Status
from tests import factories
from tests.e2e.conftest import log_in, save_screenshot

DESK = {"width": 1366, "height": 768}


@pytest.fixture
def desk_page(page):
    """A 1366 x 768 desktop page, the office's common laptop screen."""
    page.set_viewport_size(DESK)
    return page


@pytest.fixture
def triage_rows(referrer, caring_team, ssp_area):
    return [
        factories.ReferralFactory(
            referrer=referrer,
            referring_team=caring_team,
            sub_district=ssp_area,
            status=Status.TRIAGE,
            reference=f"SSP-2026-0009{number:02d}",
        )
        for number in range(30)
    ]


def test_the_queue_on_a_desk_screen_shows_results_first_and_selects_every_row(
    desk_page, live_server, district_officer, triage_rows
):
    page = desk_page
    log_in(page, live_server, district_officer.username)
    page.goto(f"{live_server.url}/queue/?view=triage")
    expect(page.locator("#result-count")).to_have_text("30 referrals")
    rows = page.locator("#queue-rows tr.referral")
    expect(rows).to_have_count(25)
    expect(page.locator("#more-filters")).not_to_have_attribute("open", "")
    # The first rows are in the first screen, not below a wall of filters.
    first = rows.first.bounding_box()
    assert first is not None and first["y"] + first["height"] <= DESK["height"], first
    fifth = rows.nth(4).bounding_box()
    assert fifth is not None and fifth["y"] + fifth["height"] <= DESK["height"], fifth
    save_screenshot(page, "e2e-queue-desk.png")

    page.locator("#select-all").check()
    boxes = page.locator("#queue-rows input[name=selected]")
    assert boxes.count() == 25
    for index in range(25):
        expect(boxes.nth(index)).to_be_checked()
    expect(page.locator("#selected-count")).to_have_text("25 selected")
    boxes.nth(3).uncheck()
    assert page.locator("#select-all").evaluate("box => box.indeterminate") is True
    expect(page.locator("#selected-count")).to_have_text("24 selected")

    # After an htmx swap (the next page) select-all works on the new rows.
    page.locator("#next-page").click()
    expect(rows).to_have_count(5)
    expect(page.locator("#select-all")).not_to_be_checked()
    page.locator("#select-all").check()
    for index in range(5):
        expect(page.locator("#queue-rows input[name=selected]").nth(index)).to_be_checked()


def test_a_bulk_withdraw_asks_first_and_changes_nothing_until_confirmed(
    desk_page, live_server, district_officer, triage_rows
):
    page = desk_page
    log_in(page, live_server, district_officer.username)
    page.goto(f"{live_server.url}/queue/?view=triage&sort=oldest")
    rows = page.locator("#queue-rows tr.referral")
    chosen = [
        rows.nth(0).get_attribute("data-reference"),
        rows.nth(1).get_attribute("data-reference"),
    ]
    for index in (0, 1):
        rows.nth(index).locator("input[name=selected]").check()
    bulk = page.locator("#bulk")
    bulk.get_by_label("Action").select_option("cancel")
    bulk.get_by_label("Reason").fill("Filed twice")
    bulk.get_by_role("button", name="Apply to selected").click()

    confirm = page.locator("#bulk-confirm")
    expect(confirm).to_contain_text(str(TRANSITIONS["cancel"].consequence))
    expect(page.locator("#bulk-confirm-references")).to_have_text(", ".join(chosen))
    assert Referral.objects.filter(status=Status.CANCELLED).count() == 0
    confirm.get_by_role("button", name="Withdraw 2 referrals").click()
    for reference in chosen:
        expect(page.locator(".messages")).to_contain_text(f"{reference}: done.")
    assert set(
        Referral.objects.filter(status=Status.CANCELLED).values_list("reference", flat=True)
    ) == set(chosen)


def test_the_inbox_on_a_phone_has_no_inline_forms_and_a_row_leads_to_one_action_form(
    phone_page, live_server, unit_worker, referrer, caring_team, ssp_area, ifsc_unit
):
    page = phone_page
    referrals = [
        factories.ReferralFactory(
            referrer=referrer,
            referring_team=caring_team,
            sub_district=ssp_area,
            status=Status.ASSIGNED,
            assigned_unit=ifsc_unit,
            reference=f"SSP-2026-00080{number}",
        )
        for number in range(3)
    ]
    log_in(page, live_server, unit_worker.username)
    page.goto(f"{live_server.url}/inbox/")
    expect(page.locator("#tab-new .tab-count")).to_have_text("3")
    table = page.locator("#inbox-rows")
    expect(table.locator("tr.referral")).to_have_count(3)
    expect(table.locator("form")).to_have_count(0)
    expect(table.locator("input, textarea, select, button")).to_have_count(0)
    # No sideways scrolling; one case is a short card, not 850 px of forms.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, width
    row = table.locator(f"tr[data-reference='{referrals[0].reference}']")
    box = row.bounding_box()
    assert box is not None and box["height"] < 400, box
    save_screenshot(page, "e2e-inbox-phone.png")

    row.get_by_role("link", name=f"Accept {referrals[0].reference}").click()
    form = page.locator("#action-form")
    expect(form).to_be_visible()
    expect(page.locator("#next-steps form")).to_have_count(1)  # this step's form alone
    expect(page.locator("#action-choices")).to_have_count(0)
    form.get_by_role("button", name="Accept").click()
    expect(page.locator(".messages")).to_contain_text("is now “Accepted”")
    expect(page).to_have_url(f"{live_server.url}/inbox/")
    expect(page.locator("#tab-new .tab-count")).to_have_text("2")
    assert Referral.objects.get(pk=referrals[0].pk).status == Status.ACCEPTED
