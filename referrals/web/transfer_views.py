"""The pages of planned transfers (issue 17): the plans an office or a supervisor may read,
a new plan (unit to unit for an office, worker to worker for a supervisor), a plan's page
(each case's handover and the record of the family being told, what blocks it, its
continuity figures, moving it now, cancelling it), and the receiving unit's Transfers view
(accepting or declining the cases moved to it; the cases it sent, still in the overlap).

Every rule is the services' (``referrals.transfer_plans``, ``referrals.transfers``): a page
reads the form, calls the service, and answers its refusal as every page does
(``referrals/web/errors.py``: "not found" for a step one may not take). A plan outside
``plans_for`` is a 404 on each of its URLs, as a referral one may not see.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from accounts.selectors import user_scope
from referrals.audit import log_personal_data_access_many
from referrals.errors import ReferralError
from referrals.models import AccessLog, TransferCase, TransferPlan
from referrals.queues import inbox_units, office_scope
from referrals.transfer_plans import (
    Case,
    CaseSpec,
    Plan,
    case_remove,
    case_update,
    family_informed,
    handover_readable,
    may_plan,
    plan_blockers,
    plan_cancel,
    plan_create,
    plans_for,
)
from referrals.transfers import (
    cases_answer,
    incoming,
    outgoing,
    plan_figures,
    plan_run_now,
    pushed_after_worker_left,
)
from referrals.web.errors import answer_refusal
from referrals.web.transfer_forms import (
    CancelForm,
    CaseEditForm,
    CaseFilterForm,
    ConfirmForm,
    FamilyInformedForm,
    first_error,
    plan_form_for,
    planner_kinds,
    sending_units,
)

PLANS_PER_PAGE = 25
CASES_PER_PAGE = 50  # a plan's page
CASES_LISTED = 200  # the new plan's checkboxes; beyond them, "all matching open cases"
TRANSFERS_PER_PAGE = 50  # the receiving unit's list, and the most answered at once
MOVED_STATES = (Case.State.MOVED, Case.State.ACCEPTED, Case.State.RETURNED)


def _plan_or_404(request, public_id) -> TransferPlan:
    plan = plans_for(request.user).filter(public_id=public_id).first()
    if plan is None:
        raise Http404
    return plan


def _case_or_404(request, pk: int) -> TransferCase:
    visible = plans_for(request.user).values("pk")
    case = TransferCase.objects.select_related("plan").filter(pk=pk, plan_id__in=visible).first()
    if case is None:
        raise Http404
    return case


def _plan_url(plan: TransferPlan, anchor: str = "") -> str:
    url = reverse("referrals:transfer_detail", kwargs={"public_id": plan.public_id})
    return f"{url}#{anchor}" if anchor else url


def _posted_ids(request, name: str = "cases") -> list[int]:
    return list(dict.fromkeys(int(v) for v in request.POST.getlist(name) if v.isdigit()))


# --- The plans ---------------------------------------------------------------------------


@login_required
@require_GET
def transfer_list(request):
    """The plans the user may read, newest first, with their counts; an office also sees
    how many of its cases were pushed to an IFSC or FCPSU because a worker left."""
    kinds = planner_kinds(request.user)
    if not kinds:
        raise Http404
    counted = ~Q(cases__state=Case.State.REMOVED)
    plans = (
        TransferPlan.objects.filter(pk__in=plans_for(request.user).values("pk"))
        .select_related("from_unit", "created_by")
        .annotate(
            case_count=Count("cases", filter=counted),
            planned_count=Count("cases", filter=Q(cases__state=Case.State.PLANNED)),
            moved_count=Count("cases", filter=Q(cases__state__in=MOVED_STATES)),
            accepted_count=Count("cases", filter=Q(cases__state=Case.State.ACCEPTED)),
            returned_count=Count("cases", filter=Q(cases__state=Case.State.RETURNED)),
        )
        .order_by("-created_at", "-pk")
    )
    page = Paginator(plans, PLANS_PER_PAGE).get_page(request.GET.get("page"))
    pushed = None
    if Plan.Kind.UNIT in kinds:
        scope = office_scope(request.user)
        pushed = pushed_after_worker_left(
            district_ids=None if scope.everywhere else scope.district_ids
        )
    return render(
        request,
        "referrals/transfers/list.html",
        {"page": page, "plans": list(page.object_list), "pushed": pushed, "kinds": kinds},
    )


@login_required
def transfer_new(request):  # long: one page, its filter, its case list and the plan's form
    """A new plan: the filter (in the URL) lists the sending unit's matching open cases
    with a checkbox each, and the plan's form (POST) makes the plan from the ticked cases,
    or from all matching ones. A refused plan is drawn again with its problems and the
    input kept."""
    kinds = planner_kinds(request.user)
    if not kinds:
        raise Http404
    kind = request.GET.get("kind", "")
    kind = kind if kind in kinds else kinds[0]
    units = sending_units(request.user, kind)
    filter_form = CaseFilterForm(
        request.GET if "from_unit" in request.GET else None, units=units, kind=kind
    )
    context = {"kind": kind, "kinds": kinds, "filter_form": filter_form, "problems": []}
    if not (filter_form.is_bound and filter_form.is_valid()):
        if request.method == "POST":
            messages.error(request, _("Choose the sending unit and its cases first."))
        return render(request, "referrals/transfers/new.html", context)
    unit = filter_form.cleaned_data["from_unit"]
    plan_form = plan_form_for(
        request.POST if request.method == "POST" else None, request.user, kind, unit
    )
    matching = filter_form.cases()
    selected: set[int] = set()
    if request.method == "POST":
        selected = set(_posted_ids(request))
        if plan_form.is_valid():
            data = plan_form.cleaned_data
            ids = (
                list(matching.values_list("pk", flat=True))
                if data["all_matching"]
                else sorted(selected)
            )
            to_owner = data.get("to_owner")
            specs = [CaseSpec(task_id=pk, to_owner_id=to_owner and to_owner.pk) for pk in ids]
            try:
                plan = plan_create(
                    actor=request.user,
                    kind=kind,
                    title=data["title"],
                    from_unit_id=unit.pk,
                    effective_on=data["effective_on"],
                    cases=specs,
                    to_unit_id=data["to_unit"].pk if data.get("to_unit") else None,
                    reason=data["reason"],
                )
            except ReferralError as error:
                if error.answered_as_not_found:
                    raise Http404 from error
                context["problems"] = [error.message, *getattr(error, "problems", [])]
            else:
                messages.success(
                    request,
                    ngettext(
                        "Plan “%(title)s” made with %(count)d case.",
                        "Plan “%(title)s” made with %(count)d cases.",
                        len(ids),
                    )
                    % {"title": plan.title, "count": len(ids)},
                )
                return redirect(_plan_url(plan))
    rows = list(
        matching.select_related("referral__institution", "owner").order_by("pk")[:CASES_LISTED]
    )
    log_personal_data_access_many(
        user=request.user,
        referrals=[task.referral for task in rows],
        channel=AccessLog.Channel.PAGE,
        detail="transfer plan: new",
    )
    context.update(
        unit=unit,
        plan_form=plan_form,
        rows=rows,
        total=matching.count() if len(rows) == CASES_LISTED else len(rows),
        selected=selected,
        query=request.GET.urlencode(),
    )
    invalid = bool(context["problems"] or plan_form.errors)
    return render(request, "referrals/transfers/new.html", context, status=400 if invalid else 200)


@login_required
@require_GET
def transfer_detail(request, public_id):
    """A plan's cases (a page of them), each with its handover and the family record (a
    form each while the plan is planned), what blocks it, and its continuity figures."""
    plan = _plan_or_404(request, public_id)
    may_edit = may_plan(request.user, plan.kind, plan.from_unit)
    editable = may_edit and plan.state == Plan.State.PLANNED
    cases = (
        plan.cases.exclude(state=Case.State.REMOVED)
        .select_related("referral", "from_owner", "to_owner", "to_unit")
        .order_by("pk")
    )
    if not may_edit:  # a receiving unit's supervisor: the cases coming to their unit only
        cases = cases.filter(to_unit_id__in=user_scope(request.user).supervised_unit_ids)
    page = Paginator(cases, CASES_PER_PAGE).get_page(request.GET.get("page"))
    rows = []
    for case in page.object_list:
        case.plan = plan  # ``family_ready`` reads the plan's date
        form = None
        if editable and case.state == Case.State.PLANNED:
            form = CaseEditForm(
                initial={
                    "version": case.version,
                    "handover_note": case.handover_note,
                    "family_informed_at": case.family_informed_at
                    and timezone.localtime(case.family_informed_at),
                    "not_informed_reason": case.not_informed_reason,
                },
                auto_id=f"case-{case.pk}-%s",
            )
        # A receiving unit's supervisor reads a handover once the case is theirs.
        readable = handover_readable(case, receiving=not may_edit)
        rows.append({"case": case, "form": form, "shows_handover": readable})
    log_personal_data_access_many(
        user=request.user,
        referrals=[row["case"].referral for row in rows if row["shows_handover"]],
        channel=AccessLog.Channel.PAGE,
        detail="transfer plan",
    )
    live = plan.state in (Plan.State.PLANNED, Plan.State.RUNNING)
    context = {
        "plan": plan,
        "page": page,
        "rows": rows,
        "editable": editable,
        "blockers": plan_blockers(plan) if live else None,
        "figures": plan_figures(plan),
        "can_run": may_edit and live and plan.effective_on <= timezone.localdate(),
        "family_form": FamilyInformedForm(
            initial={"at": timezone.localtime().replace(second=0, microsecond=0)}
        ),
        "cancel_form": CancelForm(initial={"version": plan.version}),
    }
    return render(request, "referrals/transfers/detail.html", context)


@login_required
@require_POST
def transfer_case_edit(request, pk):
    """Save one planned case's handover note and family record, from the page it was drawn
    on (its ``version``): a stale page is a conflict and nothing changes."""
    case = _case_or_404(request, pk)
    back = _plan_url(case.plan, f"case-{case.pk}")
    form = CaseEditForm(request.POST)
    if not form.is_valid():
        messages.error(request, first_error(form))
        return redirect(back)
    data = form.cleaned_data
    try:
        case_update(
            actor=request.user,
            case_id=case.pk,
            expected_version=data["version"],
            handover_note=data["handover_note"],
            family_informed_at=data["family_informed_at"],
            not_informed_reason=data["not_informed_reason"],
        )
    except ReferralError as error:
        return answer_refusal(request, error, back=back)
    messages.success(request, _("The case's handover was saved."))
    return redirect(back)


@login_required
@require_POST
def transfer_family_informed(request, public_id):
    """Record that the families of every case still planned were told on one date."""
    plan = _plan_or_404(request, public_id)
    form = FamilyInformedForm(request.POST)
    if not form.is_valid():
        messages.error(request, first_error(form))
        return redirect(_plan_url(plan))
    try:
        count = family_informed(actor=request.user, plan_id=plan.pk, at=form.cleaned_data["at"])
    except ReferralError as error:
        return answer_refusal(request, error, back=_plan_url(plan))
    messages.success(
        request,
        ngettext("Recorded for %(count)d case.", "Recorded for %(count)d cases.", count)
        % {"count": count},
    )
    return redirect(_plan_url(plan))


@login_required
@require_POST
def transfer_run(request, public_id):
    """Move the plan's cases now, its date having come; a blocked plan moves nothing."""
    plan = _plan_or_404(request, public_id)
    try:
        result = plan_run_now(actor=request.user, plan_id=plan.pk)
    except ReferralError as error:
        return answer_refusal(request, error, back=_plan_url(plan))
    if result.blockers is not None:
        messages.error(
            request,
            ngettext(
                "Nothing was moved: %(count)d case lacks a handover note or a record of "
                "the family being told.",
                "Nothing was moved: %(count)d cases lack a handover note or a record of "
                "the family being told.",
                result.blockers.total,
            )
            % {"count": result.blockers.total},
        )
    elif result.not_due:
        messages.error(request, _("Nothing was moved: this plan has run or was cancelled."))
    else:
        messages.success(
            request,
            ngettext(
                "%(moved)d case moved, %(skipped)d not moved (closed or moved before the date).",
                "%(moved)d cases moved, %(skipped)d not moved (closed or moved before the date).",
                result.moved,
            )
            % {"moved": result.moved, "skipped": result.skipped},
        )
    return redirect(_plan_url(plan))


@login_required
@require_POST
def transfer_cancel(request, public_id):
    """Cancel the plan, with a reason and the box ticked: its cases stay where they are."""
    plan = _plan_or_404(request, public_id)
    form = CancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, first_error(form))
        return redirect(_plan_url(plan))
    try:
        plan_cancel(
            actor=request.user,
            plan_id=plan.pk,
            expected_version=form.cleaned_data["version"],
            reason=form.cleaned_data["reason"],
        )
    except ReferralError as error:
        return answer_refusal(request, error, back=_plan_url(plan))
    messages.success(request, _("The plan was cancelled; its cases stay where they are."))
    return redirect(_plan_url(plan))


@login_required
@require_POST
def transfer_case_remove(request, pk):
    """Take one planned case out of the plan (the box ticked): it stays where it is."""
    case = _case_or_404(request, pk)
    form = ConfirmForm(request.POST)
    if not form.is_valid():
        messages.error(request, first_error(form))
        return redirect(_plan_url(case.plan, f"case-{case.pk}"))
    try:
        case_remove(actor=request.user, case_id=case.pk)
    except ReferralError as error:
        return answer_refusal(request, error, back=_plan_url(case.plan))
    messages.success(request, _("The case was taken out of the plan; it stays where it is."))
    return redirect(_plan_url(case.plan))


# --- The receiving unit ------------------------------------------------------------------


@login_required
@require_GET
def transfers_incoming(request):
    """The unit's Transfers: cases moved to it, awaiting its answer, with the handover and
    the sending worker's contact; and the cases it sent that are still in the overlap."""
    unit_ids = inbox_units(request.user)
    if not unit_ids:
        raise Http404
    page = Paginator(incoming(unit_ids).select_related("to_unit"), TRANSFERS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    rows = list(page.object_list)
    sent = outgoing(unit_ids)
    sent_rows = list(sent[:TRANSFERS_PER_PAGE])
    log_personal_data_access_many(
        user=request.user,
        referrals=[case.referral for case in [*rows, *sent_rows]],
        channel=AccessLog.Channel.PAGE,
        detail="transfers",
    )
    context = {
        "page": page,
        "rows": rows,
        "sent_rows": sent_rows,
        "sent_total": sent.count() if len(sent_rows) == TRANSFERS_PER_PAGE else len(sent_rows),
        "supervises": bool(user_scope(request.user).supervised_unit_ids),
    }
    return render(request, "referrals/transfers/incoming.html", context)


@login_required
@require_POST
def transfer_answer(request):
    """Accept the ticked cases, or decline them with a reason (they go back to the sending
    unit): only cases moved to the user's units; all or nothing."""
    unit_ids = inbox_units(request.user)
    if not unit_ids:
        raise Http404
    back = reverse("referrals:transfers_incoming")
    ids = _posted_ids(request)
    if not ids:
        messages.error(request, _("Select at least one transfer."))
        return redirect(back)
    if len(ids) > TRANSFERS_PER_PAGE:
        messages.error(
            request,
            _("Answer at most %(count)d transfers at once.") % {"count": TRANSFERS_PER_PAGE},
        )
        return redirect(back)
    if TransferCase.objects.filter(pk__in=ids, to_unit_id__in=unit_ids).count() != len(ids):
        raise Http404  # a transfer to another unit: as a referral one may not see
    accept = request.POST.get("answer") == "accept"
    try:
        count = cases_answer(
            actor=request.user,
            case_ids=ids,
            accept=accept,
            reason="" if accept else request.POST.get("reason", ""),
        )
    except ReferralError as error:
        return answer_refusal(request, error, back=back)
    if accept:
        text = ngettext("%(count)d case accepted.", "%(count)d cases accepted.", count)
    else:
        text = ngettext(
            "%(count)d case declined: it went back to the sending unit.",
            "%(count)d cases declined: they went back to the sending unit.",
            count,
        )
    messages.success(request, text % {"count": count})
    return redirect(back)


def transfer_panel(user: User, referral) -> list[dict]:
    """For the referral's page: its pending transfers (planned, or moved and awaiting the
    answer) as the sending and the receiving unit see them, with the handover note and the
    sending worker's contact. Nobody else sees them (the referrer is told the new unit by
    the timeline). One query, none for a reader who works in no unit."""
    unit_ids = user_scope(user).unit_ids
    if not unit_ids:
        return []
    cases = (
        TransferCase.objects.filter(
            referral_id=referral.pk, state__in=[Case.State.PLANNED, Case.State.MOVED]
        )
        .filter(Q(from_unit_id__in=unit_ids) | Q(to_unit_id__in=unit_ids))
        .select_related("plan", "from_unit", "to_unit", "from_owner", "to_owner")
        .order_by("pk")
    )
    rows = []
    for case in cases:
        receiving = case.to_unit_id in unit_ids and case.from_unit_id not in unit_ids
        readable = handover_readable(case, receiving=receiving)
        rows.append({"case": case, "receiving": receiving, "shows_handover": readable})
    return rows
