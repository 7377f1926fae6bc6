"""The district office's list pages: its lists with their counts, a new list, a list's
households and per-team summary (no names), importing a file (a refused one shows its
report, nothing stored), moving a household or a block, a household's priority; anyone
but the office gets a 404."""

import pytest
from django.urls import reverse

from outreach.loading import COLUMNS, load_households
from outreach.models import Household, OutreachAccessLog, VisitList
from tests import factories
from tests.outreach import csv_upload, make_list, row

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit_list(district_officer, caring_team):
    visit_list = make_list(district_officer)
    load_households(visit_list, [row(n, block="A" if n < 4 else "B") for n in range(1, 6)])
    return visit_list


@pytest.fixture
def second_team(ssp_area):
    return factories.ServiceUnitFactory(
        code="care-team-f01-b",
        name_en="Second caring team",
        unit_type=factories.unit_type("CARE_TEAM"),
        catchment_sub_districts=[ssp_area],
    )


def _url(name, visit_list):
    return reverse(f"outreach:{name}", kwargs={"public_id": visit_list.public_id})


def test_the_index_lists_the_offices_lists_with_counts(
    client, district_officer, visit_list, django_assert_max_num_queries
):
    for number in range(5):
        other = make_list(district_officer, name=f"Another list {number}")
        load_households(other, [row(1), row(2)])
    Household.objects.filter(visit_list=visit_list, source_row_id="1").update(status="refused")
    client.force_login(district_officer)
    with django_assert_max_num_queries(14):
        response = client.get(reverse("outreach:lists"))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Elderly living alone, test" in text and "Another list 4" in text
    row_of_list = text.split(f'data-list="{visit_list.public_id}"')[1].split("</tr>")[0]
    assert '<td class="count-total">5</td>' in row_of_list
    assert '<td class="count-left">4</td>' in row_of_list


def test_an_office_makes_a_list_for_its_own_office_only(client, district_officer):
    client.force_login(district_officer)
    response = client.get(reverse("outreach:list_create"))
    assert response.status_code == 200
    kt = factories.office("KT")
    data = {
        "name": "Carers register match",
        "source": "carers",
        "welfare_office": kt.pk,
        "target_date": "2027-03-31",
    }
    response = client.post(reverse("outreach:list_create"), data)
    assert response.status_code == 400 and not VisitList.objects.exists()
    data["welfare_office"] = factories.office("SSP").pk
    response = client.post(reverse("outreach:list_create"), data)
    made = VisitList.objects.get()
    assert response.status_code == 302 and response.url == _url("list_detail", made)
    assert made.created_by == district_officer


def test_the_list_page_shows_addresses_and_a_team_summary_without_names(
    client, district_officer, visit_list, caring_team, django_assert_max_num_queries
):
    client.force_login(district_officer)
    with django_assert_max_num_queries(14):
        response = client.get(_url("list_detail", visit_list))
    text = response.content.decode()
    assert response.status_code == 200
    assert "Test Estate, A, 12/F, 1" in text
    assert "陳測試" not in text and "Chan Test" not in text
    assert caring_team.name in text
    assert f"?list={visit_list.public_id}" in text
    assert _url("list_import", visit_list) in text
    assert not OutreachAccessLog.objects.exists()
    filtered = client.get(_url("list_detail", visit_list), {"status": "refused"})
    assert "Test Estate, A" not in filtered.content.decode()


def test_a_refused_file_shows_its_report_and_stores_nothing(client, district_officer, visit_list):
    client.force_login(district_officer)
    upload = csv_upload([row(10), row(11, person1_phone="1"), row(12, reasons="nonsense")])
    response = client.post(_url("list_import", visit_list), {"file": upload})
    assert response.status_code == 400
    text = response.content.decode()
    assert 'data-line="3" data-field="person1_phone"' in text
    assert 'data-line="4" data-field="reasons"' in text
    assert Household.objects.filter(visit_list=visit_list).count() == 5


def test_a_good_file_loads_and_says_how_many(client, district_officer, visit_list):
    client.force_login(district_officer)
    upload = csv_upload([row(1), row(2), row(20)])
    response = client.post(_url("list_import", visit_list), {"file": upload}, follow=True)
    assert "1 household loaded, 2 already there." in response.content.decode()
    assert Household.objects.filter(visit_list=visit_list).count() == 6


def test_the_template_has_the_header_row(client, district_officer, visit_list):
    client.force_login(district_officer)
    response = client.get(_url("list_import", visit_list), {"template": "1"})
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.decode().strip() == ",".join(COLUMNS)


def test_the_import_report_is_in_chinese_for_a_chinese_reader(client, district_officer, visit_list):
    client.force_login(district_officer)
    upload = csv_upload([row(30, person1_id_type="hkid", person1_id_number="A1234567")])
    response = client.post(
        _url("list_import", visit_list), {"file": upload}, HTTP_ACCEPT_LANGUAGE="zh-hant"
    )
    assert response.status_code == 400
    assert "身份證號碼無效：檢查碼不相符。" in response.content.decode()


def test_moving_a_block_and_a_household_from_the_list_page(
    client, district_officer, visit_list, second_team
):
    client.force_login(district_officer)
    response = client.post(
        _url("households_move", visit_list),
        {"team": second_team.pk, "estate_name": "Test Estate", "block": "B"},
    )
    assert response.status_code == 302
    assert set(
        Household.objects.filter(team=second_team).values_list("source_row_id", flat=True)
    ) == {"4", "5"}
    one = Household.objects.get(source_row_id="1")
    client.post(
        _url("households_move", visit_list), {"team": second_team.pk, "households": one.public_id}
    )
    one.refresh_from_db()
    assert one.team == second_team


def test_the_office_sets_a_priority_from_the_household_page(client, district_officer, visit_list):
    household = Household.objects.get(source_row_id="1")
    client.force_login(district_officer)
    response = client.post(_url("household_priority", household), {"priority": "0", "version": "1"})
    assert response.status_code == 302 and response.url == _url("household", household)
    household.refresh_from_db()
    assert household.priority_override == 0
    stale = client.post(_url("household_priority", household), {"priority": "3", "version": "1"})
    assert stale.status_code == 302
    household.refresh_from_db()
    assert household.priority_override == 0


@pytest.mark.parametrize("outsider", ["other_district_officer", "unit_worker", "referrer"])
def test_outsiders_get_404_on_every_list_page(request, client, outsider, visit_list, second_team):
    user = request.getfixturevalue(outsider)
    client.force_login(user)
    household = Household.objects.get(source_row_id="1")
    for response in (
        client.get(_url("list_detail", visit_list)),
        client.get(_url("list_import", visit_list)),
        client.post(_url("list_import", visit_list), {"file": csv_upload([row(40)])}),
        client.post(
            _url("households_move", visit_list),
            {"team": second_team.pk, "estate_name": "Test Estate", "block": "A"},
        ),
        client.post(_url("household_priority", household), {"priority": "0", "version": "1"}),
    ):
        assert response.status_code == 404
    if outsider != "other_district_officer":
        assert client.get(reverse("outreach:lists")).status_code == 404
        assert client.get(reverse("outreach:list_create")).status_code == 404
    else:
        assert visit_list.name not in client.get(reverse("outreach:lists")).content.decode()
    assert not Household.objects.filter(team=second_team).exists()
    assert Household.objects.filter(visit_list=visit_list).count() == 5


def test_the_admin_shows_addresses_and_logs_a_households_page(client, admin_user, visit_list):
    client.force_login(admin_user)
    listing = client.get(reverse("admin:outreach_household_changelist"))
    assert listing.status_code == 200
    assert "Test Estate" in listing.content.decode() and "陳測試" not in listing.content.decode()
    assert not OutreachAccessLog.objects.exists()
    household = Household.objects.get(source_row_id="1")
    page = client.get(reverse("admin:outreach_household_change", args=[household.pk]))
    assert page.status_code == 200 and "陳測試" in page.content.decode()
    log = OutreachAccessLog.objects.get()
    assert (log.household, log.user, log.channel, log.detail) == (
        household,
        admin_user,
        "page",
        "admin",
    )
    lists = client.get(reverse("admin:outreach_visitlist_changelist")).content.decode()
    assert _url("list_import", visit_list) in lists
