"""The district office's queue (``/queue/``) and the unit's inbox (``/inbox/``).

Filters live in the URL (bookmarkable, shareable); with htmx a filter change swaps only the
result list. Every action goes through the same lifecycle services as the referral page.
Both lists are compact tables (issue 19): the inbox has no action forms in its rows, a row
links to its main next step on the referral page (``?action=<name>#action-form``, one form
at a time); the queue's bulk withdraw is asked for twice (``bulk_confirm.html``, with
``TRANSITIONS["cancel"].consequence``) and changes nothing until confirmed.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import prefetch_related_objects
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from referrals.assignment import referral_assign, referral_escalate
from referrals.audit import log_personal_data_access_many
from referrals.errors import ReferralError
from referrals.lifecycle import TRANSITIONS, Actor
from referrals.models import AccessLog, Referral, Status
from referrals.queues import (
    INBOX_TABS,
    QueueFilter,
    capped_count,
    declined_by,
    inbox,
    inbox_row_flags,
    inbox_tab_counts,
    inbox_units,
    labelled,
    minutes_waiting,
    office_scope,
    page_of,
    row_flags,
    row_labels,
    unit_for_reassignment,
    units_for_reassignment,
)
from referrals.services import referral_cancel
from referrals.web.caseload_views import allocation_bars, inbox_owner_flags, inbox_owner_row
from referrals.web.errors import NOT_FOUND_LINE, refusal_line
from referrals.web.search import allows_search, links_query, search_posted, searched_query

ROW_RELATIONS = ("district", "sub_district", "assigned_unit", "referring_team")


def _queue_row(referral: Referral, now, labels: dict) -> dict:
    return {
        "referral": referral,
        **labelled(referral, labels),
        "overdue": referral.is_overdue,
        # Not routed long after submission (issue 14 item 19): how long it has waited.
        "waiting_minutes": minutes_waiting(referral, now) if referral.is_unrouted else None,
    }


@login_required
@allows_search
def queue(request):
    """The queue; a POST is its search box (``referrals.web.search``: no name in a URL)."""
    scope = office_scope(request.user)
    if scope.empty:
        raise Http404
    if request.method == "POST":
        return search_posted(request, reverse("queue:index"))
    data, search = searched_query(request)
    now = timezone.now()
    queue_filter = QueueFilter(data, queryset=scope.referrals(), scope=scope, now=now)
    rows = queue_filter.qs if queue_filter.is_valid() else Referral.objects.none()
    count, more = capped_count(rows) if queue_filter.is_valid() else (0, False)
    page = page_of(
        rows, request.GET.get("page"), relations=ROW_RELATIONS, annotations=row_flags(now)
    )
    log_personal_data_access_many(
        user=request.user, referrals=page.rows, channel=AccessLog.Channel.PAGE, detail="queue"
    )
    query = links_query(data)
    labels = row_labels()
    page_query = "&".join(
        part for part in (query, f"page={page.number}" if "page" in data else "") if part
    )
    context = {
        "filter": queue_filter,
        "folded": queue_filter.folded_fields(),
        "folded_set": queue_filter.folded_set(),
        "count": count,
        "count_more": more,
        "search": search,
        "page": page,
        "rows": [_queue_row(r, now, labels) for r in page.rows],
        "query": query,
        "here": f"{reverse('queue:index')}?{page_query}",
        "row_routable": TRANSITIONS["assign"].sources,
        "bulk_units": units_for_reassignment(
            scope,
            queue_filter.form.cleaned_data.get("district") if queue_filter.is_valid() else None,
        ),
    }
    template = "referrals/includes/queue_results.html" if request.htmx else "referrals/queue.html"
    return render(request, template, context)


BULK_ACTIONS = ("reassign", "escalate", "cancel")
BULK_LIMIT = 100  # rows one batch acts on


def _bulk_ids(request) -> list[int]:
    """The selected rows' ids as posted (digits only), at most ``BULK_LIMIT``, in order."""
    ids = [int(value) for value in request.POST.getlist("selected") if value.isdigit()]
    return list(dict.fromkeys(ids))[:BULK_LIMIT]


@login_required
@require_POST
def queue_bulk(request):
    """Reassign, escalate or cancel the selected referrals, one service call (and one
    transaction) each, with a result line per row. Withdrawing is destructive: the first
    post shows what it does and the references it would withdraw (``bulk_confirm.html``);
    only the confirming post (``confirmed``) acts."""
    scope = office_scope(request.user)
    if scope.empty:
        raise Http404
    action = request.POST.get("bulk_action", "")
    reason = request.POST.get("reason", "").strip()
    query = request.POST.get("query", "")
    back = redirect(f"{reverse('queue:index')}?{query}")
    if action not in BULK_ACTIONS:
        messages.error(request, _("Choose what to do with the selected referrals."))
        return back
    ids = _bulk_ids(request)
    if not ids:
        messages.error(request, _("Select at least one referral."))
        return back
    unit = None
    if action == "reassign":
        unit_id = request.POST.get("unit", "")
        unit = unit_for_reassignment(scope, int(unit_id)) if unit_id.isdigit() else None
        if unit is None:
            messages.error(request, _("Choose the unit to reassign the referrals to."))
            return back
    found = {r.pk: r for r in scope.referrals().filter(pk__in=ids).only("pk", "reference")}
    if action == "cancel" and (request.POST.get("confirmed") != "1" or not reason):
        return _bulk_confirm(request, ids=ids, found=found, reason=reason, query=query)
    for referral_id in ids:
        referral = found.get(referral_id)
        if referral is None:
            messages.error(request, NOT_FOUND_LINE)
            continue
        _bulk_one(request, action, referral, unit=unit, reason=reason)
    return back


def _bulk_one(request, action: str, referral: Referral, *, unit, reason: str) -> None:
    """One row of a batch through its lifecycle service, answered in its own line."""
    try:
        if action == "reassign":
            referral_assign(referral_id=referral.pk, actor=request.user, unit=unit, reason=reason)
        elif action == "escalate":
            referral_escalate(referral_id=referral.pk, actor=request.user, reason=reason)
        else:
            referral_cancel(referral_id=referral.pk, actor=request.user, reason=reason)
    except ReferralError as error:
        # A batch answers each row's refusal in its line (referrals/web/errors.py): the
        # other rows were done or refused in their own transactions.
        messages.error(request, refusal_line(referral.reference, error))
    else:
        messages.success(request, _("%(reference)s: done.") % {"reference": referral.reference})


def _bulk_confirm(request, *, ids: list[int], found: dict, reason: str, query: str):
    """The page that asks before a batch is withdrawn: what withdrawing does
    (``TRANSITIONS["cancel"].consequence``, the one home of it), the references in reach
    (references only: no names on a page about many people) and the reason, which
    withdrawing needs. Posting it again with ``confirmed`` acts; nothing has changed yet."""
    confirming = request.POST.get("confirmed") == "1"
    return render(
        request,
        "referrals/bulk_confirm.html",
        {
            "transition": TRANSITIONS["cancel"],
            "references": [found[pk].reference for pk in ids if pk in found],
            "ids": [pk for pk in ids if pk in found],
            "out_of_reach": sum(1 for pk in ids if pk not in found),
            "reason": reason,
            "reason_error": _("Give the reason for withdrawing them.")
            if confirming and not reason
            else "",
            "query": query,
            "back": f"{reverse('queue:index')}?{query}",
        },
        status=400 if confirming else 200,
    )


# --- The unit's inbox --------------------------------------------------------------------

UNIT_TRANSITIONS = [t for t in TRANSITIONS.values() if Actor.UNIT in t.actors]


def main_step(task_status: str):
    """The step an inbox row offers as a link to the referral page (``?action=<name>``):
    the unit's first step from its task's status that needs no reason and takes nothing
    back (accept, start, complete, resume). The others are on the referral page."""
    steps = [t for t in UNIT_TRANSITIONS if task_status in t.sources]
    return next((t for t in steps if not t.reason_required and t.consequence is None), None)


def _inbox_row(referral: Referral, unit_ids: list[int], bars, labels: dict) -> dict:
    declined = (
        referral.task_status in (Status.REJECTED, Status.CANCELLED)
        and referral.assigned_unit_id not in unit_ids
    )
    return {
        "referral": referral,
        **labelled(referral, labels, status=referral.task_status),
        "task_status": Status(referral.task_status),
        "overdue": referral.is_overdue,
        # Declined (or moved on by the office) and gone on to another unit: shown as the
        # unit's own part (when, why), without the next unit's status or deadline and
        # without a link to a page it may no longer see (``selectors.tasks_seen_by``).
        "declined": declined,
        "step": None if declined else main_step(referral.task_status),
        "case": inbox_owner_row(referral, bars),
    }


@login_required
@require_GET
def unit_inbox(request):
    unit_ids = inbox_units(request.user)
    if not unit_ids:
        raise Http404
    tab = request.GET.get("tab", "new")
    if tab not in INBOX_TABS:
        tab = "new"
    now = timezone.now()
    annotations = inbox_row_flags(unit_ids, now)
    annotations.update(inbox_owner_flags(unit_ids))  # each case's worker (issue 17)
    if tab == "closed":
        annotations.update(declined_by(unit_ids))
    page = page_of(
        inbox(unit_ids=unit_ids, tab=tab, now=now),
        request.GET.get("page"),
        relations=ROW_RELATIONS,
        annotations=annotations,
    )
    prefetch_related_objects(page.rows, "needs")  # the needs column: one query per page
    log_personal_data_access_many(
        user=request.user, referrals=page.rows, channel=AccessLog.Channel.PAGE, detail="inbox"
    )
    # A supervisor allocates the rows' cases from the tabs of open cases (issue 17).
    bars = allocation_bars(request.user, tab)
    counts = inbox_tab_counts(unit_ids, now)
    labels = row_labels()
    context = {
        "tabs": [(key, label, counts[key]) for key, (label, _q) in INBOX_TABS.items()],
        "tab": tab,
        "tab_label": INBOX_TABS[tab][0],
        "page": page,
        "allocation_bars": bars,
        "rows": [_inbox_row(referral, unit_ids, bars, labels) for referral in page.rows],
        "query": f"tab={tab}",
        "next": request.get_full_path(),
    }
    return render(request, "referrals/inbox.html", context)
