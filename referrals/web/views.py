"""HTML pages for referrals. Every page starts from ``referrals_visible_to``: outside it, 404."""

import uuid

import django_filters
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from accounts.selectors import user_scope
from referrals import identity
from referrals.assignment import referral_assign, referral_escalate
from referrals.audit import log_personal_data_access, log_personal_data_access_many
from referrals.duplicates import DuplicateWarning, TooManyChecks, duplicate_check, duplicate_links
from referrals.lifecycle import (
    ESCALATABLE,
    TRANSITIONS,
    Actor,
    actor_roles,
    available_transitions,
    own_task,
    reader_unit_ids,
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
from referrals.routing import reasons_from_json
from referrals.routing_inputs import routing_decision_for
from referrals.selectors import (
    referral_for_page,
    referrals_visible_to,
    referrer_teams,
    routing_choices,
)
from referrals.services import ACTION_SERVICES
from referrals.submission import UNCHANGED, referral_save_draft, referral_submit
from referrals.unit_messages import may_read, may_write
from referrals.web.errors import answers_refusals, same_page
from referrals.web.forms import ReferralForm
from referrals.web.panels import panels_for
from referrals.web.search import allows_search, links_query, search_posted, searched_query

REFERRALS_PER_PAGE = 25


class ReferralListFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(label=_("Status"), choices=Status.choices)
    risk_level = django_filters.ChoiceFilter(label=_("Risk level"), choices=RiskLevel.choices)
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


@login_required
@allows_search
def referral_list(request):
    """The list; a POST is its search box (``referrals.web.search``: no name in a URL)."""
    if request.method == "POST":
        return search_posted(request, reverse("referrals:list"))
    data, search = searched_query(request)
    visible = referrals_visible_to(request.user).with_list_relations().order_by("-created_at")
    referral_filter = ReferralListFilter(data, queryset=visible)
    rows = referral_filter.qs if referral_filter.is_valid() else visible.none()
    page = Paginator(rows, REFERRALS_PER_PAGE).get_page(request.GET.get("page"))
    shown = list(page)
    log_personal_data_access_many(
        user=request.user, referrals=shown, channel=AccessLog.Channel.PAGE, detail="list"
    )
    return render(
        request,
        "referrals/list.html",
        {
            "filter": referral_filter,
            "search": search,
            "page": page,
            "referrals": shown,
            "query": links_query(data),
            "can_refer": referrer_teams(user=request.user).exists(),
        },
    )


def _default_sub_district(team):
    return team.catchment_sub_districts.order_by("code").first()


@login_required
@sensitive_post_parameters("id_number")
@answers_refusals(back=same_page)
def referral_new(request):
    teams = referrer_teams(user=request.user)
    if not teams.exists():
        raise PermissionDenied(_("Only caring-team members and other referrers file referrals."))
    if request.method == "POST":
        existing = _referral_for_token(request)
        if existing and existing.status != Status.DRAFT:
            return redirect("referrals:detail", public_id=existing.public_id)
        return _save(request, teams=teams, referral=existing)
    team = teams.first()
    form = ReferralForm(
        teams=teams,
        initial={
            "token": uuid.uuid4(),
            "team": team,
            "district": team.district,
            "sub_district": _default_sub_district(team),
            "consent_given_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "referrer_contact": request.user.email,
        },
    )
    return _render_form(request, form, referral=None)


@login_required
@sensitive_post_parameters("id_number")
@answers_refusals(back=same_page)
def referral_edit(request, public_id):
    referral = Referral.objects.filter(public_id=public_id, referrer=request.user).first()
    if referral is None:
        raise Http404
    if referral.status != Status.DRAFT:
        return redirect("referrals:detail", public_id=referral.public_id)
    teams = referrer_teams(user=request.user)
    if request.method == "POST":
        return _save(request, teams=teams, referral=referral)
    form = ReferralForm(
        teams=teams,
        instance=referral,
        initial={
            "token": referral.submission_token,
            "team": referral.referring_team,
            "needs": list(referral.needs.all()),
            "risk_factors": referral.risk_factors,
        },
    )
    return _render_form(request, form, referral=referral)


def _referral_for_token(request) -> Referral | None:
    try:
        token = uuid.UUID(request.POST.get("token", ""))
    except ValueError:
        return None
    return Referral.objects.filter(submission_token=token, referrer=request.user).first()


def _save(request, *, teams, referral: Referral | None):
    submitting = "submit" in request.POST
    form = ReferralForm(
        request.POST,
        teams=teams,
        submitting=submitting,
        instance=referral or Referral(referrer=request.user),
    )
    if not form.is_valid():
        return _render_form(request, form, referral=referral, status=400)
    data = form.cleaned_data
    if referral and data["token"] != referral.submission_token:
        return _render_form(request, form, referral=referral, status=400)
    common = {
        "referrer": request.user,
        "team": data["team"],
        "token": data["token"],
        "values": form.model_values(),
        "needs": data["needs"],
        "identity": data["identity"],
    }
    try:
        if not submitting:
            draft = referral_save_draft(**common)
            messages.success(request, _("Draft saved. You can come back to it from My referrals."))
            return redirect("referrals:edit", public_id=draft.public_id)
        if request.POST.get("confirm_duplicates") != "1":
            warning = _duplicate_warning(request, form, referral)
            if warning:
                return _render_form(request, form, referral=referral, duplicates=warning)
        submitted, created = referral_submit(
            **common, duplicate_note=data.get("duplicate_note", "")
        )
    except ValidationError as error:
        form.add_error(None, error)
        return _render_form(request, form, referral=referral, status=400)
    except TooManyChecks as error:  # kept on the page: what was typed is not lost
        form.add_error(None, error.message)
        return _render_form(request, form, referral=referral, status=error.status_code)
    if created:
        messages.success(
            request,
            _("Referral %(reference)s submitted.") % {"reference": submitted.reference},
        )
    return redirect("referrals:detail", public_id=submitted.public_id)


def _duplicate_warning(request, form, referral: Referral | None) -> DuplicateWarning:
    data = form.cleaned_data
    protected = data["identity"]
    if protected is UNCHANGED:
        id_hash = referral.id_number_hash if referral else ""
    else:
        id_hash = protected.digest if protected else ""
    phone = data.get("phone")
    return duplicate_check(
        user=request.user,
        token=data["token"],
        id_hash=id_hash,
        phone=phone.as_e164 if phone else "",
        names=(data.get("subject_name_zh", ""), data.get("subject_name_en", "")),
        exclude_pk=referral.pk if referral else None,
    )


def _render_form(request, form, *, referral, duplicates=None, status=200):
    return render(
        request,
        "referrals/form.html",
        {
            "form": form,
            "referral": referral,
            "sections": form.sections(),
            "duplicates": duplicates,
        },
        status=status,
    )


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
            "transitions": available_transitions(roles=roles, referral=referral, task=task),
            **_units_panel(request, referral, tasks, task, roles=roles, unit_ids=unit_ids),
            "routing_reasons": [r.text() for r in reasons_from_json(routed.details.get("reasons"))]
            if routed
            else [],
            "triage": _triage_panel(referral) if office else None,
            "can_escalate": office
            and referral.status in ESCALATABLE
            and referral.escalated_at is None,
            "panels": panels_for(request, referral),
        },
    )


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
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("referrals:detail", kwargs={"public_id": public_id})


@login_required
@require_POST
@answers_refusals(back=_back)
def referral_act(request, public_id):
    """A lifecycle step from the referral's page or the unit's inbox."""
    referral = _visible_or_404(request, public_id)
    action = request.POST.get("action", "")
    service = ACTION_SERVICES.get(action)
    if service is None:
        messages.error(request, _("Unknown action."))
        return redirect(_back(request, public_id=public_id))
    updated = service(
        referral_id=referral.pk,
        actor=request.user,
        reason=request.POST.get("reason", ""),
        note=request.POST.get("note", ""),
        outcome=request.POST.get("outcome", ""),
        services_provided=request.POST.get("services_provided", ""),
        expected_version=_posted_version(request),
    )
    if action == "reject":
        # The referral leaves the unit's sight (it goes on to be routed again): its page
        # would be a 404, so back to the inbox (issue 14 item 16).
        messages.success(
            request,
            _("You declined %(reference)s; it will be routed to another unit.")
            % {"reference": updated.reference},
        )
        return redirect("inbox:index")
    messages.success(
        request,
        _("%(reference)s is now “%(status)s”.")
        % {"reference": updated.reference, "status": updated.get_status_display()},
    )
    return redirect(_back(request, public_id=public_id))


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
@require_GET
def referral_triage_panel(request, public_id):
    """The routing panel alone (candidates, reasons, the route form), for the queue to open
    under a row; the form comes back to ``next``."""
    referral = _visible_or_404(request, public_id)
    if not actor_roles(user=request.user, referral=referral) & {Actor.OFFICE, Actor.ADMIN}:
        raise Http404
    panel = _triage_panel(referral)
    if panel is None:
        return render(request, "referrals/includes/triage_closed.html", {"referral": referral})
    target = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = ""
    return render(
        request,
        "referrals/includes/triage_panel.html",
        {"referral": referral, "triage": panel, "next": target, "suffix": f"-{referral.pk}"},
    )


@login_required
@require_POST
@answers_refusals(back=_back)
def referral_route_by_hand(request, public_id):
    """The district office routes (or re-routes) a referral by hand."""
    referral = _visible_or_404(request, public_id)
    if not actor_roles(user=request.user, referral=referral) & {Actor.OFFICE, Actor.ADMIN}:
        raise Http404
    decision = routing_decision_for(referral)
    candidates, others = routing_choices(referral, decision)
    offered = {str(choice.unit.pk): choice.unit for choice in [*candidates, *others]}
    unit = offered.get(request.POST.get("unit", ""))
    if unit is None:
        messages.error(request, _("Choose a unit from the list."))
        return redirect(_back(request, public_id=public_id))
    updated = referral_assign(
        referral_id=referral.pk,
        actor=request.user,
        unit=unit,
        reason=request.POST.get("reason", ""),
        expected_version=_posted_version(request),
    )
    messages.success(request, _("Assigned to %(unit)s.") % {"unit": updated.assigned_unit.name})
    return redirect(_back(request, public_id=public_id))


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
    messages.success(request, _("Escalated: the district office has been alerted."))
    return redirect(_back(request, public_id=public_id))


def _posted_version(request) -> int:
    try:
        return int(request.POST.get("version", ""))
    except ValueError:
        return -1  # a form without the version it was drawn from cannot be trusted
