"""End-to-end (issue 18): on a 375 px phone in Chinese, a caring-team member opens the
team's list, records "not at home", then a visit with two needs and "refer" through a lost
signal (the draft stays on the phone and is resent: one visit), files the pre-filled
referral, and the household's timeline shows both; the office's figures count them."""

import re
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from outreach.models import HouseholdStatus, Visit, VisitOutcome, VisitReferral
from referrals.models import Referral, Status
from tests.e2e.conftest import log_in, save_screenshot
from tests.outreach.test_visits import make_household, make_visit_list, two_needs

PHONE_WIDTH = 375


def no_sideways_scroll(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_WIDTH, f"the page scrolls sideways: {width}px"


def test_a_caring_team_member_visits_refers_and_the_office_counts_it(
    phone_page, page, live_server, referrer, district_officer, caring_team, ssp_area
):
    household = make_household(
        make_visit_list(district_officer),
        caring_team,
        sub_district=ssp_area,
        people=2,
        reasons=["carer", "disability"],
        estate_name="石硤尾邨",
    )
    needs = two_needs()
    phone = phone_page
    log_in(phone, live_server, referrer.username)
    phone.locator("button[name=language][value=zh-hant]").click()
    phone.wait_for_load_state()
    expect(phone.locator("html")).to_have_attribute("lang", "zh-Hant-HK")

    row = open_the_team_list(phone, live_server, household)
    record_nobody_at_home(phone, live_server, row)
    record_a_visit_through_a_lost_signal(phone, row, household, needs)
    referral = file_the_referral(phone, household, needs)

    # The household's timeline: both visits and the referral.
    phone.locator("#visit-origin-household").click()
    timeline = phone.locator("#timeline")
    expect(timeline.locator("li[data-kind=visit]")).to_have_count(2)
    expect(timeline.locator("li[data-kind=visit][data-outcome=not_at_home]")).to_have_count(1)
    expect(timeline.locator("li[data-kind=referral]")).to_contain_text(referral.reference)
    household.refresh_from_db()
    assert household.status == HouseholdStatus.REFERRED
    no_sideways_scroll(phone)
    save_screenshot(phone, "e2e-outreach-household.png")

    # The office's figures count them.
    log_in(page, live_server, district_officer.username)
    page.goto(f"{live_server.url}/outreach/figures/")
    conversion = page.locator("#conversion")
    expect(conversion.locator("[data-figure=households]")).to_have_text("1")
    expect(conversion.locator("[data-figure=visited]")).to_have_text("1")
    expect(conversion.locator("[data-figure=visited_visits]")).to_have_text("1")
    expect(conversion.locator("[data-figure=referrals]")).to_have_text("1")


def open_the_team_list(phone, live_server, household):
    phone.locator("#nav-outreach").click()
    expect(phone).to_have_url(f"{live_server.url}/outreach/team/")
    row = phone.locator(f"li.household-row[data-household='{household.public_id}']")
    expect(row).to_be_visible()
    expect(row).not_to_contain_text("陳大文")  # names stay off the list
    no_sideways_scroll(phone)
    save_screenshot(phone, "e2e-outreach-team-list.png")
    return row


def record_nobody_at_home(phone, live_server, row):
    row.locator("a.visit-button").click()
    form = phone.locator("form.visit-form")
    form.locator("input[name=outcome][value=not_at_home]").check()
    expect(form.locator(".needs-section")).to_be_hidden()
    no_sideways_scroll(phone)
    form.locator("#visit-submit").click()
    expect(phone).to_have_url(f"{live_server.url}/outreach/team/")
    expect(phone.locator(".messages")).to_be_visible()
    expect(row.locator(".not-at-home")).to_be_visible()
    assert Visit.objects.get().outcome == VisitOutcome.NOT_AT_HOME


def only_posts(handle):
    def route_handler(route):
        if route.request.method != "POST":
            route.continue_()
        else:
            handle(route)

    return route_handler


def signal_lost(route):  # the POST never reaches the portal
    route.abort("internetdisconnected")


def answer_lost(route):  # the portal records it; its answer is lost on the way back
    route.fetch()
    route.abort("connectionreset")


def record_a_visit_through_a_lost_signal(phone, row, household, needs):
    """Both seen, two needs, 平安鐘, refer. The first send never arrives, the second arrives
    but its answer is lost, the page is opened again: the draft comes back with its token,
    and sending it records nothing more. One visit."""
    row.locator("a.visit-button").click()
    form = phone.locator("form.visit-form")
    form.locator("input[name=outcome][value=visited]").check()
    for person in household.people.all():
        form.locator(f"input[name=seen][value='{person.pk}']").check()
    for need in needs:
        form.locator(f"input[name=needs][value='{need.pk}']").check()
    form.locator("input[name=emergency_link_application]").check()
    form.locator("textarea[name=note]").fill("照顧者身心疲累，長者上星期跌倒。")
    form.locator("input[name=next_step][value=refer]").check()
    expect(form.locator("#field-revisit_on")).to_be_hidden()
    no_sideways_scroll(phone)
    save_screenshot(phone, "e2e-outreach-visit-form.png")
    visit_url = re.compile(rf".*/outreach/households/{household.public_id}/visit/$")
    status = phone.locator("#draft-status")
    not_sent = form.get_attribute("data-msg-not-sent")

    phone.route(visit_url, only_posts(signal_lost))
    with phone.expect_event("requestfailed"):
        form.locator("#visit-submit").click()
    expect(status).to_have_text(not_sent)
    expect(phone.locator("#draft-resend")).to_be_visible()
    assert Visit.objects.count() == 1
    phone.unroute(visit_url)

    phone.route(visit_url, only_posts(answer_lost))
    with phone.expect_event("requestfailed"):
        phone.locator("#draft-resend").click()
    expect(status).to_have_text(not_sent)
    assert Visit.objects.count() == 2
    phone.unroute(visit_url)

    phone.reload()
    form = phone.locator("form.visit-form")
    expect(phone.locator("#draft-status")).to_have_text(form.get_attribute("data-msg-restored"))
    expect(form.locator(f"input[name=needs][value='{needs[0].pk}']")).to_be_checked()
    expect(form.locator("input[name=next_step][value=refer]")).to_be_checked()
    phone.locator("#draft-resend").click()
    expect(phone).to_have_url(re.compile(rf".*/outreach/households/{household.public_id}/#refer$"))
    assert Visit.objects.count() == 2
    visited = Visit.objects.get(outcome=VisitOutcome.VISITED)
    assert set(visited.needs.all()) == set(needs) and visited.emergency_link_application
    drafts = "Object.keys(localStorage).filter(k => k.startsWith('visit-draft'))"
    assert phone.evaluate(drafts) == []


def file_the_referral(phone, household, needs):
    """Refer the elder: the referral form opens filled in; consent is recorded there."""
    elder = household.people.get(position=0)
    refer = phone.locator(f"#refer li.refer-person[data-person='{elder.pk}']")
    save_screenshot(phone, "e2e-outreach-refer.png")
    refer.get_by_role("button").click()
    expect(phone).to_have_url(re.compile(r".*/referrals/[0-9a-f-]{36}/edit/$"))
    form = phone.locator("form.referral-form")
    expect(form.locator("input[name=subject_name_zh]")).to_have_value("陳大文")
    expect(form.locator("input[name=phone]")).to_have_value(re.compile(r"6123\s?4567"))
    expect(form.locator(f"input[name=needs][value='{needs[1].pk}']")).to_be_checked()
    expect(form.locator("input[name=household][value=carer_of_disabled]")).to_be_checked()
    form.locator("input[name=consent_basis][value=consent]").check()
    form.locator("input[name=consent_given_by][value=subject]").check()
    form.locator("input[name=consent_method][value=verbal]").check()
    given_at = timezone.localtime() - timedelta(minutes=10)
    form.locator("input[name=consent_given_at]").fill(given_at.strftime("%Y-%m-%dT%H:%M"))
    no_sideways_scroll(phone)
    form.locator("button[name=submit]").click()
    expect(phone).to_have_url(re.compile(r".*/referrals/[0-9a-f-]{36}/check/$"))
    phone.locator("#submit-referral").click()  # check your answers, then file (issue 19)
    expect(phone).to_have_url(re.compile(r".*/referrals/[0-9a-f-]{36}/filed/$"))
    phone.locator("#view-referral").click()
    expect(phone).to_have_url(re.compile(r".*/referrals/[0-9a-f-]{36}/$"))
    referral = Referral.objects.get()
    assert referral.status != Status.DRAFT
    assert VisitReferral.objects.get().referral == referral
    expect(phone.locator("#visit-origin")).to_be_visible()
    return referral
