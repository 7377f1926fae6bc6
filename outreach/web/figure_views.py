"""Outreach's figures page, its CSV export, and outreach's panel on the office's dashboard.

Both pages answer 404 to someone with no outreach role (a unit's staff: units see nothing of a
list) and to a list or team filter outside the user's scope, as for one that does not exist.
The figures come from ``outreach.figures``; this module only lays them out. They hold counts
and the names of lists and teams, never a person's details.
"""

import csv
import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from django.views.decorators.http import require_GET

from outreach.figures import (
    HONG_KONG,
    Counts,
    Figures,
    figures_for,
    has_outreach_scope,
    office_totals,
)
from outreach.models import VisitList
from outreach.selectors import households_visible_to, lists_visible_to
from referrals.dashboard import Panel
from services.models import ServiceUnit

# (heading, attribute of Counts, counted by week?): the columns of the tables and the CSV.
COLUMNS = [
    (gettext_lazy("Households"), "households", False),
    (gettext_lazy("Households visited"), "visited", False),
    (gettext_lazy("Unreachable"), "unreachable", False),
    (gettext_lazy("Refused"), "refused", False),
    (gettext_lazy("Visits (all attempts)"), "visits", True),
    (gettext_lazy("Visits that reached someone"), "visited_visits", True),
    (gettext_lazy("Referrals made"), "referrals", True),
    (gettext_lazy("Personal emergency link (平安鐘) applications"), "emergency_links", True),
    (gettext_lazy("Conversion, visits to referrals (%)"), "conversion", True),
]
WEEK_COLUMNS = [column for column in COLUMNS if column[2]]


def _cells(counts: Counts, columns=COLUMNS, *, empty: str) -> list[str]:
    cells = []
    for _heading, name, _weekly in columns:
        value = getattr(counts, name)
        if value is None:
            cells.append(empty)
        elif isinstance(value, float):
            cells.append(f"{value:.1f}")
        else:
            cells.append(str(value))
    return cells


def _filters(request: HttpRequest) -> tuple[list[VisitList], list[ServiceUnit], dict]:
    """The lists and teams the user may filter on, and those chosen (``?list=<public id>``,
    ``?team=<id>``). A choice outside them is a 404, as one that does not exist."""
    user = request.user
    if not has_outreach_scope(user):
        raise Http404
    lists = list(lists_visible_to(user).order_by("-created_at", "pk"))
    teams = sorted(
        ServiceUnit.objects.filter(pk__in=households_visible_to(user).values("team_id")),
        key=lambda team: team.name,
    )
    chosen = {"visit_list": None, "team": None}
    list_id = request.GET.get("list", "").strip()
    if list_id:
        try:
            wanted = uuid.UUID(list_id)
        except ValueError:
            raise Http404 from None
        chosen["visit_list"] = next((item for item in lists if item.public_id == wanted), None)
        if chosen["visit_list"] is None:
            raise Http404
    team_id = request.GET.get("team", "").strip()
    if team_id:
        chosen["team"] = next((team for team in teams if str(team.pk) == team_id), None)
        if chosen["team"] is None:
            raise Http404
    return lists, teams, chosen


def _query(chosen: dict) -> str:
    parts = []
    if chosen["visit_list"] is not None:
        parts.append(f"list={chosen['visit_list'].public_id}")
    if chosen["team"] is not None:
        parts.append(f"team={chosen['team'].pk}")
    return "?" + "&".join(parts) if parts else ""


@login_required
@require_GET
def figures(request: HttpRequest) -> HttpResponse:
    lists, teams, chosen = _filters(request)
    result: Figures = figures_for(request.user, **chosen)
    return render(
        request,
        "outreach/figures.html",
        {
            "figures": result,
            "lists": lists,
            "teams": teams,
            "chosen_list": chosen["visit_list"],
            "chosen_team": chosen["team"],
            "query": _query(chosen),
            "headings": [heading for heading, _name, _weekly in COLUMNS],
            "week_headings": [heading for heading, _name, _weekly in WEEK_COLUMNS],
            "list_rows": [(row, _cells(row.counts, empty="—")) for row in result.lists],
            "team_rows": [(row, _cells(row.counts, empty="—")) for row in result.teams],
            "week_rows": [
                (row, _cells(row.counts, WEEK_COLUMNS, empty="—")) for row in result.weeks
            ],
            "total_cells": _cells(result.total, empty="—"),
            "conversion": result.total.conversion,
        },
    )


@login_required
@require_GET
def figures_export(request: HttpRequest) -> HttpResponse:
    """The page's tables as one CSV, headed in the reader's language; UTF-8 with a byte-order
    mark so that Excel shows the Chinese. Counts and list and team names only."""
    _lists, _teams, chosen = _filters(request)
    result = figures_for(request.user, **chosen)
    day = timezone.localtime(timezone.now(), HONG_KONG).date().isoformat()
    response = HttpResponse(
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="outreach-figures-{day}.csv"'},
    )
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(
        [_("Table"), pgettext("list, team or week", "Name"), *(str(h) for h, _n, _w in COLUMNS)]
    )
    for row in result.lists:
        writer.writerow([_("Visit list"), row.visit_list.name, *_cells(row.counts, empty="")])
    for row in result.teams:
        writer.writerow([_("Caring team"), row.name, *_cells(row.counts, empty="")])
    for row in result.weeks:
        # A week counts visits and referrals; the household columns stay empty.
        weekly = iter(_cells(row.counts, WEEK_COLUMNS, empty=""))
        cells = [next(weekly) if counted else "" for _h, _n, counted in COLUMNS]
        writer.writerow([_("Week"), f"{row.label} ({row.start.isoformat()})", *cells])
    writer.writerow([_("Total"), "", *_cells(result.total, empty="")])
    return response


def dashboard_panel(*, user, districts) -> Panel | None:
    """Outreach's card on the office's dashboard (registered in ``OutreachConfig.ready``):
    the totals of the districts shown. Only offices and headquarters have a dashboard, and
    both see the outreach of their districts; no districts, no card."""
    if not districts:
        return None
    totals = office_totals(district_ids=[district.pk for district in districts])
    conversion = totals.conversion
    return Panel(
        key="outreach",
        title=_("Outreach visits"),
        tiles=[
            (_("Households on visit lists"), str(totals.households)),
            (_("Households visited"), str(totals.visited)),
            (_("Referrals made"), str(totals.referrals)),
            (
                _("Conversion, visits to referrals"),
                "—" if conversion is None else f"{conversion:.1f}%",
            ),
        ],
        link_url=reverse("outreach:figures"),
        link_text=_("Outreach figures by list, team and week"),
    )
