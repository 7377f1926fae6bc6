"""The district office's visit-list pages: its lists with their counts, a new list, a list's
households (addresses and counts only: no one's name, so nothing here needs the access
log) with a summary per caring team, loading a file into it, moving households or a block
to another team, and a household's priority.

These are the office's pages (``selectors.may_manage_list``): anyone else, a caring team
whose households are on the list included, gets the 404 of a list that does not exist; a
team works its own list (``outreach:team_list``). The rules are the services'
(``outreach.loading``, ``outreach.assignment``); a refusal is answered as on every page
(``referrals.web.errors.answers_refusals``).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from outreach.assignment import move_block, move_households, set_priority
from outreach.loading import LoadRefused, load_households, rows_from_file, template_csv
from outreach.models import (
    OPEN_HOUSEHOLD_STATUSES,
    Household,
    HouseholdStatus,
    VisitList,
)
from outreach.selectors import (
    households_visible_to,
    lists_managed_by,
    may_manage_list,
    may_manage_lists,
)
from outreach.web.list_forms import (
    HouseholdFilterForm,
    ImportForm,
    MoveForm,
    PriorityForm,
    VisitListForm,
)
from referrals.web.errors import answers_refusals
from services.models import ServiceUnit

LISTS_PER_PAGE = 25
HOUSEHOLDS_PER_PAGE = 50
ERRORS_SHOWN = 1000  # a refused file's report on the page; the count says how many more


def _list_or_404(request, public_id) -> VisitList:
    visit_list = (
        VisitList.objects.select_related("welfare_office", "loader_client__application")
        .filter(public_id=public_id)
        .first()
    )
    if visit_list is None or not may_manage_list(request.user, visit_list):
        raise Http404
    return visit_list


def _detail_url(request, public_id, **_kwargs) -> str:
    return reverse("outreach:list_detail", kwargs={"public_id": public_id})


def _household_url(request, public_id, **_kwargs) -> str:
    return reverse("outreach:household", kwargs={"public_id": public_id})


@login_required
@require_GET
def list_index(request):
    """The lists the user manages, newest first, each with its households by status
    (counted in one query for the page)."""
    if not may_manage_lists(request.user):
        raise Http404
    lists = (
        lists_managed_by(request.user)
        .select_related("welfare_office")
        .order_by("-created_at", "-pk")
    )
    page = Paginator(lists, LISTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    counts: dict[int, dict[str, int]] = {row.pk: {} for row in rows}
    for visit_list_id, status, count in (
        Household.objects.filter(visit_list_id__in=counts)
        .values_list("visit_list_id", "status")
        .annotate(count=Count("pk"))
        .order_by()
    ):
        counts[visit_list_id][status] = count
    for row in rows:
        by_status = counts[row.pk]
        row.total = sum(by_status.values())
        row.left = sum(by_status.get(status, 0) for status in OPEN_HOUSEHOLD_STATUSES)
        row.by_status = [(label, by_status.get(code, 0)) for code, label in HouseholdStatus.choices]
    return render(
        request,
        "outreach/lists.html",
        {"page": page, "lists": rows, "statuses": HouseholdStatus.choices},
    )


@login_required
def list_create(request):
    if not may_manage_lists(request.user):
        raise Http404
    posted = request.method == "POST"
    form = VisitListForm(request.POST if posted else None, user=request.user)
    if posted and form.is_valid():
        visit_list = form.save(commit=False)
        visit_list.created_by = request.user
        visit_list.save()
        messages.success(request, _("List “%(name)s” made.") % {"name": visit_list.name})
        return redirect(_detail_url(request, visit_list.public_id))
    return render(request, "outreach/list_form.html", {"form": form}, status=400 if posted else 200)


def _team_summary(visit_list: VisitList) -> list[dict]:
    """Per caring team (and "no team"): households, left to visit, closed; one query."""
    open_q = Q(status__in=OPEN_HOUSEHOLD_STATUSES)
    rows = list(
        Household.objects.filter(visit_list=visit_list)
        .values("team_id")
        .annotate(total=Count("pk"), left=Count("pk", filter=open_q))
        .order_by("team_id")
    )
    names = {
        unit.pk: unit.name
        for unit in ServiceUnit.objects.filter(pk__in=[row["team_id"] for row in rows])
    }
    for row in rows:
        row["name"] = names.get(row["team_id"], "")
    return rows


@login_required
@require_GET
def list_detail(request, public_id):
    """A list's households (addresses, status, team, priority), paged and filtered by team
    and status; the summary per team; the move form; links to import and to the figures."""
    visit_list = _list_or_404(request, public_id)
    summary = _team_summary(visit_list)
    teams = ServiceUnit.objects.filter(
        pk__in=[row["team_id"] for row in summary if row["team_id"]]
    ).order_by("code")
    filter_form = HouseholdFilterForm(request.GET or None, teams=teams)
    households = Household.objects.filter(visit_list=visit_list).select_related(
        "team", "sub_district"
    )
    if filter_form.is_valid():
        if filter_form.cleaned_data.get("team"):
            households = households.filter(team=filter_form.cleaned_data["team"])
        if filter_form.cleaned_data.get("status"):
            households = households.filter(status=filter_form.cleaned_data["status"])
    households = households.annotate(people_count=Count("people")).order_by(
        "estate_name", "block", "floor", "flat", "pk"
    )
    page = Paginator(households, HOUSEHOLDS_PER_PAGE).get_page(request.GET.get("page"))
    query = urlencode(
        [(key, value) for key, value in request.GET.items() if key != "page" and value]
    )
    context = {
        "visit_list": visit_list,
        "summary": summary,
        "filter_form": filter_form,
        "move_form": MoveForm(visit_list=visit_list),
        "page": page,
        "households": list(page.object_list),
        "query": query,
        "figures_query": urlencode({"list": visit_list.public_id}),
    }
    return render(request, "outreach/list_detail.html", context)


@login_required
def list_import(request, public_id):
    """Upload a CSV or XLSX file into the list; a refused file shows its report, row by
    row, and nothing of it is stored. ``?template=1`` downloads the columns to fill in."""
    visit_list = _list_or_404(request, public_id)
    if request.method == "GET" and request.GET.get("template"):
        response = HttpResponse(template_csv(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="visit-list-template.csv"'
        return response
    posted = request.method == "POST"
    form = ImportForm(request.POST, request.FILES) if posted else ImportForm()
    context = {"visit_list": visit_list, "form": form, "refused": None}
    if posted and form.is_valid():
        try:
            rows = rows_from_file(form.cleaned_data["file"])
            report = load_households(visit_list, rows, actor=request.user)
        except LoadRefused as refused:
            errors = refused.report.errors
            context["refused"] = {
                "message": refused.message,
                "errors": errors[:ERRORS_SHOWN],
                "more": max(0, len(errors) - ERRORS_SHOWN),
            }
            return render(request, "outreach/list_import.html", context, status=400)
        messages.success(
            request,
            ngettext(
                "%(created)d household loaded, %(unchanged)d already there.",
                "%(created)d households loaded, %(unchanged)d already there.",
                report.created,
            )
            % {"created": report.created, "unchanged": report.unchanged},
        )
        return redirect(_detail_url(request, visit_list.public_id))
    return render(request, "outreach/list_import.html", context, status=400 if posted else 200)


@login_required
@require_POST
@answers_refusals(back=_detail_url)
def households_move(request, public_id):
    """Move the ticked households, or every household of an estate's block, to a team."""
    visit_list = _list_or_404(request, public_id)
    form = MoveForm(request.POST, visit_list=visit_list)
    if not form.is_valid():
        for error in form.errors.get("__all__", []) + form.errors.get("team", []):
            messages.error(request, error)
        return redirect(_detail_url(request, public_id))
    team = form.cleaned_data["team"]
    if form.households:
        chosen = Household.objects.filter(visit_list=visit_list, public_id__in=form.households)
        if chosen.count() != len(set(form.households)):
            raise Http404
        moved = move_households(actor=request.user, households=chosen, team=team)
    else:
        moved = move_block(
            actor=request.user,
            visit_list=visit_list,
            estate_name=form.cleaned_data["estate_name"],
            block=form.cleaned_data["block"],
            team=team,
        )
    messages.success(
        request,
        ngettext(
            "%(count)d household moved to %(team)s.",
            "%(count)d households moved to %(team)s.",
            moved,
        )
        % {"count": moved, "team": team.name},
    )
    return redirect(_detail_url(request, public_id))


@login_required
@require_POST
@answers_refusals(back=_household_url)
def household_priority(request, public_id):
    """The office's priority for a household (from the household's page), or back to the
    one its reasons give."""
    household = households_visible_to(request.user).filter(public_id=public_id).first()
    if household is None:
        raise Http404
    form = PriorityForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose one of the priorities."))
        return redirect(_household_url(request, public_id))
    set_priority(
        actor=request.user,
        household=household,
        priority=form.cleaned_data["priority"],
        version=form.cleaned_data["version"],
    )
    messages.success(request, _("Priority saved."))
    return redirect(_household_url(request, public_id))
