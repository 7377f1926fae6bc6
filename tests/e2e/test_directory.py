"""End-to-end: logging in, the role-based home page and the service directory on a phone."""

import pytest
from playwright.sync_api import Page, expect

from tests import factories
from tests.e2e.conftest import fill_login_form, log_in, save_screenshot

PHONE_WIDTH = 375
ROLE_SECTIONS = {
    "referrer": "referrer",
    "unit_worker": "unit",
    "district_officer": "district-officer",
    "admin_user": "administrator",
}


@pytest.fixture
def kwun_tong_ifsc(db):
    """The control unit: the right type, but in and serving Kwun Tong (E), not Sham Shui Po."""
    kt_area = factories.SubDistrictFactory(code="E01", district=factories.district("E"))
    return factories.ServiceUnitFactory(
        code="ifsc-e-01",
        name_en="Kwun Tong Integrated Family Service Centre Control",
        name_zh="觀塘綜合家庭服務中心對照",
        unit_type=factories.unit_type("IFSC"),
        district=factories.district("E"),
        catchment_sub_districts=[kt_area],
    )


@pytest.fixture
def directory_units(ifsc_unit, other_unit, kwun_tong_ifsc, caring_team):
    return {"wanted": ifsc_unit, "unwanted": [other_unit, kwun_tong_ifsc, caring_team]}


def shown_unit_codes(page: Page) -> list[str]:
    return page.locator("li.unit").evaluate_all("units => units.map(u => u.dataset.unitCode)")


def search_ifsc_in_sham_shui_po(page: Page, live_server) -> None:
    page.get_by_role("link", name="Service directory").click()
    expect(page).to_have_url(f"{live_server.url}/directory/")
    form = page.locator("form.filters")
    form.locator("select[name=type]").select_option("IFSC")
    form.locator("select[name=district]").select_option("F")
    form.get_by_role("button", name="Search").click()
    page.wait_for_load_state()


def assert_only_the_ssp_ifsc_is_listed(page: Page, units) -> None:
    assert shown_unit_codes(page) == [units["wanted"].code]
    for unit in units["unwanted"]:
        expect(page.locator("main")).not_to_contain_text(unit.name_en)
        expect(page.locator("main")).not_to_contain_text(unit.name_zh)


def query_of(page: Page) -> str:
    return page.url.split("?", 1)[1] if "?" in page.url else ""


def test_referrer_finds_the_sham_shui_po_ifsc_on_a_phone(
    phone_page, live_server, referrer, caring_team, directory_units
):
    page = phone_page
    with page.expect_response("**/static/css/portal.css") as stylesheet:
        log_in(page, live_server, referrer.username)
    assert stylesheet.value.status == 200
    # The stylesheet is applied, not only fetched.
    assert page.evaluate("getComputedStyle(document.body).margin") == "0px"

    expect(page.locator("section[data-role=referrer]")).to_be_visible()
    expect(page.locator("section[data-role=referrer]")).to_contain_text(caring_team.name_en)

    search_ifsc_in_sham_shui_po(page, live_server)

    assert "type=IFSC" in query_of(page)
    assert "district=F" in query_of(page)
    assert_only_the_ssp_ifsc_is_listed(page, directory_units)
    expect(page.locator("li.unit h2.unit-name")).to_have_text([directory_units["wanted"].name_en])
    expect(page.locator("#result-count")).to_have_text("1 unit found")
    expect(page.locator("select[name=type]")).to_have_value("IFSC")
    expect(page.locator("select[name=district]")).to_have_value("F")

    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= PHONE_WIDTH, f"page scrolls sideways: {scroll_width}px wide"

    save_screenshot(page, "e2e-directory.png")


def test_directory_search_survives_switching_to_chinese(
    phone_page, live_server, referrer, directory_units
):
    page = phone_page
    log_in(page, live_server, referrer.username)
    search_ifsc_in_sham_shui_po(page, live_server)
    expect(page.locator("html")).to_have_attribute("lang", "en-HK")

    page.locator("button[name=language][value=zh-hant]").click()
    page.wait_for_load_state()

    expect(page.locator("html")).to_have_attribute("lang", "zh-Hant-HK")
    assert page.url.split("?")[0] == f"{live_server.url}/directory/"
    assert "type=IFSC&district=F" in query_of(page)
    expect(page.locator("select[name=type]")).to_have_value("IFSC")
    expect(page.locator("select[name=district]")).to_have_value("F")
    expect(page.locator("li.unit h2.unit-name")).to_have_text(["深水埗綜合家庭服務中心測試"])
    assert_only_the_ssp_ifsc_is_listed(page, directory_units)
    expect(page.locator("button[name=language][value=zh-hant]")).to_be_disabled()
    expect(page.locator("button[name=language][value=en]")).to_be_enabled()

    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= PHONE_WIDTH, f"page scrolls sideways in Chinese: {scroll_width}px"
    save_screenshot(page, "e2e-directory-zh.png")

    # The choice sticks to the session's cookie, and switching back works the same way.
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hant-HK")
    page.locator("button[name=language][value=en]").click()
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "en-HK")
    assert "type=IFSC&district=F" in query_of(page)
    expect(page.locator("li.unit h2.unit-name")).to_have_text([directory_units["wanted"].name_en])


@pytest.mark.parametrize("persona", ROLE_SECTIONS)
def test_each_persona_lands_on_a_home_page_for_their_role(page, live_server, persona, request):
    user = request.getfixturevalue(persona)
    log_in(page, live_server, user.username)

    own = ROLE_SECTIONS[persona]
    expect(page.locator(f"section[data-role={own}]")).to_be_visible()
    for role in set(ROLE_SECTIONS.values()) - {own}:
        expect(page.locator(f"section[data-role={role}]")).to_have_count(0)
    expect(page.locator("section[data-role=none]")).to_have_count(0)


def test_district_officer_home_links_to_their_districts(page, live_server, district_officer):
    log_in(page, live_server, district_officer.username)
    section = page.locator("section[data-role=district-officer]")
    expect(section.locator('a[href="/directory/?district=F"]')).to_have_count(1)


def test_a_wrong_password_keeps_the_user_on_the_login_page(page, live_server, referrer):
    fill_login_form(page, live_server, referrer.username, "not-the-password-at-all")

    expect(page).to_have_url(f"{live_server.url}/login/")
    expect(page.locator("main .error-summary[role=alert]")).to_be_visible()
    expect(page.locator("main .error-summary[role=alert]")).not_to_be_empty()
    expect(page.locator("input[name=username]")).to_have_value(referrer.username)
    expect(page.locator("input[name=password]")).to_have_value("")
    expect(page.locator(".site-nav form")).to_have_count(0)

    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/")
    assert not any(c["name"] == "sessionid" for c in page.context.cookies())
