"""The district dashboard: figures, periods in Hong Kong time, scope, CSV, charts, queries."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.urls import reverse
from django.utils import translation

from referrals import dashboard, dashboard_counts, dashboard_trends
from referrals.dashboard import (
    HONG_KONG,
    Figures,
    dashboard_districts,
    dashboard_figures,
    period_starts,
)
from referrals.models import ReferralEvent, Status
from referrals.web.dashboard_views import COLUMNS
from services.models import NeedCategory
from tests import factories

pytestmark = pytest.mark.django_db

# A Wednesday. The week began Monday 13 April 00:00, the month 1 April 00:00, the 90-day
# cohort on 15 January 10:00 (all Hong Kong time).
NOW = datetime(2026, 4, 15, 10, 0, tzinfo=HONG_KONG)
INDEX = reverse("dashboard:index")
EXPORT = reverse("dashboard:export")


@pytest.fixture(autouse=True)
def _clock(monkeypatch):
    """The pages ask the clock; the selectors in these tests are also given NOW directly."""
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW.astimezone(UTC))


def hk(*args) -> datetime:
    return datetime(*args, tzinfo=HONG_KONG)


def needs(*codes) -> list[NeedCategory]:
    return list(NeedCategory.objects.filter(code__in=codes))


def decision(referral, to_status, *, after_hours, unit, kind=ReferralEvent.Kind.STATUS):
    return ReferralEvent.objects.create(
        referral=referral,
        at=referral.submitted_at + timedelta(hours=after_hours),
        from_status=Status.ASSIGNED,
        to_status=to_status,
        unit=unit,
        kind=kind,
    )


@pytest.fixture
def office_data(referrer, caring_team, ifsc_unit, other_unit):
    """Sham Shui Po (F) referrals with known figures, plus ones that must not count for
    the SSP office: a draft, one from before the cohort, one in Kwun Tong (J)."""

    def referral(submitted_at, status, unit=None, district="F", named=(), **fields):
        made = factories.ReferralFactory(
            referrer=referrer,
            referring_team=caring_team,
            district=factories.district(district),
            submitted_at=submitted_at,
            status=status,
            assigned_unit=unit,
            **fields,
        )
        made.needs.set(needs(*named))
        return made

    ifsc, iccmw = ifsc_unit, other_unit
    rows = {
        # This week (Tuesday), awaiting triage, no unit.
        "r1": referral(hk(2026, 4, 14, 9, 0), Status.TRIAGE, named=["mental_health", "housing"]),
        # Monday 00:00 exactly: this week. Assigned, overdue and escalated.
        "r2": referral(
            hk(2026, 4, 13, 0, 0),
            Status.ASSIGNED,
            ifsc,
            named=["mental_health"],
            due_at=hk(2026, 4, 14, 9, 0),
            overdue_at=hk(2026, 4, 14, 9, 5),
            escalated_at=hk(2026, 4, 14, 10, 0),
        ),
        # Sunday 23:59:59: last week, this month. Accepted after 10 hours.
        "r3": referral(
            hk(2026, 4, 12, 23, 59, 59),
            Status.ACCEPTED,
            ifsc,
            named=["elderly_care", "mental_health"],
        ),
        # 31 March 23:59: last month. Declined by the IFSC, accepted by the ICCMW at 30 h.
        "r4": referral(hk(2026, 3, 31, 23, 59), Status.IN_PROGRESS, iccmw, named=["housing"]),
        # Closed (escalated once, but not open): accepted at 4 h, accepted again later.
        "r5": referral(
            hk(2026, 3, 1, 10, 0),
            Status.COMPLETED,
            ifsc,
            named=["financial_hardship"],
            escalated_at=hk(2026, 3, 2, 10, 0),
        ),
        # Before the cohort: its (recent) acceptance and its need do not count.
        "r6": referral(hk(2025, 12, 1, 10, 0), Status.COMPLETED, ifsc, named=["child_protection"]),
        # A draft never counts, even with a date in this week.
        "draft": referral(
            hk(2026, 4, 14, 11, 0),
            Status.DRAFT,
            named=["child_protection"],
            escalated_at=hk(2026, 4, 14, 12, 0),
        ),
        # Kwun Tong: another office's district.
        "kt": referral(
            hk(2026, 4, 14, 12, 0), Status.TRIAGE, district="J", named=["child_protection"]
        ),
    }
    decision(rows["r3"], Status.ACCEPTED, after_hours=10, unit=ifsc)
    # An escalation while accepted repeats the status: it is not a decision.
    decision(
        rows["r3"], Status.ACCEPTED, after_hours=20, unit=ifsc, kind=ReferralEvent.Kind.ESCALATION
    )
    decision(rows["r4"], Status.REJECTED, after_hours=2, unit=ifsc)
    decision(rows["r4"], Status.ACCEPTED, after_hours=30, unit=iccmw)
    decision(rows["r5"], Status.ACCEPTED, after_hours=4, unit=ifsc)
    decision(rows["r5"], Status.ACCEPTED, after_hours=60, unit=ifsc)
    ReferralEvent.objects.create(
        referral=rows["r6"], at=hk(2026, 2, 1, 10, 0), to_status=Status.ACCEPTED, unit=ifsc
    )
    return rows


def figures_of(f: Figures) -> dict:
    return {
        "week": f.received_week,
        "month": f.received_month,
        "open": f.open,
        "triage": f.triage,
        "overdue": f.overdue,
        "escalated": f.escalated,
        "accepted": f.accepted,
        "rejected": f.rejected,
        "median": f.median_hours,
    }


SSP_TOTAL = {
    "week": 2,
    "month": 3,
    "open": 4,
    "triage": 1,
    "overdue": 1,
    "escalated": 1,
    "accepted": 4,
    "rejected": 1,
    "median": 10.0,  # first acceptances: 10 h, 30 h, 4 h
}


def test_exact_figures_for_an_office(office_data):
    result = dashboard_figures(districts=[factories.district("F")], now=NOW)

    [ssp] = result.districts
    assert ssp.key == "F"
    assert figures_of(ssp.figures) == SSP_TOTAL
    assert figures_of(result.total) == SSP_TOTAL
    assert result.total.acceptance_rate == pytest.approx(80.0)
    assert result.total.rejection_rate == pytest.approx(20.0)

    by_type = {row.key: figures_of(row.figures) for row in result.unit_types}
    assert list(by_type) == ["ICCMW", "IFSC", ""]  # by code, "No unit yet" last
    assert by_type["IFSC"] == {
        "week": 1,
        "month": 2,
        "open": 2,
        "triage": 0,
        "overdue": 1,
        "escalated": 1,
        "accepted": 3,
        "rejected": 1,  # its decline of r4 stays with the IFSC
        "median": 7.0,  # 10 h and 4 h; r5's second acceptance does not count
    }
    assert by_type["ICCMW"] == {
        "week": 0,
        "month": 0,
        "open": 1,
        "triage": 0,
        "overdue": 0,
        "escalated": 0,
        "accepted": 1,
        "rejected": 0,
        "median": 30.0,
    }
    assert by_type[""] == {
        "week": 1,
        "month": 1,
        "open": 1,
        "triage": 1,
        "overdue": 0,
        "escalated": 0,
        "accepted": 0,
        "rejected": 0,
        "median": None,
    }
    assert result.unit_types[-1].name == "No unit yet"
    assert result.unit_types[-1].figures.acceptance_rate is None

    # Ties are broken by the categories' own order (elderly care before financial hardship).
    assert [(item.need.code, item.referrals) for item in result.top_needs] == [
        ("mental_health", 3),
        ("housing", 2),
        ("elderly_care", 1),
        ("financial_hardship", 1),
    ]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="percentile_cont is PostgreSQL's")
def test_the_database_and_python_reductions_agree(office_data):
    since = NOW - timedelta(days=dashboard.COHORT_DAYS)
    ids = [factories.district("F").pk, factories.district("J").pk]
    in_database = dashboard_counts.decisions(ids, since=since, now=NOW, in_database=True)
    in_python = dashboard_counts.decisions(ids, since=since, now=NOW, in_database=False)
    # The same interpolation in both: percentile_cont's, so even the 90th percentile's
    # floating point agrees.
    assert in_database == in_python
    # First acceptances 4 h, 10 h, 30 h: the 90th percentile is 10 + 0.8 × 20.
    assert in_database[("total", None)] == (4, 1, 10.0, pytest.approx(26.0))
    # Per deciding unit: the IFSC's first acceptances 10 h and 4 h, its decline of r4.
    assert in_database[("unit", office_data["r3"].assigned_unit_id)][:3] == (3, 1, 7.0)


@pytest.mark.parametrize(
    ("now", "week_start", "month_start"),
    [
        (NOW, hk(2026, 4, 13), hk(2026, 4, 1)),
        # Monday 00:00 itself starts the week.
        (hk(2026, 4, 13, 0, 0), hk(2026, 4, 13), hk(2026, 4, 1)),
        # Sunday evening in UTC is already Monday in Hong Kong.
        (datetime(2026, 4, 12, 16, 30, tzinfo=UTC), hk(2026, 4, 13), hk(2026, 4, 1)),
        # 15:59 UTC on the 30th is still the 30th, 23:59 in Hong Kong.
        (datetime(2026, 4, 30, 15, 59, tzinfo=UTC), hk(2026, 4, 27), hk(2026, 4, 1)),
        # A week that began in the previous month.
        (hk(2026, 7, 1, 0, 30), hk(2026, 6, 29), hk(2026, 7, 1)),
    ],
)
def test_week_and_month_start_at_midnight_hong_kong_time(now, week_start, month_start):
    week, month, cohort = period_starts(now)
    assert (week, month) == (week_start, month_start)
    assert cohort == now - timedelta(days=90)


def test_received_counts_follow_hong_kong_midnight(referrer, caring_team):
    """1 July 2026 is a Wednesday: the week began on 29 June, the month on 1 July."""
    now = hk(2026, 7, 1, 12, 0)
    for submitted_at in [
        hk(2026, 6, 28, 23, 59),  # Sunday: neither
        hk(2026, 6, 29, 0, 0),  # Monday 00:00: this week, last month
        hk(2026, 6, 30, 23, 59, 59),  # this week, last month
        datetime(2026, 6, 30, 16, 0, tzinfo=UTC),  # 1 July 00:00 in Hong Kong: both
        hk(2026, 7, 1, 11, 0),  # both
        hk(2026, 7, 1, 12, 30),  # after "now": neither
    ]:
        factories.ReferralFactory(
            referrer=referrer, referring_team=caring_team, submitted_at=submitted_at
        )
    total = dashboard_figures(districts=[factories.district("F")], now=now).total
    assert (total.received_week, total.received_month) == (4, 2)


def test_drafts_never_count(referrer, caring_team):
    draft = factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        status=Status.DRAFT,
        submitted_at=NOW - timedelta(hours=1),
        escalated_at=NOW - timedelta(minutes=30),
    )
    draft.needs.set(needs("housing"))
    result = dashboard_figures(districts=[factories.district("F")], now=NOW)
    assert figures_of(result.districts[0].figures) == {
        **dict.fromkeys(SSP_TOTAL, 0),
        "median": None,
    }
    assert result.unit_types == []
    assert result.top_needs == []


# --- Scope ------------------------------------------------------------------------------


def test_an_officer_sees_their_offices_districts_and_an_administrator_all(
    district_officer, other_district_officer, admin_user, unit_worker, referrer
):
    assert [d.code for d in dashboard_districts(user=district_officer)] == ["F"]
    assert [d.code for d in dashboard_districts(user=other_district_officer)] == ["J"]
    assert len(dashboard_districts(user=admin_user)) == 18
    assert dashboard_districts(user=unit_worker) == []
    assert dashboard_districts(user=referrer) == []


def test_an_officer_of_two_offices_sees_both(district_officer):
    factories.MembershipFactory(
        user=district_officer,
        role="district_officer",
        service_unit=None,
        welfare_office=factories.office("TWKT"),  # Tsuen Wan and Kwai Tsing
    )
    assert [d.code for d in dashboard_districts(user=district_officer)] == ["F", "K", "S"]


def test_the_ssp_officer_page_shows_sham_shui_po_only(client, district_officer, office_data):
    client.force_login(district_officer)
    response = client.get(INDEX)
    assert response.status_code == 200
    page = response.content.decode()
    assert [row.key for row, _cells in response.context["district_rows"]] == ["F"]
    assert "Sham Shui Po" in page
    assert "Kwun Tong" not in page
    assert response.context["dashboard"].total.received_week == 2  # not the KT referral


def test_the_administrator_sees_all_districts(client, admin_user, office_data):
    client.force_login(admin_user)
    response = client.get(INDEX)
    rows = {row.key: row for row, _cells in response.context["district_rows"]}
    assert len(rows) == 18
    assert (rows["F"].figures.received_week, rows["J"].figures.received_week) == (2, 1)
    assert response.context["dashboard"].total.received_week == 3
    assert response.context["dashboard"].total.triage == 2


def test_a_district_filter_narrows_within_scope(client, admin_user, office_data):
    client.force_login(admin_user)
    response = client.get(INDEX, {"district": "J"})
    assert [row.key for row, _cells in response.context["district_rows"]] == ["J"]
    assert response.context["dashboard"].total.received_week == 1
    assert f'href="{EXPORT}?district=J"' in response.content.decode()


@pytest.mark.parametrize("url", [INDEX, EXPORT])
@pytest.mark.parametrize("code", ["J", "Z", "<script>"])
def test_a_district_outside_scope_is_404(client, district_officer, url, code):
    client.force_login(district_officer)
    assert client.get(url, {"district": code}).status_code == 404


@pytest.mark.parametrize("url", [INDEX, EXPORT])
@pytest.mark.parametrize("persona", ["unit_worker", "referrer", "plain_user"])
def test_everyone_else_gets_404(client, request, url, persona):
    user = (
        factories.UserFactory(username="plain")
        if persona == "plain_user"
        else request.getfixturevalue(persona)
    )
    client.force_login(user)
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("url", [INDEX, EXPORT])
def test_anonymous_visitors_are_sent_to_log_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("url", [INDEX, EXPORT])
def test_the_dashboard_only_answers_get(client, district_officer, url):
    client.force_login(district_officer)
    assert client.post(url).status_code == 405


# --- The page ---------------------------------------------------------------------------


def chart(page: str, chart_id: str) -> str:
    match = re.search(rf'<figure class="chart" id="{chart_id}">(.*?)</figure>', page, re.S)
    assert match, chart_id
    return match.group(1)


def bar_values(fragment: str) -> list[str]:
    return re.findall(r'<text class="value"[^>]*>(\d+)</text>', fragment)


def test_the_page_draws_accessible_svg_charts_with_the_numbers(
    client, district_officer, office_data
):
    client.force_login(district_officer)
    page = client.get(INDEX).content.decode()
    received = chart(page, "chart-received")
    assert '<svg role="img" aria-labelledby="chart-received-title chart-received-desc"' in received
    assert 'viewBox="0 0 360 ' in received
    assert 'width="100%"' in received
    assert '<title id="chart-received-title">Referrals received, by district</title>' in received
    assert bar_values(received) == ["2", "3"]  # this week, this month
    assert bar_values(chart(page, "chart-open")) == ["4", "1", "1"]  # open, triage, overdue
    assert bar_values(chart(page, "chart-needs")) == ["3", "2", "1", "1"]
    # The longest bar fills the bar area; the others are in proportion.
    open_chart = chart(page, "chart-open")
    assert re.findall(r'<rect class="bar-open"[^>]*width="([\d.]+)"', open_chart) == ["290.0"]
    assert re.findall(r'<rect class="bar-triage"[^>]*width="([\d.]+)"', open_chart) == ["72.5"]
    # The same numbers as a table right after the chart, inside the figure.
    assert re.search(
        r'<table class="table figures" id="chart-open-table">.*<th scope="row">Sham Shui Po</th>'
        r"<td>4</td><td>1</td><td>1</td>",
        open_chart,
        re.S,
    )
    assert 'id="how-counted"' in page


def test_the_tables_show_figures_totals_and_no_unit_yet(client, district_officer, office_data):
    client.force_login(district_officer)
    response = client.get(INDEX)
    page = response.content.decode()
    total = ["2", "3", "4", "1", "1", "1", "10.0", "26.0", "80.0", "20.0"]
    assert response.context["total_cells"] == total
    no_unit = {row.key: cells for row, cells in response.context["unit_type_rows"]}[""]
    assert no_unit == ["1", "1", "1", "1", "0", "0", "—", "—", "—", "—"]
    assert "No unit yet" in page
    assert "Integrated Family Service Centre" in page
    assert '<tr data-code="mental_health"><th scope="row">Mental health</th><td>3</td>' in page


def test_the_page_follows_the_language_from_one_cache_entry(
    client, district_officer, office_data, django_assert_num_queries
):
    client.force_login(district_officer)
    client.get(INDEX)  # fills the cache in English
    client.cookies["django_language"] = "zh-hant"
    with django_assert_num_queries(WARM_PAGE):  # no new figures: the cached ones, in Chinese
        page = client.get(INDEX).content.decode()
    assert "深水埗區" in page
    assert "綜合家庭服務中心" in page
    assert "精神健康" in page
    assert "Sham Shui Po" not in page


def test_the_figures_are_cached_for_a_minute_per_scope(client, district_officer, office_data):
    client.force_login(district_officer)
    assert client.get(INDEX).context["dashboard"].total.received_week == 2
    factories.ReferralFactory(submitted_at=NOW)  # this week, in Sham Shui Po
    assert client.get(INDEX).context["dashboard"].total.received_week == 2
    cache.clear()  # as if the minute had passed
    assert client.get(INDEX).context["dashboard"].total.received_week == 3


# --- CSV --------------------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    body = response.content
    assert body.startswith(b"\xef\xbb\xbf")  # the byte-order mark Excel looks for
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_export_in_english(client, district_officer, office_data):
    client.force_login(district_officer)
    response = client.get(EXPORT)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="dashboard-2026-04-15\.csv"', response["Content-Disposition"]
    )
    rows = read_csv(response)
    assert rows[0] == [
        "Table",
        "Code",
        "Name",
        "Received this week",
        "Received this month",
        "Open",
        "Awaiting triage",
        "Overdue",
        "Escalated",
        "Median hours to acceptance",
        "90th percentile hours to acceptance",
        "Acceptance rate (%)",
        "Rejection rate (%)",
    ]
    assert rows[1][:3] == ["District", "F", "Sham Shui Po"]
    figures = rows[: rows.index([])]
    units = {
        r.assigned_unit.code: r.assigned_unit.name_en
        for r in [office_data["r2"], office_data["r4"]]
    }
    assert [row[:3] for row in figures[2:]] == [
        ["Sub-district", "", "No sub-district recorded"],
        ["Unit type", "ICCMW", "Integrated Community Centre for Mental Wellness"],
        ["Unit type", "IFSC", "Integrated Family Service Centre"],
        ["Unit type", "", "No unit yet"],
        *[["Unit", code, name] for code, name in sorted(units.items())],
        ["Unit", "", "No unit yet"],
        ["Total", "", "All districts shown"],
    ]
    # The figures, with empty cells where there is nothing to divide or take a median of.
    assert figures[5][3:] == ["1", "1", "1", "1", "0", "0", "", "", "", ""]
    assert figures[1][3:] == figures[-1][3:]
    assert figures[2][3:9] == figures[1][3:9]  # every referral has no sub-district here


def test_the_export_in_chinese(client, district_officer, office_data):
    client.force_login(district_officer)
    client.cookies["django_language"] = "zh-hant"
    response = client.get(EXPORT, {"district": "f"})
    assert 'filename="dashboard-f-' in response["Content-Disposition"]
    rows = read_csv(response)
    with translation.override("zh-hant"):
        assert rows[0][3:] == [str(heading) for heading, _name, _kind in COLUMNS]
    # Headings the catalogue already translates show that the reader's language is used.
    assert {"等候分流", "逾期", "已上報"} <= set(rows[0])
    assert rows[1][:3] == ["地區", "F", "深水埗區"]
    assert ["單位類別", "IFSC", "綜合家庭服務中心"] in [row[:3] for row in rows]


# --- Queries ----------------------------------------------------------------------------

# session, user, the session's two-factor device (django-otp), the navigation's context
# query, the scope
WARM_PAGE = 5
# ... and unit types, caseload, decisions, top needs, the urgent notices' funnel, and (issue
# 19's working view, 5 more) the names of the sub-districts and of the units counted, the
# weekly trends, the closures, the declines' and failures' reasons
COLD_PAGE = WARM_PAGE + 10
# ... and, on the page (not the CSV), the panels other apps add: outreach's totals, one query
PANELS = 1


def more_referrals(referrer, caring_team, count=3):
    """Referrals in more districts, of more unit types, with decisions and needs."""
    for index, code in enumerate(["F", "J", "K", "M", "T"][:count]):
        unit = factories.ServiceUnitFactory(
            unit_type=factories.unit_type(["DECC", "PRC", "DSC", "IFSC", "NEC"][index]),
            district=factories.district(code),
        )
        for status in [Status.TRIAGE, Status.ACCEPTED, Status.ASSIGNED]:
            made = factories.ReferralFactory(
                referrer=referrer,
                referring_team=caring_team,
                district=factories.district(code),
                status=status,
                assigned_unit=unit,
                submitted_at=NOW - timedelta(days=index),
            )
            made.needs.set(needs("carer_support", "disability_support"))
            decision(made, Status.ACCEPTED, after_hours=index + 1, unit=unit)


def test_the_page_costs_fixed_queries_cold_and_warm(
    client,
    district_officer,
    admin_user,
    referrer,
    caring_team,
    office_data,
    django_assert_num_queries,
):
    client.force_login(district_officer)
    with django_assert_num_queries(COLD_PAGE + PANELS):
        client.get(INDEX)
    with django_assert_num_queries(WARM_PAGE):
        client.get(INDEX)

    more_referrals(referrer, caring_team, count=5)
    cache.clear()
    with django_assert_num_queries(COLD_PAGE + PANELS):
        response = client.get(INDEX)
    assert response.context["dashboard"].total.received_week == 2 + 3

    client.force_login(admin_user)  # 18 districts, more unit types
    with django_assert_num_queries(COLD_PAGE + PANELS):
        response = client.get(INDEX)
    assert len(response.context["district_rows"]) == 18
    assert len(response.context["unit_type_rows"]) == 7
    with django_assert_num_queries(WARM_PAGE):
        client.get(INDEX)


def test_the_export_costs_fixed_queries_cold_and_warm(
    client, admin_user, referrer, caring_team, office_data, django_assert_num_queries
):
    client.force_login(admin_user)
    with django_assert_num_queries(COLD_PAGE - 1):  # no navigation on a CSV
        client.get(EXPORT)
    with django_assert_num_queries(WARM_PAGE - 1):
        client.get(EXPORT)
    more_referrals(referrer, caring_team, count=5)
    cache.clear()
    with django_assert_num_queries(COLD_PAGE - 1):
        rows = read_csv(client.get(EXPORT))
    figures = rows[: rows.index([])]
    tables = [row[0] for row in figures[1:]]
    assert (tables.count("District"), tables.count("Unit type"), tables.count("Total")) == (
        18,
        7,
        1,
    )
    assert tables.count("Unit") == 2 + 5 + 1  # office_data's two, more_referrals' five, none
    assert len(rows) == len(figures) + 1 + 1 + dashboard_trends.WEEKS + 1 + 1 + 4 + 4
