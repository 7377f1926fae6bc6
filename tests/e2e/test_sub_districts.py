"""End-to-end (issue 20): the form's sub-district list holds the chosen district's
sub-districts only; changing the district replaces them (htmx fetches the district's
options) and the referral is filed with the sub-district chosen from the new list."""

import re

from playwright.sync_api import expect

from referrals.models import Referral
from tests import factories
from tests.e2e.conftest import log_in


def test_changing_the_district_replaces_the_sub_districts_and_the_referral_is_filed(
    page, live_server, referrer, ssp_area
):
    kwun_tong = factories.district("J")
    j01 = factories.SubDistrictFactory(code="J01", district=kwun_tong, name_en="Ngau Tau Kok")
    j02 = factories.SubDistrictFactory(code="J02", district=kwun_tong, name_en="Kwun Tong Town")
    log_in(page, live_server, referrer.username)
    page.goto(f"{live_server.url}/referrals/new/")
    form = page.locator("form.referral-form")
    sub_district = form.locator("select[name=sub_district]")
    options = sub_district.locator("option")

    # The team's district: its sub-district chosen, no other district's listed.
    expect(sub_district).to_have_value(str(ssp_area.pk))
    expect(options).to_have_count(2)
    expect(sub_district.locator(f"option[value='{j01.pk}']")).to_have_count(0)

    with page.expect_response(re.compile(r"/referrals/new/sub-districts/\?district=")) as asked:
        form.locator("select[name=district]").select_option(str(kwun_tong.pk))
    assert asked.value.status == 200
    expect(options).to_have_count(3)  # "Whole district / not known", J01, J02
    expect(sub_district.locator(f"option[value='{ssp_area.pk}']")).to_have_count(0)
    expect(sub_district).to_have_value("")
    expect(options.nth(1)).to_have_text("J01 · Ngau Tau Kok")
    expect(options.nth(2)).to_have_text("J02 · Kwun Tong Town")
    sub_district.select_option(str(j02.pk))

    form.locator("input[name=subject_name_zh]").fill("陳大文")
    form.get_by_label("Male", exact=True).check()
    form.locator("input[name=age]").fill("81")
    form.locator("input[name=phone]").fill("6123 4567")
    form.locator("input[name=household][value=lives_alone]").check()
    form.get_by_label("Elderly care", exact=True).check()
    form.locator("input[name=consent_basis][value=consent]").check()
    form.locator("input[name=consent_given_by][value=subject]").check()
    form.locator("input[name=consent_method][value=verbal]").check()
    form.get_by_role("button", name="Continue").click()

    expect(page).to_have_url(re.compile(r"/referrals/[0-9a-f-]{36}/check/$"))
    expect(page.locator("#answer-sub_district")).to_contain_text("Kwun Tong Town")
    # "Change" leads back to the draft, its district's list, its sub-district chosen.
    page.locator("#answer-sub_district").get_by_role("link").click()
    expect(sub_district).to_have_value(str(j02.pk))
    expect(options).to_have_count(3)
    form.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/referrals/[0-9a-f-]{36}/check/$"))
    page.get_by_role("button", name="Submit referral").click()
    expect(page).to_have_url(re.compile(r"/referrals/[0-9a-f-]{36}/filed/$"))
    referral = Referral.objects.get()
    assert (referral.district_id, referral.sub_district_id) == (kwun_tong.pk, j02.pk)
