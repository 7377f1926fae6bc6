"""The district dashboard page and its CSV export.

Both start from ``dashboard_districts``: no districts in scope (or a ``district`` filter
outside it) is a 404. The figures come from ``referrals.dashboard`` (cached a minute); this
module only lays them out: tables, inline SVG bar charts, CSV.
"""

import csv

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
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
    dashboard_cached,
    dashboard_districts,
    dashboard_panels,
)
from referrals.web.charts import BarChart, bar_chart

# (heading, attribute of Figures, kind): the columns of both tables and of the CSV.
COLUMNS = [
    (gettext_lazy("Received this week"), "received_week", "count"),
    (gettext_lazy("Received this month"), "received_month", "count"),
    (gettext_lazy("Open"), "open", "count"),
    (gettext_lazy("Awaiting triage"), "triage", "count"),
    (gettext_lazy("Overdue"), "overdue", "count"),
    (gettext_lazy("Escalated"), "escalated", "count"),
    (gettext_lazy("Median hours to acceptance"), "median_hours", "decimal"),
    (gettext_lazy("Acceptance rate (%)"), "acceptance_rate", "decimal"),
    (gettext_lazy("Rejection rate (%)"), "rejection_rate", "decimal"),
]


def _cells(figures: Figures, *, empty: str) -> list[str]:
    cells = []
    for _heading, name, kind in COLUMNS:
        value = getattr(figures, name)
        if value is None:
            cells.append(empty)
        elif kind == "decimal":
            cells.append(f"{value:.1f}")
        else:
            cells.append(str(value))
    return cells


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


@login_required
@require_GET
def dashboard_index(request: HttpRequest) -> HttpResponse:
    scope, shown, district = _scope(request)
    dashboard = dashboard_cached(districts=shown)
    return render(
        request,
        "referrals/dashboard.html",
        {
            "dashboard": dashboard,
            "scope": scope,
            "district": district,
            "headings": [heading for heading, _name, _kind in COLUMNS],
            "district_rows": [(row, _cells(row.figures, empty="—")) for row in dashboard.districts],
            "unit_type_rows": [
                (row, _cells(row.figures, empty="—")) for row in dashboard.unit_types
            ],
            "total_cells": _cells(dashboard.total, empty="—"),
            "charts": _charts(dashboard),
            "cohort_days": COHORT_DAYS,
            "top_needs_count": TOP_NEEDS,
            # Other apps' cards (outreach's figures), registered with ``register_panel``.
            "panels": dashboard_panels(user=request.user, districts=shown),
        },
    )


@login_required
@require_GET
def dashboard_export(request: HttpRequest) -> HttpResponse:
    """The district and unit-type tables as CSV, headed in the reader's language; UTF-8 with
    a byte-order mark so that Excel shows the Chinese names."""
    _scope_districts, shown, district = _scope(request)
    dashboard = dashboard_cached(districts=shown)
    day = timezone.localtime(dashboard.now, HONG_KONG).date().isoformat()
    suffix = f"-{district.code.lower()}" if district else ""
    response = HttpResponse(
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="dashboard{suffix}-{day}.csv"'},
    )
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(
        [
            _("Table"),
            _("Code"),
            pgettext("district or unit type", "Name"),
            *(str(h) for h, _n, _k in COLUMNS),
        ]
    )
    for row in dashboard.districts:
        writer.writerow([_("District"), row.key, row.name, *_cells(row.figures, empty="")])
    for row in dashboard.unit_types:
        writer.writerow([_("Unit type"), row.key, row.name, *_cells(row.figures, empty="")])
    writer.writerow([_("Total"), "", _("All districts shown"), *_cells(dashboard.total, empty="")])
    return response


# --- Charts: what the dashboard draws (geometry in referrals/web/charts.py) ---------------


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
        ),
    ]
