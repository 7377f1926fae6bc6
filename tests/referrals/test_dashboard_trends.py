"""The dashboard's working view (issue 19): weeks, time to closure, outcomes and reasons,
sub-districts and units; numbers from known data, Hong Kong week edges, scope."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse

from referrals.dashboard import dashboard_figures
from referrals.dashboard_trends import (
    HONG_KONG,
    TOP_REASONS,
    WEEKS,
    add_reasons,
    closures,
    percentile,
    trend_start,
    weekly_trends,
)
from referrals.models import ReferralEvent, Status
from tests import factories

pytestmark = pytest.mark.django_db

# A Wednesday; this week began Monday 13 April 00:00 Hong Kong time, the twelve weeks on
# Monday 26 January.
NOW = datetime(2026, 4, 15, 2, 0, tzinfo=UTC)  # 10:00 in Hong Kong
INDEX = reverse("dashboard:index")
EXPORT = reverse("dashboard:export")


def hk(*args) -> datetime:
    return datetime(*args, tzinfo=HONG_KONG)


@pytest.fixture(autouse=True)
def _clock(monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)


@pytest.fixture
def make(referrer, caring_team):
    def referral(submitted_at, status=Status.SUBMITTED, district="F", **fields):
        return factories.ReferralFactory(
            referrer=referrer,
            referring_team=caring_team,
            district=factories.district(district),
            submitted_at=submitted_at,
            status=status,
            **fields,
        )

    return referral


def step(referral, to_status, at, *, unit=None, reason="", kind=ReferralEvent.Kind.STATUS):
    return ReferralEvent.objects.create(
        referral=referral, at=at, to_status=to_status, unit=unit, reason=reason, kind=kind
    )


def test_the_twelve_weeks_start_on_a_monday_in_hong_kong():
    assert hk(2026, 4, 15, 10, 0) == NOW
    assert trend_start(NOW) == hk(2026, 1, 26)
    # Sunday 23:59 in Hong Kong: that week's Monday, eleven weeks back.
    assert trend_start(hk(2026, 4, 12, 23, 59)) == hk(2026, 1, 19)
    # Sunday 16:00 UTC is Monday 00:00 in Hong Kong: a new week.
    assert trend_start(datetime(2026, 4, 12, 16, 0, tzinfo=UTC)) == hk(2026, 1, 26)


def test_weekly_figures_with_the_week_edges(make, ifsc_unit):
    # Received.
    make(hk(2026, 4, 12, 23, 59))  # Sunday 23:59: the week of 6 April
    make(hk(2026, 4, 13, 0, 0))  # Monday 00:00: this week
    make(datetime(2026, 4, 12, 16, 0, 30, tzinfo=UTC))  # Monday 00:00:30 in Hong Kong
    make(hk(2026, 1, 26, 0, 0))  # the first of the twelve weeks
    make(hk(2026, 1, 25, 23, 59, 59))  # the week before: not shown
    make(hk(2026, 4, 14), status=Status.DRAFT)  # a draft never counts
    make(hk(2026, 4, 14), district="J")  # Kwun Tong: another office's
    make(hk(2026, 4, 15, 11, 0))  # after now
    # Accepted: units' acceptances, by the step's time.
    accepted = make(hk(2026, 3, 30), status=Status.ACCEPTED, assigned_unit=ifsc_unit)
    step(accepted, Status.ACCEPTED, hk(2026, 4, 12, 23, 59, 59), unit=ifsc_unit)
    step(accepted, Status.ACCEPTED, hk(2026, 4, 13, 0, 0), unit=ifsc_unit)
    # An escalation repeating the status is not an acceptance.
    step(accepted, Status.ACCEPTED, hk(2026, 4, 14), kind=ReferralEvent.Kind.ESCALATION)
    step(accepted, Status.REJECTED, hk(2026, 4, 14), unit=ifsc_unit)  # nor a decline
    # Completed: by the time it closed; failed ones and older ones are not.
    make(hk(2026, 3, 2), status=Status.COMPLETED, closed_at=hk(2026, 4, 13, 8, 0))
    make(hk(2026, 3, 2), status=Status.FAILED, closed_at=hk(2026, 4, 13, 8, 0))
    make(hk(2025, 12, 1), status=Status.COMPLETED, closed_at=hk(2026, 1, 20))

    weeks = weekly_trends([factories.district("F").pk], now=NOW)

    assert [week.start for week in weeks] == [
        date(2026, 1, 26) + timedelta(weeks=n) for n in range(WEEKS)
    ]
    figures = {week.start: (week.received, week.accepted, week.completed) for week in weeks}
    # 30 March: the accepted referral; 6 April: Sunday's referral and acceptance.
    assert figures[date(2026, 3, 30)] == (1, 0, 0)
    assert figures[date(2026, 4, 6)] == (1, 1, 0)
    assert figures[date(2026, 4, 13)] == (2, 1, 1)
    assert figures[date(2026, 1, 26)] == (1, 0, 0)
    assert figures[date(2026, 3, 2)] == (2, 0, 0)  # the completed and the failed one
    assert sum(week.received for week in weeks) == 7
    assert sum(week.accepted for week in weeks) == 2
    assert sum(week.completed for week in weeks) == 1


def test_the_weeks_of_all_districts_add_up(make):
    make(hk(2026, 4, 14))
    make(hk(2026, 4, 14), district="J")
    both = [factories.district("F").pk, factories.district("J").pk]
    assert weekly_trends(both, now=NOW)[-1].received == 2
    assert weekly_trends([factories.district("J").pk], now=NOW)[-1].received == 1


# --- Closures and reasons -----------------------------------------------------------------


@pytest.fixture
def closed(make, ifsc_unit):
    """Closed in the last 90 days after 10, 20, 30 and 100 hours; one closed earlier, one
    cancelled, one in Kwun Tong."""
    start = hk(2026, 3, 1, 9, 0)
    for hours, status in [
        (10, Status.COMPLETED),
        (20, Status.COMPLETED),
        (30, Status.FAILED),
        (100, Status.COMPLETED),
    ]:
        make(start, status=status, closed_at=start + timedelta(hours=hours))
    make(hk(2025, 12, 1), status=Status.COMPLETED, closed_at=hk(2026, 1, 1))  # before
    make(start, status=Status.CANCELLED, closed_at=start + timedelta(hours=1))
    make(start, status=Status.COMPLETED, closed_at=start + timedelta(hours=1), district="J")


@pytest.mark.parametrize(
    "in_database",
    [
        pytest.param(
            True,
            marks=pytest.mark.skipif(
                connection.vendor != "postgresql", reason="percentile_cont is PostgreSQL's"
            ),
        ),
        False,
    ],
)
def test_time_to_closure_median_and_90th_percentile(closed, in_database):
    since = NOW - timedelta(days=90)
    outcomes = closures([factories.district("F").pk], since=since, now=NOW, in_database=in_database)
    assert (outcomes.completed, outcomes.failed) == (3, 1)
    assert outcomes.closure_median_hours == pytest.approx(25.0)  # between 20 and 30
    assert outcomes.closure_p90_hours == pytest.approx(79.0)  # 30 + 0.7 × 70


def test_percentile_interpolates_as_postgresql():
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([4.0, 30.0, 10.0], 0.5) == 10.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([10.0, 20.0, 30.0, 100.0], 0.9) == pytest.approx(79.0)


def test_reasons_are_grouped_the_most_given_first(make, ifsc_unit):
    referral = make(hk(2026, 3, 1), status=Status.ASSIGNED, assigned_unit=ifsc_unit)
    at = hk(2026, 4, 1)
    for reason in ["Outside catchment", "outside catchment ", " OUTSIDE CATCHMENT"]:
        step(referral, Status.REJECTED, at, unit=ifsc_unit, reason=reason)
    for reason in ["Full", "full", "No Cantonese worker"]:
        step(referral, Status.REJECTED, at, unit=ifsc_unit, reason=reason)
    for index in range(TOP_REASONS):
        step(referral, Status.REJECTED, at, unit=ifsc_unit, reason=f"rare {index}")
    step(referral, Status.FAILED, at, unit=ifsc_unit, reason="Could not reach the person")
    step(referral, Status.FAILED, at, unit=ifsc_unit, reason="")  # e.g. anonymised since
    # Not counted: too old, another office's, an acceptance.
    step(referral, Status.REJECTED, hk(2026, 1, 1), unit=ifsc_unit, reason="Old")
    kt = make(hk(2026, 3, 1), district="J")
    step(kt, Status.REJECTED, at, reason="Kwun Tong's")
    step(referral, Status.ACCEPTED, at, unit=ifsc_unit, reason="Accepted")

    outcomes = closures([factories.district("F").pk], since=NOW - timedelta(days=90), now=NOW)
    outcomes = add_reasons(
        outcomes, [factories.district("F").pk], since=NOW - timedelta(days=90), now=NOW
    )
    declined = [(item.reason.lower(), item.count) for item in outcomes.declined_reasons]
    assert declined[:2] == [("outside catchment", 3), ("full", 2)]
    assert len(declined) == TOP_REASONS
    assert outcomes.declined_steps == 3 + 3 + TOP_REASONS
    assert outcomes.declined_other == outcomes.declined_steps - sum(n for _r, n in declined)
    assert outcomes.declined_other == 3  # "rare 2" to "rare 4": ties go by the text
    assert sorted((item.reason, item.count) for item in outcomes.failed_reasons) == [
        ("", 1),
        ("Could not reach the person", 1),
    ]
    assert (outcomes.failed_steps, outcomes.failed_other) == (2, 0)


# --- Sub-districts and units ------------------------------------------------------------


def test_sub_district_and_unit_rows(make, ssp_area, ifsc_unit, other_unit):
    other_area = factories.SubDistrictFactory(code="F02", district=factories.district("F"))
    make(hk(2026, 4, 14), status=Status.ASSIGNED, assigned_unit=ifsc_unit, sub_district=ssp_area)
    accepted = make(
        hk(2026, 4, 2), status=Status.ACCEPTED, assigned_unit=ifsc_unit, sub_district=ssp_area
    )
    step(accepted, Status.ACCEPTED, hk(2026, 4, 2, 6, 0), unit=ifsc_unit)
    declined = make(
        hk(2026, 4, 3), status=Status.ACCEPTED, assigned_unit=other_unit, sub_district=other_area
    )
    step(declined, Status.REJECTED, hk(2026, 4, 3, 1, 0), unit=ifsc_unit, reason="Full")
    step(declined, Status.ACCEPTED, hk(2026, 4, 3, 12, 0), unit=other_unit)
    make(hk(2026, 4, 14), status=Status.TRIAGE)  # no sub-district, no unit
    make(hk(2026, 4, 14), status=Status.TRIAGE, district="J")  # another office's

    result = dashboard_figures(districts=[factories.district("F")], now=NOW)

    areas = {row.key: row.figures for row in result.sub_districts}
    assert list(areas) == ["F01", "F02", ""]
    assert (areas["F01"].open, areas["F01"].received_week, areas["F01"].received_month) == (
        2,
        1,
        2,
    )
    assert (areas["F02"].open, areas["F02"].received_month) == (1, 1)
    assert (areas[""].open, areas[""].triage) == (1, 1)
    assert result.sub_districts[-1].name == "No sub-district recorded"

    units = {row.key: row.figures for row in result.units}
    assert list(units) == sorted([ifsc_unit.code, other_unit.code]) + [""]
    ifsc = units[ifsc_unit.code]
    assert (ifsc.received_month, ifsc.open, ifsc.accepted, ifsc.rejected) == (2, 2, 1, 1)
    assert ifsc.median_hours == pytest.approx(6.0)  # its decline does not count as waiting
    iccmw = units[other_unit.code]
    assert (iccmw.open, iccmw.accepted, iccmw.rejected) == (1, 1, 0)
    assert iccmw.median_hours == pytest.approx(12.0)
    assert [row.name for row in result.units][-1] == "No unit yet"
    # The total's percentiles: first acceptances 6 h and 12 h.
    assert result.total.median_hours == pytest.approx(9.0)
    assert result.total.p90_hours == pytest.approx(11.4)


# --- The page and the CSV ---------------------------------------------------------------


@pytest.fixture
def working_data(make, closed, ssp_area, ifsc_unit):
    referral = make(
        hk(2026, 4, 14), status=Status.ASSIGNED, assigned_unit=ifsc_unit, sub_district=ssp_area
    )
    step(referral, Status.REJECTED, hk(2026, 4, 14, 2, 0), unit=ifsc_unit, reason="Full")
    step(referral, Status.FAILED, hk(2026, 4, 14, 3, 0), unit=ifsc_unit, reason="No contact")
    return referral


def figure(page: str, chart_id: str) -> str:
    match = re.search(rf'<figure class="chart[^"]*" id="{chart_id}">(.*?)</figure>', page, re.S)
    assert match, chart_id
    return match.group(1)


def table_rows(fragment: str) -> list[list[str]]:
    return [
        re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row)
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", fragment, re.S)
    ]


def test_the_page_shows_the_working_view_with_its_numbers(client, district_officer, working_data):
    client.force_login(district_officer)
    page = client.get(INDEX).content.decode()

    trend = figure(page, "chart-trend")
    assert '<svg role="img" aria-labelledby="chart-trend-title chart-trend-desc"' in trend
    assert trend.count("<polyline") == 3
    rows = table_rows(trend)
    assert rows[0] == ["Week from Monday", "Received", "Accepted", "Completed"]
    assert len(rows) == 1 + WEEKS
    assert rows[-1] == ["4/13", "1", "0", "0"]  # this week: the assigned one
    # The closed ones were received on Sunday 1 March (the week of 23 February); one was
    # completed that Sunday evening, two in the week of 2 March (one failed).
    assert rows[5] == ["2/23", "5", "0", "1"]
    assert rows[6] == ["3/2", "0", "0", "2"]

    time_table = page.split('id="time-table"')[1].split("</table>")[0]
    times = {row[0]: row[1:] for row in table_rows(time_table)}
    assert times["Submission to closure (completed or failed)"] == ["25.0", "79.0"]
    assert times["Submission to first acceptance"] == ["—", "—"]

    outcomes = table_rows(figure(page, "chart-outcomes"))
    assert outcomes[1:] == [["Completed", "3"], ["Failed", "1"], ["Declines by a unit", "1"]]
    assert table_rows(figure(page, "chart-declined-reasons"))[1:] == [["Full", "1"]]
    assert table_rows(figure(page, "chart-failed-reasons"))[1:] == [["No contact", "1"]]

    by_area = table_rows(page.split('id="by-sub-district"')[1].split("</table>")[0])
    assert by_area[1][:4] == [ssp_area_name(working_data), "1", "1", "1"]
    by_unit = table_rows(page.split('id="by-unit"')[1].split("</table>")[0])
    assert by_unit[0][1:4] == ["Received this month", "Accepted", "Declined"]
    assert by_unit[1][:4] == [working_data.assigned_unit.name_en, "1", "0", "1"]


def ssp_area_name(referral) -> str:
    return referral.sub_district.name_en


def test_another_offices_figures_never_show(client, other_district_officer, working_data):
    client.force_login(other_district_officer)
    response = client.get(INDEX)
    dashboard = response.context["dashboard"]
    # Only Kwun Tong's one: received on 1 March, completed an hour later.
    assert sum(week.received for week in dashboard.weeks) == 1
    assert sum(week.completed for week in dashboard.weeks) == 1
    assert (dashboard.outcomes.completed, dashboard.outcomes.declined_steps) == (1, 0)
    assert dashboard.units == [] and dashboard.sub_districts == []
    page = response.content.decode()
    assert "Nothing to show yet." in figure(page, "chart-declined-reasons")
    assert "No contact" not in page


def test_an_empty_office_page_still_draws(client, district_officer):
    client.force_login(district_officer)
    response = client.get(INDEX)
    assert response.status_code == 200
    page = response.content.decode()
    assert len(table_rows(figure(page, "chart-trend"))) == 1 + WEEKS
    assert "Nothing to show yet." in figure(page, "chart-declined-reasons")
    assert 'id="by-unit"' in page


def test_the_export_carries_the_weeks_and_outcomes(client, district_officer, working_data):
    import csv
    import io

    client.force_login(district_officer)
    rows = list(csv.reader(io.StringIO(client.get(EXPORT).content.decode("utf-8-sig"))))
    blank = [index for index, row in enumerate(rows) if row == []]
    figures, weeks, outcomes = rows[: blank[0]], rows[blank[0] + 1 : blank[1]], rows[blank[1] + 1 :]
    assert ["Sub-district", "F01", working_data.sub_district.name_en] == figures[2][:3]
    assert weeks[0] == ["Table", "Week starting", "Received", "Accepted", "Completed"]
    assert weeks[-1] == ["Week", "2026-04-13", "1", "0", "0"]
    assert len(weeks) == 1 + WEEKS
    assert outcomes[1:5] == [
        ["Outcomes", "Completed", "3"],
        ["Outcomes", "Failed", "1"],
        ["Outcomes", "Declines by a unit", "1"],
        ["Outcomes", "Failures recorded by a unit", "1"],
    ]
    closure = "Submission to closure (completed or failed)"
    assert ["Median hours", closure, "25.0"] in outcomes
    assert ["90th percentile hours", closure, "79.0"] in outcomes
    assert not any("Full" in cell for row in rows for cell in row)  # reasons stay on the page
