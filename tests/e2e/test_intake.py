"""End-to-end: a caring-team member files a referral in Chinese on a phone, double-clicking."""

import re

from django.utils import translation
from playwright.sync_api import expect

from referrals.models import Referral, Status
from tests import factories
from tests.e2e.conftest import log_in, save_screenshot

PHONE_WIDTH = 375


def test_referrer_files_a_referral_in_chinese_on_a_phone_and_double_clicks_submit(
    phone_page, live_server, referrer, ssp_area
):
    factories.SubDistrictFactory(code="J01", district=factories.district("J"))
    from services.models import Institution

    kindergarten = Institution.objects.create(
        code="kg-f-test", name_en="Test KG", name_zh="測試幼稚園", district=ssp_area.district
    )
    page = phone_page
    log_in(page, live_server, referrer.username)
    page.locator("button[name=language][value=zh-hant]").click()
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hant-HK")

    page.get_by_role("link", name="新轉介").first.click()
    expect(page.locator("h1")).to_have_text("新轉介")
    form = page.locator("form.referral-form")

    # The sub-district and kindergarten lists follow the district.
    sub_district = form.locator("select[name=sub_district]")
    institution = form.locator("select[name=institution]")
    expect(sub_district).to_have_value(str(ssp_area.pk))
    institution.select_option(str(kindergarten.pk))
    form.locator("select[name=district]").select_option(label="觀塘區")
    expect(sub_district).to_have_value("")
    expect(sub_district.locator(f"option[value='{ssp_area.pk}']")).to_have_count(0)
    expect(institution).to_have_value("")
    expect(institution.locator(f"option[value='{kindergarten.pk}']")).to_be_disabled()
    form.locator("select[name=district]").select_option(label="深水埗區")
    sub_district.select_option(str(ssp_area.pk))

    form.get_by_label("中文姓名").fill("李美華")
    form.get_by_label("女", exact=True).check()
    form.get_by_label("年齡").fill("78")
    form.get_by_label("電話").fill("6987 6543")
    form.get_by_label("地址").fill("深水埗（示範地址）")
    form.locator("select[name=id_type]").select_option("hkid")
    form.get_by_label("身份證明文件號碼").fill("G123456(A)")
    form.get_by_label("獨居").check()
    form.get_by_label("長者照顧").check()
    form.get_by_label("照顧者最近入院").check()
    form.get_by_label("情況").fill("丈夫上星期入院，她無法自行煮食。")
    form.get_by_label("已取得同意").check()
    form.get_by_label("被轉介人士").check()
    form.get_by_label("口頭").check()

    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= PHONE_WIDTH, f"the form scrolls sideways: {scroll_width}px"

    save_screenshot(page, "e2e-intake-zh.png")
    form.get_by_role("button", name="繼續").click()
    # Check your answers (issue 19): every answer, the identity number masked, one button.
    expect(page).to_have_url(re.compile(r"/referrals/[0-9a-f-]{36}/check/$"))
    expect(page.locator("#answer-id_number")).to_contain_text("G12****(*)")
    expect(page.locator("#answer-subject_name_zh")).to_contain_text("李美華")
    page.get_by_role("button", name="提交轉介").dblclick()
    expect(page).to_have_url(re.compile(r"/referrals/[0-9a-f-]{36}/filed/$"))
    referral = Referral.objects.get()
    expect(page.locator("#confirmation #reference")).to_have_text(referral.reference)
    page.locator("#view-referral").click()
    expect(page).to_have_url(re.compile(r"/referrals/[0-9a-f-]{36}/$"))

    referral = Referral.objects.get()
    # Submitted once; a worker routes it after (with tasks run in-process, on a laptop
    # without Redis, that has already happened): the page shows whichever status it has.
    submitted = referral.events.filter(from_status=Status.DRAFT, to_status=Status.SUBMITTED)
    assert submitted.count() == 1
    expect(page.locator("#reference")).to_have_text(referral.reference)
    with translation.override("zh-hant"):
        expect(page.locator("#status")).to_have_text(str(referral.get_status_display()))
    expect(page.locator("#identity-number")).to_have_text("G12****(*)")
    assert Referral.objects.count() == 1
    assert referral.risk_level == "urgent"  # a carer recently hospitalised (issue 16)
    save_screenshot(page, "e2e-referral-zh.png")
