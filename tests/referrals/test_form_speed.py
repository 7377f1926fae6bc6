"""The referral form at a million referrals (issue 20): its sub-district list holds the
chosen district's sub-districts only, the list follows the district through a small
fragment, a sub-district of another district posted without the script gets the rule's
message, the page is sent compressed, and its queries are pinned."""

import gzip
import re

import pytest
from django.urls import reverse

from referrals.models import Referral
from tests import factories

pytestmark = pytest.mark.django_db
NEW = reverse("referrals:new")
OPTIONS = reverse("referrals:sub_districts")


def _sub_district_options(html: str) -> list[tuple[str, bool]]:
    """(value, selected) of every option of the page's sub-district list (or of a fragment)."""
    select = re.search(r'<select[^>]*name="sub_district"[^>]*>(.*?)</select>', html, re.S)
    options = select.group(1) if select else html
    return [
        (value, bool(selected))
        for value, selected in re.findall(r'<option value="([^"]*)"[^>]*?( selected)?>', options)
    ]


@pytest.fixture
def eastern_areas(db):
    """Two sub-districts of Eastern, listed out of code order."""
    eastern = factories.district("C")
    return [
        factories.SubDistrictFactory(code="C02", district=eastern, name_zh="東區二"),
        factories.SubDistrictFactory(code="C01", district=eastern, name_zh="東區一"),
    ]


def test_the_form_lists_only_the_teams_districts_sub_districts(
    client, referrer, ssp_area, eastern_areas
):
    f02 = factories.SubDistrictFactory(code="F02", district=ssp_area.district)
    client.force_login(referrer)
    html = client.get(NEW).content.decode()
    assert _sub_district_options(html) == [
        ("", False),
        (str(ssp_area.pk), True),
        (str(f02.pk), False),
    ]
    for area in eastern_areas:
        assert f"C0{area.code[-1]} · " not in html
    # The district list asks for the options of the district chosen, into the list.
    district = re.search(r'<select[^>]*name="district"[^>]*>', html).group(0)
    assert f'hx-get="{OPTIONS}"' in district and 'hx-target="#id_sub_district"' in district


def test_a_draft_in_another_district_lists_that_districts_sub_districts(
    client, referrer, caring_team, eastern_areas
):
    c01, c02 = eastern_areas[1], eastern_areas[0]
    draft = factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        status="draft",
        reference=None,
        district=c01.district,
        sub_district=c02,
    )
    client.force_login(referrer)
    html = client.get(reverse("referrals:edit", args=[draft.public_id])).content.decode()
    assert _sub_district_options(html) == [("", False), (str(c01.pk), False), (str(c02.pk), True)]


def test_the_fragment_gives_the_options_of_the_district_asked(
    client, referrer, ssp_area, eastern_areas
):
    client.force_login(referrer)
    eastern = eastern_areas[0].district
    response = client.get(OPTIONS, {"district": eastern.pk})
    assert response.status_code == 200
    html = response.content.decode()
    c01, c02 = eastern_areas[1], eastern_areas[0]
    # "Whole district / not known" chosen: the district changed, so did the sub-district.
    assert _sub_district_options(html) == [("", True), (str(c01.pk), False), (str(c02.pk), False)]
    assert f'<option value="{c01.pk}" data-district="{eastern.pk}">C01 · ' in html
    assert "<select" not in html  # the options alone: they replace the list's
    assert str(ssp_area.pk) not in [value for value, _ in _sub_district_options(html)]
    # In the reader's language.
    zh = client.get(OPTIONS, {"district": eastern.pk}, HTTP_ACCEPT_LANGUAGE="zh-hant")
    assert "C01 · 東區一" in zh.content.decode()
    assert '<option value="" selected>全區／不詳</option>' in zh.content.decode()


def test_no_district_chosen_gives_only_the_whole_district_option(client, referrer, ssp_area):
    client.force_login(referrer)
    for query in ({"district": ""}, {}):
        response = client.get(OPTIONS, query)
        assert response.status_code == 200
        assert _sub_district_options(response.content.decode()) == [("", True)]


@pytest.mark.parametrize("district", ["abc", "0", "-3", "999999", "99999999999999999999", "1.5"])
def test_a_district_that_does_not_exist_is_a_400_saying_so(client, referrer, district):
    client.force_login(referrer)
    response = client.get(OPTIONS, {"district": district})
    assert response.status_code == 400
    assert response.content.decode() == "There is no such district: choose one from the list."
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    chinese = client.get(OPTIONS, {"district": district}, HTTP_ACCEPT_LANGUAGE="zh-hant")
    assert chinese.content.decode() == "沒有這個地區：請從清單中選擇。"


def test_the_fragment_is_for_referrers_only(client, unit_worker, ssp_area):
    district = {"district": ssp_area.district_id}
    anonymous = client.get(OPTIONS, district)
    assert anonymous.status_code == 302 and anonymous.url.startswith(reverse("login"))
    client.force_login(unit_worker)
    assert client.get(OPTIONS, district).status_code == 403


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "This sub-district is not in the chosen district."),
        ("zh-hant", "這個小區不屬於所選的地區。"),
    ],
)
@pytest.mark.parametrize("save", ["submit", "save_draft"])
def test_without_the_script_a_sub_district_of_another_district_is_refused(
    client, referrer, referral_form, ssp_area, eastern_areas, language, message, save
):
    """The district changed, the list not (no script): the rule's message beside the list,
    and the list drawn again with the posted district's sub-districts."""
    client.force_login(referrer)
    eastern = eastern_areas[0].district
    data = referral_form(district=eastern.pk, sub_district=ssp_area.pk, submit=None)
    response = client.post(NEW, {**data, save: "1"}, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 400
    assert response.context["form"].errors["sub_district"] == [message]
    html = response.content.decode()
    assert re.search(r'<div class="field has-error" id="field-sub_district">', html)
    assert message in html
    c01, c02 = eastern_areas[1], eastern_areas[0]
    assert _sub_district_options(html) == [("", False), (str(c01.pk), False), (str(c02.pk), False)]
    assert not Referral.objects.exists()


def test_a_posted_district_that_is_no_number_lists_no_sub_district(
    client, referrer, referral_form, ssp_area
):
    client.force_login(referrer)
    response = client.post(NEW, referral_form(district="abc"))
    assert response.status_code == 400
    assert "district" in response.context["form"].errors
    assert _sub_district_options(response.content.decode()) == [("", False)]


def test_the_form_is_sent_compressed_when_asked_and_is_small(client, referrer, ssp_area):
    client.force_login(referrer)
    plain = client.get(NEW)
    assert not plain.has_header("Content-Encoding")
    response = client.get(NEW, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    assert len(response.content) <= 15 * 1024
    assert int(response["Content-Length"]) == len(response.content)
    html = gzip.decompress(response.content).decode()
    assert 'name="sub_district"' in html and "</html>" in html


# The form's GET: the session, the user and the two-factor device; the referrer's teams
# (with their districts: the check, the first team and the list in one), the team's first
# sub-district; the page's notification count and the user's districts; then the lists:
# districts, the chosen district's sub-districts, institutions, needs. Issue 20 found 14 on
# the bench (the teams read three times, the team's district once more, all 452
# sub-districts).
FORM_GET_QUERIES = 10


def test_the_form_takes_a_fixed_number_of_queries(
    client, referrer, ssp_area, eastern_areas, django_assert_num_queries
):
    client.force_login(referrer)
    for number in range(3):
        factories.SubDistrictFactory(code=f"F1{number}", district=ssp_area.district)
        factories.ServiceUnitFactory(code=f"care-team-extra-{number}")
    with django_assert_num_queries(FORM_GET_QUERIES):
        assert client.get(NEW).status_code == 200


def test_the_fragment_takes_a_fixed_number_of_queries(
    client, referrer, ssp_area, eastern_areas, django_assert_num_queries
):
    client.force_login(referrer)
    # The session, user and device; the referrer's teams; the district; its sub-districts.
    with django_assert_num_queries(6):
        client.get(OPTIONS, {"district": ssp_area.district_id})
