"""HTML pages for referrals. Every page starts from ``referrals_visible_to``: outside it, 404."""

import django_filters
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.db.models import Q
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from accounts.selectors import user_scope
from referrals import identity
from referrals.assignment import referral_escalate
from referrals.audit import log_personal_data_access, log_personal_data_access_many
from referrals.duplicates import duplicate_links
from referrals.lifecycle import (
    TRANSITIONS,
    Actor,
    actor_roles,
    available_transitions,
    may_escalate,
    own_task,
    reader_unit_ids,
    reads_case_notes,
    tasks_for,
    timeline_for,
)
from referrals.models import (
    LEFT_TASK_STATUSES,
    AccessLog,
    ContactOutcome,
    NoNeedReason,
    Referral,
    ReferralEvent,
    RiskLevel,
    Status,
)
from referrals.queues import (
    ANY,
    capped_count,
    capped_union_count,
    labelled,
    page_of,
    row_labels,
)
from referrals.routing import reasons_from_json
from referrals.routing_inputs import routing_decision_for
from referrals.selectors import (
    referral_for_page,
    referrals_visible_to,
    routing_choices,
    visible_sources,
)
from referrals.unit_messages import may_read, may_write
from referrals.web.errors import answers_refusals
from referrals.web.panels import panels_for
from referrals.web.search import allows_search, links_query, search_posted, searched_query
from welfare_portal.widgets import FastSelect

REFERRALS_PER_PAGE = 25


class ReferralListFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        widget=FastSelect, label=_("Status"), choices=Status.choices, empty_label=ANY
    )
    risk_level = django_filters.ChoiceFilter(
        widget=FastSelect, label=_("Risk level"), choices=RiskLevel.choices, empty_label=ANY
    )
    q = django_filters.CharFilter(label=_("Reference or name"), method="search")

    class Meta:
        model = Referral
        fields = ["status", "risk_level"]

    def search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(
            Q(reference__icontains=value)
            | Q(subject_name_zh__icontains=value)
            | Q(subject_name_en__icontains=value)
        )


# The list's order, newest first; the id breaks ties so that pages never overlap. The index
# ``referral_recent`` (created_at, id) serves it in order whatever the reader's visibility.
LIST_ORDER = ("-created_at", "-pk")
LIST_RELATIONS = ("district", "sub_district", "assigned_unit")


@login_required
@allows_search
def referral_list(request):
    """The list; a POST is its search box (``referrals.web.search``: no name in a URL).

    Paged as the queue is (``queues.page_of``: one row more than shown says whether a next
    page follows) and counted no further than the queue's cap (``queues.capped_count``): no
    query counts or sorts all the referrals a district officer sees."""
    if request.method == "POST":
        return search_posted(request, reverse("referrals:list"))
    data, search = searched_query(request)
    visible = referrals_visible_to(request.user).order_by(*LIST_ORDER)
    referral_filter = ReferralListFilter(data, queryset=visible)
    valid = referral_filter.is_valid()
    rows = referral_filter.qs if valid else visible.none()
    count, more = _count(request.user, data, rows) if valid else (0, False)
    page = page_of(rows, request.GET.get("page"), relations=LIST_RELATIONS, size=REFERRALS_PER_PAGE)
    log_personal_data_access_many(
        user=request.user, referrals=page.rows, channel=AccessLog.Channel.PAGE, detail="list"
    )
    labels = row_labels()
    # Whether to offer "New referral": ``files_referrals``, from the page context
    # (``referrals.web.context_processors``), which reads the memberships for the header.
    return render(
        request,
        "referrals/list.html",
        {
            "filter": referral_filter,
            "search": search,
            "page": page,
            "referrals": page.rows,
            "rows": [{"referral": r, **labelled(r, labels)} for r in page.rows],
            "count": count,
            "count_more": more,
            "query": links_query(data),
        },
    )


def _count(user, data, rows) -> tuple[int, bool]:
    """The list's capped count: of the visibility's parts, each filtered as the list is, for
    a reader who sees referrals through a unit (``selectors.visible_sources``)."""
    sources = visible_sources(user)
    if sources is None or not connection.features.supports_slicing_ordering_in_compound:
        return capped_count(rows)
    return capped_union_count([ReferralListFilter(data, queryset=s).qs for s in sources])


def _visible_or_404(request, public_id) -> Referral:
    try:
        return referral_for_page(user=request.user, public_id=public_id)
    except Referral.DoesNotExist as error:
        raise Http404 from error


@login_required
@require_GET
def referral_detail(request, public_id):
    referral = _visible_or_404(request, public_id)
    if referral.status == Status.DRAFT:
        return redirect("referrals:edit", public_id=referral.public_id)
    tasks = list(referral.tasks.all())
    task = own_task(tasks, user_scope(request.user).unit_ids)
    roles = actor_roles(user=request.user, referral=referral, task=task)
    unit_ids = reader_unit_ids(referral, user=request.user)
    log_personal_data_access(user=request.user, referral=referral, channel=AccessLog.Channel.PAGE)
    full_id = ""
    if referral.id_number_encrypted and roles & {Actor.UNIT, Actor.OFFICE}:
        full_id = identity.decrypt(referral.id_number_encrypted)
    routed = latest_routing_event(referral)
    office = bool(roles & {Actor.OFFICE, Actor.ADMIN})
    return render(
        request,
        "referrals/detail.html",
        {
            "referral": referral,
            "events": timeline_for(
                referral, roles=roles, reader_id=request.user.pk, unit_ids=unit_ids
            ),
            "full_id": full_id,
            "duplicate_links": duplicate_links(user=request.user, referral=referral)
            if office
            else None,
            **actions_panel(request, referral, roles=roles, task=task),
            **_units_panel(request, referral, tasks, task, roles=roles, unit_ids=unit_ids),
            "routing_reasons": [r.text() for r in reasons_from_json(routed.details.get("reasons"))]
            if routed
            else [],
            "triage": _triage_panel(referral) if office else None,
            "panels": panels_for(request, referral),
            # Completion's record of the work is the unit's and the office's, not the
            # referrer's (theirs is the outcome summary).
            "services_provided": referral.services_provided if reads_case_notes(roles) else "",
        },
    )


# The page's own choices beside the lifecycle's steps: not steps (no status changes).
PAGE_ACTIONS = ("note", "escalate")


def actions_panel(request, referral: Referral, *, roles, task) -> dict:
    """The "Next steps" card (issue 19): each step these roles may take as a choice, and a
    case note and the office's escalation where they may; with ``?action=<name>`` (a link,
    no script needed; the inbox links to it too) that one's form alone, with a way back."""
    transitions = available_transitions(roles=roles, referral=referral, task=task)
    offered = {t.action: t for t in transitions}
    can_note = reads_case_notes(roles)
    can_escalate = may_escalate(roles=roles, referral=referral)
    if can_note:
        offered["note"] = None
    if can_escalate:
        offered["escalate"] = None
    chosen = request.GET.get("action", "")
    target = request.GET.get("next", "")
    return {
        "transitions": transitions,
        "can_note": can_note,
        "can_escalate": can_escalate,
        "chosen_action": chosen if chosen in offered else "",
        "chosen": offered.get(chosen),
        "action_next": target if _ours(request, target) else "",
    }


def _units_panel(request, referral: Referral, tasks, task, *, roles, unit_ids) -> dict:
    """The page's part about the units on the referral (issue 16): each unit's task with
    its routing reasons (``lifecycle.tasks_for``: who sees which), the office's choice of
    lead, the units' messages, and a notice's contact form for the unit holding a task."""
    office = bool(roles & {Actor.OFFICE, Actor.ADMIN})
    shared = sum(1 for t in tasks if t.status not in LEFT_TASK_STATUSES) > 1
    # Why each unit: its task's routing reasons, from the rules (shown to every reader).
    reasons = {
        e.task_id: [r.text() for r in reasons_from_json(e.details.get("reasons"))]
        for e in referral.events.all()
        if e.kind == ReferralEvent.Kind.ROUTING and e.task_id
    }
    return {
        "tasks": [
            (t, reasons.get(t.pk, []))
            for t in tasks_for(referral, roles=roles, unit_ids=unit_ids)
            if t.status != Status.CANCELLED
        ],
        "own_task": task,
        "choose_lead": office and referral.is_open,
        # Several units at work on it: they write to each other (unit_messages.py).
        "unit_messages": referral.unit_messages.select_related("unit", "author")
        if shared and may_read(referral, user=request.user, roles=roles)
        else None,
        "can_message": shared and may_write(referral, user=request.user),
        "shared": shared,
        # Urgent notices: the unit holding an open task records each try to reach them.
        "contact": {
            "outcomes": ContactOutcome.choices,
            "reasons": NoNeedReason.choices,
            "attempts": list(referral.contact_attempts.all()),
        }
        if referral.notice_id and task is not None and task.is_open and Actor.UNIT in roles
        else None,
    }


def latest_routing_event(referral: Referral) -> ReferralEvent | None:
    """The newest routing event among the referral's (already fetched) events."""
    routed = [e for e in referral.events.all() if e.kind == ReferralEvent.Kind.ROUTING]
    return routed[-1] if routed else None


def _triage_panel(referral: Referral) -> dict | None:
    """What the district office needs to route by hand: the routing function's candidates
    with their reasons, and every other active unit serving the district."""
    if referral.status not in TRANSITIONS["assign"].sources:
        return None
    decision = routing_decision_for(referral)
    candidates, others = routing_choices(referral, decision)
    return {
        "decision": decision,
        "reasons": [reason.text() for reason in decision.reasons],
        "candidates": candidates,
        "others": others,
        "suggested": decision.unit.id if decision.unit else None,
    }


def _back(request, *, public_id, **_url_kwargs) -> str:
    """Where the form came from (the queue, the inbox) when it says so and it is ours; else
    the referral's page."""
    target = request.POST.get("next", "")
    if _ours(request, target):
        return target
    return reverse("referrals:detail", kwargs={"public_id": public_id})


def _ours(request, target: str) -> bool:
    """Whether ``target`` (a form's ``next``) is a page of this site to go back to."""
    return bool(target) and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )


@login_required
@require_GET
def referral_status(request, public_id):
    """The live status the referral page polls; no personal data."""
    referral = (
        referrals_visible_to(request.user)
        .select_related("assigned_unit")
        .filter(public_id=public_id)
        .first()
    )
    if referral is None:
        raise Http404
    return JsonResponse(
        {
            "status": referral.status,
            "label": str(referral.get_status_display()),
            "version": referral.version,
            "assigned_unit": referral.assigned_unit.name if referral.assigned_unit else "",
        }
    )


@login_required
@require_POST
@answers_refusals(back=_back)
def referral_escalate_view(request, public_id):
    referral = _visible_or_404(request, public_id)
    referral_escalate(
        referral_id=referral.pk,
        actor=request.user,
        reason=request.POST.get("reason", ""),
        expected_version=_posted_version(request),
    )
    messages.success(request, _("Escalated: the other officers of the office have been alerted."))
    return redirect(_back(request, public_id=public_id))


def _posted_version(request) -> int:
    try:
        return int(request.POST.get("version", ""))
    except ValueError:
        return -1  # a form without the version it was drawn from cannot be trusted
