"""End-to-end (issue 19): the referral page shows one action form at a time, and withdrawing
asks for confirmation; nothing changes until it is given."""

from playwright.sync_api import expect

from referrals.models import Referral, ReferralEvent, Status
from tests import factories
from tests.e2e.conftest import log_in, save_screenshot

REASON = "The family moved to Shenzhen"


def test_withdrawing_asks_for_confirmation_and_nothing_changes_until_it_is_given(
    page, live_server, referrer, caring_team, ssp_area, ifsc_unit
):
    referral = factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        sub_district=ssp_area,
        status=Status.ASSIGNED,
        assigned_unit=ifsc_unit,
        reference="SSP-2026-000301",
    )
    log_in(page, live_server, referrer.username)
    page.goto(f"{live_server.url}/referrals/{referral.public_id}/")

    steps = page.locator("#next-steps")
    steps.get_by_role("link", name="Withdraw").click()
    form = page.locator("#action-form")
    expect(form).to_be_visible()
    expect(page.locator("#action-choices")).to_have_count(0)  # one form, alone
    form.get_by_label("Reason").fill(REASON)
    form.get_by_role("button", name="Withdraw").click()

    confirm = page.locator("#confirm-step")
    expect(confirm).to_contain_text("The referral is withdrawn")
    expect(confirm.locator("#confirm-reason")).to_have_text(REASON)
    save_screenshot(page, "e2e-confirm-withdraw.png")
    assert Referral.objects.get(pk=referral.pk).status == Status.ASSIGNED

    confirm.get_by_role("link", name="No, go back").click()
    expect(page).to_have_url(f"{live_server.url}/referrals/{referral.public_id}/")
    expect(page.locator("#status")).to_have_text("Assigned")
    after = Referral.objects.get(pk=referral.pk)
    assert (after.status, after.version) == (Status.ASSIGNED, referral.version)
    assert not ReferralEvent.objects.filter(referral=referral).exists()

    page.locator("#next-steps").get_by_role("link", name="Withdraw").click()
    page.locator("#action-form").get_by_label("Reason").fill(REASON)
    page.locator("#action-form").get_by_role("button", name="Withdraw").click()
    page.locator("#confirm-step").get_by_role("button", name="Yes, withdraw").click()

    expect(page.locator(".messages")).to_contain_text(f"{referral.reference} is now “Cancelled”")
    expect(page.locator("#status")).to_have_text("Cancelled")
    event = ReferralEvent.objects.get(referral=referral)
    assert (event.to_status, event.reason, event.actor) == (Status.CANCELLED, REASON, referrer)


def test_the_unit_sees_one_action_form_at_a_time_and_cancel_brings_back_the_choices(
    page, live_server, unit_worker, referrer, caring_team, ssp_area, ifsc_unit
):
    referral = factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        sub_district=ssp_area,
        status=Status.IN_PROGRESS,
        assigned_unit=ifsc_unit,
        reference="SSP-2026-000302",
    )
    log_in(page, live_server, unit_worker.username)
    page.goto(f"{live_server.url}/referrals/{referral.public_id}/")
    choices = page.locator("#action-choices")
    expect(choices).to_be_visible()
    expect(page.locator("#action-form")).to_have_count(0)
    expect(page.locator("#next-steps textarea, #next-steps input[name=reason]")).to_have_count(0)

    choices.get_by_role("link", name="Complete").click()
    form = page.locator("#action-form")
    expect(page.locator("#next-steps form")).to_have_count(1)
    expect(form.get_by_label("Services provided")).to_be_visible()
    expect(form.get_by_label("Outcome summary (the referrer sees this)")).to_be_visible()
    expect(form).to_contain_text("Internal: not shown to the referrer")
    expect(form.locator("input[name=reason]")).to_have_count(0)  # not another step's field

    form.get_by_role("link", name="Cancel").click()
    expect(page.locator("#action-choices")).to_be_visible()
    expect(page.locator("#action-form")).to_have_count(0)
    assert Referral.objects.get(pk=referral.pk).status == Status.IN_PROGRESS
