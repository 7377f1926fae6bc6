import pytest
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


def unit_codes(response):
    return {unit.code for unit in response.context["page"]}


@pytest.fixture
def directory_units(ifsc_unit, other_unit, ssp_area):
    """IFSC + ICCMW in Sham Shui Po, an IFSC in Yau Tsim Mong, an inactive IFSC in SSP,
    and a PRC located in Kowloon City whose catchment includes Sham Shui Po."""
    return {
        "ifsc": ifsc_unit,
        "iccmw": other_unit,
        "ytm_ifsc": factories.ServiceUnitFactory(
            code="ifsc-e-01",
            district=factories.district("E"),
            catchment_districts=[factories.district("E")],
        ),
        "closed_ifsc": factories.ServiceUnitFactory(code="ifsc-f-09", is_active=False),
        "prc": factories.ServiceUnitFactory(
            code="prc-kcytm",
            unit_type=factories.unit_type("PRC"),
            district=factories.district("G"),
            catchment_districts=[factories.district("G"), factories.district("F")],
        ),
    }


def test_directory_needs_login(client):
    response = client.get(reverse("directory"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_ifsc_units_in_sham_shui_po(client, district_officer, directory_units):
    client.force_login(district_officer)
    response = client.get(reverse("directory"), {"type": "IFSC", "district": "F"})
    assert response.status_code == 200
    assert unit_codes(response) == {"ifsc-f-01"}


def test_search_finds_ifsc_by_english_and_chinese_names(client, district_officer, directory_units):
    client.force_login(district_officer)
    for text in ("Integrated Family Service Centre", "綜合家庭服務中心"):
        response = client.get(reverse("directory"), {"q": text, "district": "F"})
        assert unit_codes(response) == {"ifsc-f-01"}, text


def test_names_are_shown_in_the_active_language(client, district_officer, directory_units):
    client.force_login(district_officer)
    url = reverse("directory") + "?type=IFSC&district=F"
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    chinese = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hant").content.decode()
    assert "Sham Shui Po Integrated Family Service Centre Test" in english
    assert "深水埗綜合家庭服務中心測試" in chinese
    assert "深水埗綜合家庭服務中心測試" not in english


def test_district_filter_includes_units_whose_catchment_reaches_the_district(
    client, district_officer, directory_units
):
    client.force_login(district_officer)
    response = client.get(reverse("directory"), {"district": "F"})
    assert unit_codes(response) == {"ifsc-f-01", "iccmw-f-01", "prc-kcytm"}


def test_need_filter_uses_the_needs_each_unit_type_serves(
    client, district_officer, directory_units
):
    client.force_login(district_officer)
    response = client.get(reverse("directory"), {"need": "mental_health", "district": "F"})
    assert unit_codes(response) == {"ifsc-f-01", "iccmw-f-01"}
    response = client.get(reverse("directory"), {"need": "disability_support"})
    assert unit_codes(response) == {"prc-kcytm"}


def test_inactive_units_are_hidden_unless_asked_for(client, district_officer, directory_units):
    client.force_login(district_officer)
    response = client.get(reverse("directory"), {"type": "IFSC"})
    assert "ifsc-f-09" not in unit_codes(response)
    response = client.get(reverse("directory"), {"type": "IFSC", "include_inactive": "on"})
    assert "ifsc-f-09" in unit_codes(response)


def test_an_unknown_filter_value_is_a_clear_error_and_lists_nothing(
    client, district_officer, directory_units
):
    client.force_login(district_officer)
    response = client.get(reverse("directory"), {"district": "ZZ"})
    assert response.status_code == 200
    assert unit_codes(response) == set()
    assert "Select a valid choice" in response.content.decode()
    response = client.get(reverse("directory"), {"district": "ZZ"}, HTTP_ACCEPT_LANGUAGE="zh-hant")
    assert "選擇有效的選項" in response.content.decode()


def test_the_directory_page_costs_the_same_queries_for_3_or_30_units(
    client, district_officer, django_assert_num_queries, ssp_area
):
    client.force_login(district_officer)
    factories.ServiceUnitFactory.create_batch(3, catchment_sub_districts=[ssp_area])
    with django_assert_num_queries(12) as small:  # 11 + the session's two-factor device
        client.get(reverse("directory"), {"district": "F"})
    factories.ServiceUnitFactory.create_batch(
        27, catchment_districts=[factories.district("F")], catchment_sub_districts=[ssp_area]
    )
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(reverse("directory"), {"district": "F"})
    assert len(response.context["page"]) == 25


def test_pagination_keeps_the_filters(client, district_officer, ssp_area):
    client.force_login(district_officer)
    factories.ServiceUnitFactory.create_batch(30, catchment_sub_districts=[ssp_area])
    response = client.get(reverse("directory"), {"type": "IFSC", "district": "F"})
    assert "?type=IFSC&amp;district=F&amp;page=2" in response.content.decode()
    page_two = client.get(reverse("directory"), {"type": "IFSC", "district": "F", "page": 2})
    assert len(page_two.context["page"]) == 5
