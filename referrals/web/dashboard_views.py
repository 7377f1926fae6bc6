"""The district dashboard page and its CSV export.

Both start from ``dashboard_districts``: no districts in scope (or a ``district`` filter
outside it) is a 404. The figures come from ``referrals.dashboard`` (cached a minute); this
module only lays them out: tables, inline SVG charts (each with its numbers as a table), CSV.
"""

import csv
from html import escape

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from django.views.decorators.http import require_GET

from districts.models import District
from referrals.dashboard import (
    COHORT_DAYS,
    HONG_KONG,
    TOP_NEEDS,
    Dashboard,
    Figures,
    covers_every_district,
    dashboard_cached,
    dashboard_districts,
    dashboard_panels,
)
from referrals.dashboard_trends import TOP_REASONS, WEEKS
from referrals.web.charts import BarChart, LineChart, bar_chart, line_chart

# (heading, attribute of Figures, kind): the columns of the tables and of the CSV.
COLUMNS = [
    (gettext_lazy("Received this week"), "received_week", "count"),
    (gettext_lazy("Received this month"), "received_month", "count"),
    (gettext_lazy("Open"), "open", "count"),
    (gettext_lazy("Awaiting triage"), "triage", "count"),
    (gettext_lazy("Overdue"), "overdue", "count"),
    (gettext_lazy("Escalated"), "escalated", "count"),
    (gettext_lazy("Median hours to acceptance"), "median_hours", "decimal"),
    (gettext_lazy("90th percentile hours to acceptance"), "p90_hours", "decimal"),
    (gettext_lazy("Acceptance rate (%)"), "acceptance_rate", "decimal"),
    (gettext_lazy("Rejection rate (%)"), "rejection_rate", "decimal"),
]
# A sub-district has the caseload only: decisions are the units', not the areas'.
CASELOAD_COLUMNS = COLUMNS[:6]
# The units' table: what a unit receives, decides and holds.
UNIT_COLUMNS = [
    COLUMNS[1],
    (gettext_lazy("Accepted"), "accepted", "count"),
    (gettext_lazy("Declined"), "rejected", "count"),
    COLUMNS[2],
    COLUMNS[4],
    COLUMNS[6],
]
SUB_DISTRICTS_CHARTED = 12  # the busiest; the table under the chart has every one
REASON_CHARS = 48  # a reason is cut there, to fit on a phone


def _cells(figures: Figures, *, empty: str, columns=COLUMNS) -> list[str]:
    cells = []
    for _heading, name, kind in columns:
        value = getattr(figures, name)
        if value is None:
            cells.append(empty)
        elif kind == "decimal":
            cells.append(f"{value:.1f}")
        else:
            cells.append(str(value))
    return cells


def _hours(value: float | None, *, empty: str) -> str:
    return empty if value is None else f"{value:.1f}"


def _scope(request: HttpRequest) -> tuple[list[District], list[District], District | None]:
    """(districts the user may see, districts shown, the district filtered on or None)."""
    districts = dashboard_districts(user=request.user)
    if not districts:
        raise Http404
    code = request.GET.get("district", "").strip().upper()
    if not code:
        return districts, districts, None
    chosen = [district for district in districts if district.code == code]
    if not chosen:
        raise Http404  # unknown, or outside the user's scope: the same answer
    return districts, chosen, chosen[0]


def _dashboard(request: HttpRequest, shown: list[District], district: District | None):
    everywhere = district is None and covers_every_district(user=request.user)
    return dashboard_cached(districts=shown, everywhere=everywhere)


def _headings(columns) -> list[str]:
    return [heading for heading, _name, _kind in columns]


@login_required
@require_GET
def dashboard_index(request: HttpRequest) -> HttpResponse:
    scope, shown, district = _scope(request)
    dashboard = _dashboard(request, shown, district)

    def rows(of, columns=COLUMNS):
        return [(row, _cells(row.figures, empty="—", columns=columns)) for row in of]

    tables = {
        "district": rows(dashboard.districts),
        "unit_type": rows(dashboard.unit_types),
        "sub_district": rows(dashboard.sub_districts, CASELOAD_COLUMNS),
        "unit": rows(dashboard.units, UNIT_COLUMNS),
    }
    return render(
        request,
        "referrals/dashboard.html",
        {
            "dashboard": dashboard,
            "scope": scope,
            "district": district,
            "headings": _headings(COLUMNS),
            "total_cells": _cells(dashboard.total, empty="—"),
            "sub_district_headings": _headings(CASELOAD_COLUMNS),
            "unit_headings": _headings(UNIT_COLUMNS),
            **{f"{name}_rows": table for name, table in tables.items()},
            **{f"{name}_body": _table_body(table) for name, table in tables.items()},
            "times": _times(dashboard, empty="—"),
            "trend_chart": _trend_chart(dashboard),
            "charts": _charts(dashboard),
            "working_charts": _working_charts(dashboard),
            "cohort_days": COHORT_DAYS,
            "top_needs_count": TOP_NEEDS,
            "top_reasons_count": TOP_REASONS,
            "weeks": WEEKS,
            # Other apps' cards (outreach's figures), registered with ``register_panel``.
            "panels": dashboard_panels(user=request.user, districts=shown),
        },
    )


def _table_body(rows) -> str:
    """A table's rows (a header cell with the name, then the cells), built here rather than
    in the template: the city's tables have a row per unit and sub-district (1,400 rows),
    and the template's loops over their cells were most of the page's time (issue 20)."""
    return mark_safe(  # noqa: S308 - every value escaped here
        "".join(
            f'<tr data-code="{escape(row.key)}"><th scope="row">{escape(row.name)}</th>'
            + "".join(f"<td>{escape(cell)}</td>" for cell in cells)
            + "</tr>\n    "
            for row, cells in rows
        )
    )


def _times(dashboard: Dashboard, *, empty: str) -> list[tuple[str, str, str, str]]:
    """(id, what, median hours, 90th percentile hours) of the time to acceptance and the
    time to closure."""
    total, outcomes = dashboard.total, dashboard.outcomes
    return [
        (
            "acceptance",
            _("Submission to first acceptance"),
            _hours(total.median_hours, empty=empty),
            _hours(total.p90_hours, empty=empty),
        ),
        (
            "closure",
            _("Submission to closure (completed or failed)"),
            _hours(outcomes.closure_median_hours, empty=empty),
            _hours(outcomes.closure_p90_hours, empty=empty),
        ),
    ]


@login_required
@require_GET
def dashboard_export(request: HttpRequest) -> HttpResponse:
    """The tables as CSV, headed in the reader's language; UTF-8 with a byte-order mark so
    that Excel shows the Chinese names. The figures' table first (districts, sub-districts,
    unit types, units, total), then, each under its own heading row, the weeks and the
    outcomes. The reasons (free text written about people's cases) stay on the page."""
    _scope_districts, shown, district = _scope(request)
    dashboard = _dashboard(request, shown, district)
    day = timezone.localtime(dashboard.now, HONG_KONG).date().isoformat()
    suffix = f"-{district.code.lower()}" if district else ""
    response = HttpResponse(
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="dashboard{suffix}-{day}.csv"'},
    )
    response.write("\ufeff")
    writer = csv.writer(response)
    name = pgettext("district or unit type", "Name")
    writer.writerow([_("Table"), _("Code"), name, *(str(h) for h in _headings(COLUMNS))])
    for table, rows in [
        (_("District"), dashboard.districts),
        (_("Sub-district"), dashboard.sub_districts),
        (_("Unit type"), dashboard.unit_types),
        (_("Unit"), dashboard.units),
    ]:
        for row in rows:
            writer.writerow([table, row.key, row.name, *_cells(row.figures, empty="")])
    writer.writerow([_("Total"), "", _("All districts shown"), *_cells(dashboard.total, empty="")])
    writer.writerow([])
    writer.writerow([_("Table"), _("Week starting"), _("Received"), _("Accepted"), _("Completed")])
    for week in dashboard.weeks:
        start = week.start.isoformat()
        writer.writerow([_("Week"), start, week.received, week.accepted, week.completed])
    writer.writerow([])
    writer.writerow([_("Table"), _("Figure"), _("Value")])
    outcomes = dashboard.outcomes
    for label, value in [
        (_("Completed"), outcomes.completed),
        (_("Failed"), outcomes.failed),
        (_("Declines by a unit"), outcomes.declined_steps),
        (_("Failures recorded by a unit"), outcomes.failed_steps),
    ]:
        writer.writerow([_("Outcomes"), label, value])
    for _id, label, median, p90 in _times(dashboard, empty=""):
        writer.writerow([_("Median hours"), label, median])
        writer.writerow([_("90th percentile hours"), label, p90])
    return response


# --- Charts: what the dashboard draws (geometry in referrals/web/charts.py) ---------------


def _trend_chart(dashboard: Dashboard) -> LineChart:
    weeks = dashboard.weeks
    return line_chart(
        chart_id="chart-trend",
        title=_("Referrals per week, last %(weeks)s weeks") % {"weeks": WEEKS},
        description=_(
            "Lines for referrals received, acceptances by units and referrals completed, "
            "per week from Monday; the numbers are in the table under the chart."
        ),
        series=[
            ("line-received", _("Received")),
            ("line-accepted", _("Accepted")),
            ("line-completed", _("Completed")),
        ],
        labels=[f"{week.start.month}/{week.start.day}" for week in weeks],
        values=[
            [week.received for week in weeks],
            [week.accepted for week in weeks],
            [week.completed for week in weeks],
        ],
        row_heading=_("Week from Monday"),
    )


def _charts(dashboard: Dashboard) -> list[BarChart]:
    districts = dashboard.districts
    return [
        bar_chart(
            chart_id="chart-received",
            title=_("Referrals received, by district"),
            description=_(
                "Bars per district for this week and this month; each bar's number is "
                "written next to it and in the table below."
            ),
            series=[("bar-week", _("This week")), ("bar-month", _("This month"))],
            rows=[
                (row.name, [row.figures.received_week, row.figures.received_month])
                for row in districts
            ],
            row_heading=_("District"),
        ),
        bar_chart(
            chart_id="chart-open",
            title=_("Open referrals, by district"),
            description=_(
                "Bars per district for open referrals, those awaiting triage and those "
                "overdue; each bar's number is written next to it and in the table below."
            ),
            series=[
                ("bar-open", _("Open")),
                ("bar-triage", _("Awaiting triage")),
                ("bar-overdue", _("Overdue")),
            ],
            rows=[
                (row.name, [row.figures.open, row.figures.triage, row.figures.overdue])
                for row in districts
            ],
            row_heading=_("District"),
        ),
        bar_chart(
            chart_id="chart-needs",
            title=_("Top needs in the last %(days)s days") % {"days": COHORT_DAYS},
            description=_(
                "Referrals naming each need; the number is written next to each bar and in "
                "the table below."
            ),
            series=[("bar-need", _("Referrals"))],
            rows=[(item.need.name, [item.referrals]) for item in dashboard.top_needs],
            row_heading=_("Need"),
        ),
    ]


def _reason_rows(reasons, other: int) -> list[tuple[str, list[int]]]:
    rows = [
        (Truncator(item.reason).chars(REASON_CHARS) or _("No reason recorded"), [item.count])
        for item in reasons
    ]
    return rows + ([(_("Other reasons"), [other])] if other else [])


def _working_charts(dashboard: Dashboard) -> dict[str, BarChart]:
    outcomes = dashboard.outcomes
    busiest = sorted(dashboard.sub_districts, key=lambda row: -row.figures.open)
    written = _("each bar's number is written next to it and in the table under the chart.")
    reasons = _("Reason")
    return {
        "sub_districts": bar_chart(
            chart_id="chart-sub-districts",
            title=_("Open and received this month, by sub-district"),
            description=_("The busiest sub-districts by open referrals; %(written)s")
            % {"written": written},
            series=[("bar-open", _("Open")), ("bar-month", _("Received this month"))],
            rows=[
                (row.name, [row.figures.open, row.figures.received_month])
                for row in busiest[:SUB_DISTRICTS_CHARTED]
            ],
            row_heading=_("Sub-district"),
        ),
        "outcomes": bar_chart(
            chart_id="chart-outcomes",
            title=_("Outcomes in the last %(days)s days") % {"days": COHORT_DAYS},
            description=_("Referrals completed and failed, and declines by units; %(written)s")
            % {"written": written},
            series=[("bar-outcome", _("Number"))],
            rows=[
                (_("Completed"), [outcomes.completed]),
                (_("Failed"), [outcomes.failed]),
                (_("Declines by a unit"), [outcomes.declined_steps]),
            ],
            row_heading=_("Outcome"),
        ),
        "declined": bar_chart(
            chart_id="chart-declined-reasons",
            title=_("Why units declined"),
            description=_("The reasons given most often; %(written)s") % {"written": written},
            series=[("bar-declined", _("Declines"))],
            rows=_reason_rows(outcomes.declined_reasons, outcomes.declined_other),
            row_heading=reasons,
        ),
        "failed": bar_chart(
            chart_id="chart-failed-reasons",
            title=_("Why cases failed"),
            description=_("The reasons given most often; %(written)s") % {"written": written},
            series=[("bar-failed", _("Failures"))],
            rows=_reason_rows(outcomes.failed_reasons, outcomes.failed_other),
            row_heading=reasons,
        ),
    }
