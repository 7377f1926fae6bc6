"""End-to-end: a submitted referral is routed with reasons, the unit is told, the office triages.

Tasks run in-process here (``eager_tasks``), as in the demo; tests/integration runs them on a
real worker.
"""

import re

from playwright.sync_api import expect

from referrals.models import Notification, Referral, Status
from services.models import NeedCategory
from tests import factories
from tests.e2e.conftest import log_in, save_screenshot


def test_a_submitted_referral_is_routed_and_the_unit_hears_of_it(
    page, browser, live_server, referrer, ssp_area, ifsc_unit, unit_worker, eager_tasks
):
    log_in(page, live_server, referrer.username)
    page.get_by_role("link", name="New referral").first.click()
    form = page.locator("form.referral-form")
    form.get_by_label("Name in English").fill("Wong Siu Ming")
    form.get_by_label("Female", exact=True).check()
    form.get_by_label("phone").fill("6123 4567")
    form.get_by_label("Family with young children").check()
    form.get_by_label("Child and family").check()
    form.get_by_label("Consent given", exact=True).check()
    form.get_by_label("The person referred").check()
    form.get_by_label("Verbal").check()
    form.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/referrals/[0-9a-f-]{36}/check/$"))
    page.get_by_role("button", name="Submit referral").click()
    expect(page).to_have_url(re.compile(r"/referrals/[0-9a-f-]{36}/filed/$"))
    page.locator("#view-referral").click()
    expect(page).to_have_url(re.compile(r"/referrals/[0-9a-f-]{36}/$"))

    referral = Referral.objects.get()
    assert (referral.status, referral.assigned_unit) == (Status.ASSIGNED, ifsc_unit)
    expect(page.locator("#status")).to_have_text("Assigned")
    expect(page.locator("#assigned-unit")).to_have_text(ifsc_unit.name_en)
    reasons = page.locator("#routing-reasons")
    expect(reasons).to_contain_text("Child and family → IFSC")
    expect(reasons).to_contain_text("covers the sub-district")
    save_screenshot(page, "e2e-routed.png")

    context = browser.new_context(base_url=live_server.url, locale="en-HK")
    worker_page = context.new_page()
    try:
        log_in(worker_page, live_server, unit_worker.username)
        expect(worker_page.locator("#unread-count")).to_have_text("1 unread")
        worker_page.locator("#bell").click()
        item = worker_page.locator(f"[data-reference='{referral.reference}']")
        expect(item).to_contain_text("New referral for your unit")
        item.get_by_role("button").click()
        expect(worker_page.locator("#reference")).to_have_text(referral.reference)
        expect(worker_page.locator("#unread-count")).to_have_count(0)
        worker_page.get_by_role("button", name="Accept").click()
        expect(worker_page.locator("#status")).to_have_text("Accepted")
    finally:
        context.close()
    assert Notification.objects.get(recipient=unit_worker).read_at is not None


def test_the_district_office_overrides_the_suggested_unit_with_a_reason(
    page, live_server, referrer, caring_team, ssp_area, district_officer, other_unit, eager_tasks
):
    suggested = factories.ServiceUnitFactory(
        code="iccmw-f-02",
        unit_type=factories.unit_type("ICCMW"),
        catchment_sub_districts=[ssp_area],
        capacity=100,
        current_load=1,
    )
    referral = factories.ReferralFactory(
        referrer=referrer, referring_team=caring_team, sub_district=ssp_area, status="triage"
    )
    referral.needs.set([NeedCategory.objects.get(code="mental_health")])

    log_in(page, live_server, district_officer.username)
    page.goto(f"{live_server.url}/referrals/{referral.public_id}/")
    triage = page.locator("#triage")
    expect(triage.locator("tr.suggested")).to_contain_text(suggested.name_en)
    triage.locator("select[name=unit]").select_option(str(other_unit.pk))
    triage.get_by_role("button", name="Assign to this unit").click()
    # issue 19: the panel comes back in place, the unit kept, the error beside the reason.
    expect(triage.locator("#route-reason-error")).to_contain_text("give the reason")
    expect(triage.locator("select[name=unit]")).to_have_value(str(other_unit.pk))
    expect(page.locator(".messages")).to_have_count(0)
    assert Referral.objects.get(pk=referral.pk).status == Status.TRIAGE

    triage.get_by_label("Reason").fill("The family already knows this centre")
    triage.get_by_role("button", name="Assign to this unit").click()
    expect(page.locator(".messages")).to_contain_text(f"Assigned to {other_unit.name_en}")
    expect(page.locator("#assigned-unit")).to_have_text(other_unit.name_en)
    expect(page.locator("#timeline")).to_contain_text("The family already knows this centre")
    save_screenshot(page, "e2e-triage.png")
    referral.refresh_from_db()
    assert (referral.status, referral.assigned_unit) == (Status.ASSIGNED, other_unit)
