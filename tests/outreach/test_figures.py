"""Outreach's figures: the counts, by week, the conversion, the scope, the page, the CSV and
the office's dashboard panel."""

import csv
import io
import uuid
from datetime import UTC, date, datetime

import pytest
from django.urls import reverse
from django.utils import translation

from outreach.figures import HONG_KONG, figures_for, first_week
from outreach.models import (
    Household,
    HouseholdStatus,
    Person,
    Visit,
    VisitList,
    VisitOutcome,
    VisitReferral,
)
from outreach.web.figure_views import COLUMNS, dashboard_panel
from referrals.models import Status
from tests import factories

pytestmark = pytest.mark.django_db

# A Wednesday: this week began Monday 13 April 00:00 (Hong Kong).
NOW = datetime(2026, 4, 15, 10, 0, tzinfo=HONG_KONG)
FIGURES = reverse("outreach:figures")
EXPORT = reverse("outreach:figures_export")
DASHBOARD = reverse("dashboard:index")


@pytest.fixture(autouse=True)
def _clock(monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW.astimezone(UTC))


def hk(*args) -> datetime:
    return datetime(*args, tzinfo=HONG_KONG)


@pytest.fixture
def team_b(ssp_area):
    return factories.ServiceUnitFactory(
        code="care-team-f01-b",
        unit_type=factories.unit_type("CARE_TEAM"),
        catchment_sub_districts=[ssp_area],
        capacity=0,
    )


def make_list(office_code, creator, name) -> VisitList:
    return VisitList.objects.create(
        name=name,
        source="housing",
        welfare_office=factories.office(office_code),
        target_date=date(2026, 12, 31),
        created_by=creator,
    )


class Builder:
    """Households, people, visits and referrals written straight to the tables."""

    def __init__(self, visitor):
        self.visitor = visitor
        self.rows = 0

    def household(self, visit_list, team, status=HouseholdStatus.TO_VISIT, *, sub_district):
        self.rows += 1
        return Household.objects.create(
            visit_list=visit_list,
            source_row_id=f"row-{self.rows}",
            estate_name="Shek Kip Mei Estate",
            block="Block 3",
            floor="12",
            flat="08",
            district=sub_district.district,
            sub_district=sub_district,
            team=team,
            status=status,
        )

    def person(self, household, name="陳大文", phone="+85291234567") -> Person:
        return Person.objects.create(household=household, name_zh=name, phone=phone)

    def visit(self, household, at, outcome=VisitOutcome.NOT_AT_HOME, **fields) -> Visit:
        return Visit.objects.create(
            token=uuid.uuid4(),
            household=household,
            team=fields.pop("team", None) or household.team,
            visited_by=self.visitor,
            visited_at=at,
            outcome=outcome,
            **fields,
        )

    def referral(self, visit, person, *, submitted_at, status=Status.SUBMITTED):
        referral = factories.ReferralFactory(
            status=status, submitted_at=None if status == Status.DRAFT else submitted_at
        )
        return VisitReferral.objects.create(visit=visit, person=person, referral=referral)


@pytest.fixture
def data(referrer, caring_team, team_b, ssp_area, district_officer, other_district_officer):
    """Sham Shui Po's lists (office SSP): list A with five households of team A and one of
    team B, list B still empty; and Kwun Tong's list (office KT), which SSP must not count."""
    build = Builder(referrer)
    list_a = make_list("SSP", district_officer, "Elderly living alone, HD match")
    list_b = make_list("SSP", district_officer, "Carers, SWD records")
    h1 = build.household(list_a, caring_team, HouseholdStatus.REFERRED, sub_district=ssp_area)
    p1, p2 = build.person(h1), build.person(h1, name="陳小文")
    build.visit(h1, hk(2026, 4, 8, 15))  # last week, nobody at home
    v1 = build.visit(h1, hk(2026, 4, 14, 11), VisitOutcome.VISITED, emergency_link_application=True)
    build.referral(v1, p1, submitted_at=hk(2026, 4, 14, 12))
    build.referral(v1, p2, submitted_at=None, status=Status.DRAFT)  # a draft: not counted
    h2 = build.household(list_a, caring_team, HouseholdStatus.NO_FOLLOW_UP, sub_district=ssp_area)
    build.visit(h2, hk(2026, 3, 30, 0, 30), VisitOutcome.VISITED)  # Monday 00:30 HK
    h3 = build.household(list_a, caring_team, HouseholdStatus.UNREACHABLE, sub_district=ssp_area)
    for day in (hk(2026, 3, 25, 10), hk(2026, 4, 1, 10), hk(2026, 4, 9, 10)):
        build.visit(h3, day)
    h4 = build.household(list_a, caring_team, HouseholdStatus.REFUSED, sub_district=ssp_area)
    build.visit(h4, hk(2026, 4, 10, 10), VisitOutcome.REFUSED)
    build.household(list_a, caring_team, sub_district=ssp_area)  # not visited yet
    # Team B's household: visited and referred 13 weeks ago, before the 12 weeks shown.
    h6 = build.household(list_a, team_b, HouseholdStatus.REFERRED, sub_district=ssp_area)
    v6 = build.visit(h6, hk(2026, 1, 14, 10), VisitOutcome.VISITED)
    build.referral(v6, build.person(h6, name="黃大仙"), submitted_at=hk(2026, 1, 14, 11))

    kwun_tong = factories.SubDistrictFactory(code="J01", district=factories.district("J"))
    list_k = make_list("KT", other_district_officer, "Kwun Tong elders")
    hk_team = factories.ServiceUnitFactory(unit_type=factories.unit_type("CARE_TEAM"))
    k1 = build.household(list_k, hk_team, HouseholdStatus.REFERRED, sub_district=kwun_tong)
    vk = build.visit(k1, hk(2026, 4, 14, 10), VisitOutcome.VISITED)
    build.referral(vk, build.person(k1, name="李四"), submitted_at=hk(2026, 4, 14, 10))
    return {"list_a": list_a, "list_b": list_b, "list_k": list_k, "team_b": team_b}


def counts(row) -> dict:
    return {name: getattr(row, name) for name in vars(row)}


SSP_TOTAL = {
    "households": 6,
    "visited": 3,
    "unreachable": 1,
    "refused": 1,
    "visits": 8,
    "visited_visits": 3,
    "referrals": 2,
    "emergency_links": 1,
}


def test_the_office_counts_its_districts(district_officer, data, caring_team):
    figures = figures_for(district_officer, now=NOW)
    assert counts(figures.total) == SSP_TOTAL
    assert figures.total.conversion == pytest.approx(200 / 3)
    by_list = {row.visit_list.name: counts(row.counts) for row in figures.lists}
    assert by_list["Elderly living alone, HD match"] == SSP_TOTAL
    assert by_list["Carers, SWD records"]["households"] == 0  # a new list shows, at zero
    assert "Kwun Tong elders" not in by_list
    by_team = {row.team: counts(row.counts) for row in figures.teams}
    assert by_team[caring_team] == {
        "households": 5,
        "visited": 2,
        "unreachable": 1,
        "refused": 1,
        "visits": 7,
        "visited_visits": 2,
        "referrals": 1,
        "emergency_links": 1,
    }
    assert by_team[data["team_b"]]["referrals"] == 1
    assert by_team[data["team_b"]]["households"] == 1


def test_by_iso_week_in_hong_kong_time(district_officer, data):
    figures = figures_for(district_officer, now=NOW)
    assert len(figures.weeks) == 12
    assert figures.weeks[0].start == date(2026, 1, 26)
    weeks = {row.label: counts(row.counts) for row in figures.weeks}
    assert weeks["2026-W16"] == {  # Monday 13 April
        **dict.fromkeys(counts(figures.total), 0),
        "visits": 1,
        "visited_visits": 1,
        "referrals": 1,
        "emergency_links": 1,
    }
    assert weeks["2026-W15"]["visits"] == 3
    # The visit at Monday 30 March 00:30 Hong Kong time (Sunday in UTC) is in week 14.
    assert (weeks["2026-W14"]["visits"], weeks["2026-W14"]["visited_visits"]) == (2, 1)
    assert weeks["2026-W13"]["visits"] == 1
    # Team B's visit and referral of January are before the weeks shown.
    assert sum(row.counts.visits for row in figures.weeks) == 7
    assert sum(row.counts.referrals for row in figures.weeks) == 1
    assert figures.weeks[-1].counts.conversion == 100.0


def test_first_week_is_a_monday_in_hong_kong():
    assert first_week(NOW, 1) == hk(2026, 4, 13)
    assert first_week(hk(2026, 4, 13, 0, 5), 2) == hk(2026, 4, 6)


def test_the_other_office_sees_only_its_own(other_district_officer, data):
    figures = figures_for(other_district_officer, now=NOW)
    assert (figures.total.households, figures.total.referrals) == (1, 1)
    assert [row.visit_list for row in figures.lists] == [data["list_k"]]


def test_a_caring_team_sees_its_own_households(referrer, data, caring_team):
    figures = figures_for(referrer, now=NOW)
    assert (figures.total.households, figures.total.referrals) == (5, 1)
    assert [row.team for row in figures.teams] == [caring_team]
    assert [row.visit_list for row in figures.lists] == [data["list_a"]]


def test_a_unit_worker_has_no_figures(unit_worker, data):
    figures = figures_for(unit_worker, now=NOW)
    assert figures.total.households == 0
    assert figures.lists == figures.teams == []


def test_filters_by_list_and_team(district_officer, data, caring_team):
    by_team = figures_for(district_officer, team=data["team_b"], now=NOW)
    assert (by_team.total.households, by_team.total.visits) == (1, 1)
    assert [row.visit_list for row in by_team.lists] == [data["list_a"]]
    empty = figures_for(district_officer, visit_list=data["list_b"], now=NOW)
    assert empty.total.households == 0
    assert [row.visit_list for row in empty.lists] == [data["list_b"]]
    both = figures_for(district_officer, visit_list=data["list_a"], team=caring_team, now=NOW)
    assert both.total.households == 5


def test_the_figures_cost_fixed_queries(
    district_officer, data, referrer, caring_team, ssp_area, django_assert_num_queries
):
    def fresh_officer():
        return type(district_officer).objects.get(pk=district_officer.pk)

    # The scope (memberships, caring teams), then counts, weeks, lists, teams.
    officer = fresh_officer()
    with django_assert_num_queries(6):
        figures_for(officer, now=NOW)
    build = Builder(referrer)
    for _ in range(10):
        household = build.household(data["list_b"], caring_team, sub_district=ssp_area)
        visit = build.visit(household, hk(2026, 4, 14, 9), VisitOutcome.VISITED)
        build.referral(visit, build.person(household), submitted_at=hk(2026, 4, 14, 10))
    officer = fresh_officer()
    with django_assert_num_queries(6):
        figures = figures_for(officer, now=NOW)
    assert figures.total.referrals == 12


# --- The page and the CSV ----------------------------------------------------------------


def test_the_page_shows_the_tables(client, district_officer, data, django_assert_max_num_queries):
    client.force_login(district_officer)
    client.get(FIGURES)
    # session, user, its second factor, the navigation (2), the scope (2), the filters' lists
    # and teams, then the figures' four: whatever the number of households
    with django_assert_max_num_queries(12):
        response = client.get(FIGURES)
    assert response.status_code == 200
    page = response.content.decode()
    assert f'data-list="{data["list_a"].public_id}"' in page
    assert 'data-week="2026-W16"' in page
    assert '<dd data-figure="conversion">66.7%</dd>' in page
    assert "Kwun Tong elders" not in page
    assert response.context["total_cells"][:4] == ["6", "3", "1", "1"]


def test_the_page_filters_and_refuses_filters_out_of_scope(
    client, district_officer, referrer, data
):
    client.force_login(district_officer)
    response = client.get(FIGURES, {"team": data["team_b"].pk})
    assert response.context["figures"].total.households == 1
    assert client.get(FIGURES, {"list": str(data["list_k"].public_id)}).status_code == 404
    assert client.get(FIGURES, {"list": "not-a-uuid"}).status_code == 404
    client.force_login(referrer)
    assert client.get(FIGURES, {"team": data["team_b"].pk}).status_code == 404


def test_no_outreach_role_no_figures(client, unit_worker, data):
    client.force_login(unit_worker)
    assert client.get(FIGURES).status_code == 404
    assert client.get(EXPORT).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client):
    assert client.get(FIGURES).url.startswith(reverse("login"))
    assert client.get(EXPORT).url.startswith(reverse("login"))


def read_csv(response) -> list[list[str]]:
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_the_csv_in_chinese_holds_counts_and_no_personal_data(client, district_officer, data):
    client.force_login(district_officer)
    client.cookies["django_language"] = "zh-hant"
    response = client.get(EXPORT)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="outreach-figures-2026-04-15.csv"' in response["Content-Disposition"]
    rows = read_csv(response)
    with translation.override("zh-hant"):
        assert rows[0][2:] == [str(heading) for heading, _name, _weekly in COLUMNS]
        assert rows[-1][:2] == [translation.gettext("Total"), ""]
    assert rows[0][0] == "表格"
    assert rows[-1][2:] == ["6", "3", "1", "1", "8", "3", "2", "1", "66.7"]
    lists = [row for row in rows if row[1] == "Elderly living alone, HD match"]
    assert lists[0][2:4] == ["6", "3"]
    week = next(row for row in rows if row[1].startswith("2026-W16"))
    assert week[2:] == ["", "", "", "", "1", "1", "1", "1", "100.0"]
    assert len(rows) == 1 + 2 + 2 + 12 + 1  # heading, lists, teams, weeks, total
    text = response.content.decode()
    for personal in ("陳大文", "陳小文", "黃大仙", "91234567", "Block 3"):
        assert personal not in text


def test_the_csv_follows_the_filters(client, district_officer, data):
    client.force_login(district_officer)
    rows = read_csv(client.get(EXPORT, {"list": str(data["list_b"].public_id)}))
    assert rows[-1][2] == "0"


# --- The office's dashboard ----------------------------------------------------------------


def test_the_dashboard_shows_the_outreach_panel(client, district_officer, data):
    client.force_login(district_officer)
    response = client.get(DASHBOARD)
    page = response.content.decode()
    assert 'id="outreach-panel"' in page
    assert f'href="{FIGURES}"' in page
    panel = next(panel for panel in response.context["panels"] if panel.key == "outreach")
    assert [value for _label, value in panel.tiles] == ["6", "3", "2", "66.7%"]


def test_the_panel_is_cached_with_the_dashboard(client, district_officer, data, ssp_area):
    client.force_login(district_officer)
    client.get(DASHBOARD)
    Builder(district_officer).household(data["list_b"], None, sub_district=ssp_area)
    panel = next(p for p in client.get(DASHBOARD).context["panels"] if p.key == "outreach")
    assert panel.tiles[0][1] == "6"


def test_no_panel_without_outreach_scope(client, unit_worker, data):
    assert dashboard_panel(user=unit_worker, districts=[]) is None
    client.force_login(unit_worker)
    assert client.get(DASHBOARD).status_code == 404  # no dashboard, so no panel


def test_the_panel_for_headquarters_counts_every_district(client, admin_user, data):
    client.force_login(admin_user)
    response = client.get(DASHBOARD)
    panel = next(p for p in response.context["panels"] if p.key == "outreach")
    assert panel.tiles[0][1] == "7"
    assert panel.tiles[2][1] == "3"


def test_a_household_moved_between_teams_takes_its_figures(district_officer, data, caring_team):
    household = Household.objects.get(source_row_id="row-1")
    household.team = data["team_b"]
    household.save()
    by_team = {row.team: row.counts for row in figures_for(district_officer, now=NOW).teams}
    assert (by_team[caring_team].referrals, by_team[data["team_b"]].referrals) == (0, 2)
    assert sum(counts.visits for counts in by_team.values()) == 8
