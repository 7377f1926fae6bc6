"""The pages for case owners (issue 17): a supervisor's allocation from the inbox and from
the unit's caseload page, "my cases" for the unit's workers, and the case worker on the
referral's page. ``referrals/caseload.py`` decides; these pages ask it and show the answer.

Who sees what: the unit's staff and the district office see a case's worker; the referrer
sees the unit and, if the unit chooses, the contact it shares (``shared_contact``), never
the worker's name. A page about a unit answers 404 to anyone who may not act for it, as for
a referral one may not see.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import (
    BooleanField,
    CharField,
    ExpressionWrapper,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Concat, NullIf, Trim
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from accounts.selectors import user_scope
from referrals import caseload
from referrals.audit import log_personal_data_access_many
from referrals.models import AccessLog, ReferralTask
from referrals.queues import page_of
from referrals.selectors import referrals_visible_to
from referrals.web.errors import answers_refusals
from services.models import ServiceUnit

# The inbox tabs whose rows are open cases a supervisor may allocate.
ALLOCATING_TABS = ("new", "open", "on_hold")
CASE_RELATIONS = ("referral__district", "referral__sub_district", "unit", "owner")
CASES_PER_PAGE = 50


def _owner_label(prefix: str = "owner__") -> Coalesce:
    """The owner's name as ``User.get_full_name() or get_username()`` says it, in SQL."""
    full = Trim(
        Concat(f"{prefix}first_name", Value(" "), f"{prefix}last_name", output_field=CharField())
    )
    return Coalesce(NullIf(full, Value("")), f"{prefix}username", output_field=CharField())


def _needs_owner() -> ExpressionWrapper:
    return ExpressionWrapper(caseload.needs_owner_q(), output_field=BooleanField())


# --- The inbox's part ----------------------------------------------------------------------


def inbox_owner_flags(unit_ids: list[int]) -> dict:
    """Annotations for the inbox's rows: the unit's open task on each (the case), its unit,
    its worker's name and whether it needs an owner (``caseload.needs_owner_q``). Subqueries
    on the page's one row query: no query more, however many rows."""
    case = ReferralTask.objects.filter(
        referral=OuterRef("pk"), unit_id__in=unit_ids, status__in=caseload.OWNED_STATUSES
    ).order_by("-created_at", "-pk")
    return {
        "case_task_id": Subquery(case.values("pk")[:1]),
        "case_unit_id": Subquery(case.values("unit_id")[:1]),
        "case_owner": Subquery(case.annotate(label=_owner_label()).values("label")[:1]),
        "case_needs_owner": Subquery(
            case.annotate(lost=_needs_owner()).values("lost")[:1], output_field=BooleanField()
        ),
    }


def inbox_owner_row(referral, bars: list[dict]) -> dict:
    """One inbox row's case-worker part (``referral`` annotated by ``inbox_owner_flags``):
    the worker's name, and the allocation form its check box belongs to when the reader
    supervises the case's unit (``bars``, from ``allocation_bars``)."""
    unit_id = referral.case_unit_id
    return {
        "task_id": referral.case_task_id,
        "owner": referral.case_owner if not referral.case_needs_owner else "",
        "left_by": referral.case_owner if referral.case_needs_owner else "",
        "needs_owner": bool(referral.case_task_id and referral.case_needs_owner),
        "allocate_form": f"allocate-{unit_id}"
        if unit_id is not None and any(bar["unit"].pk == unit_id for bar in bars)
        else "",
    }


def allocation_bars(user: User, tab: str) -> list[dict]:
    """On a tab of open cases, one "Allocate to" bar per unit ``user`` supervises, with its
    workers and their loads (``caseload.workers``): one query, and two per unit."""
    supervised = user_scope(user).supervised_unit_ids
    if tab not in ALLOCATING_TABS or not supervised:
        return []
    units = ServiceUnit.objects.filter(pk__in=supervised).order_by_name()
    return [
        {"unit": unit, "form_id": f"allocate-{unit.pk}", "workers": caseload.workers(unit.pk)}
        for unit in units
    ]


# --- The unit's caseload and "my cases" ----------------------------------------------------


def _supervised_units(user: User, unit_id: int | None) -> tuple[ServiceUnit, list]:
    """The unit whose caseload is asked for (the first one supervised when none is named)
    and every unit the user supervises, for switching: one query. 404 for a unit the user
    does not supervise (headquarters may look at any)."""
    supervised = user_scope(user).supervised_unit_ids
    if unit_id is None:
        if not supervised:
            raise Http404
        unit_id = supervised[0]
    elif not (user.is_administrator or unit_id in supervised):
        raise Http404
    units = list(ServiceUnit.objects.filter(pk__in={unit_id, *supervised}).order_by_name())
    unit = next((u for u in units if u.pk == unit_id), None)
    if unit is None:
        raise Http404
    return unit, [u for u in units if u.pk in supervised]


def _case_page(request, cases: QuerySet[ReferralTask], detail: str):
    page = page_of(cases, request.GET.get("page"), relations=CASE_RELATIONS, size=CASES_PER_PAGE)
    log_personal_data_access_many(
        user=request.user,
        referrals=[task.referral for task in page.rows],
        channel=AccessLog.Channel.PAGE,
        detail=detail,
    )
    return page


@login_required
@require_GET
def caseload_page(request, unit_id: int | None = None):
    """A unit's caseload for its supervisor: each worker's load against their limit, and the
    open cases that need an owner, with the form that gives them one."""
    unit, supervised = _supervised_units(request.user, unit_id)
    team = caseload.workers(unit.pk)
    page = _case_page(request, caseload.cases_needing_owner([unit.pk]), "caseload")
    return render(
        request,
        "referrals/caseload.html",
        {
            "unit": unit,
            "supervised": supervised,
            "workers": team,
            "page": page,
            "cases": page.rows,
            "here": request.get_full_path(),
            "over_limit": sum(1 for worker in team if worker.over_limit),
        },
    )


@login_required
@require_GET
def my_cases_page(request):
    """The open cases the signed-in worker owns (``caseload.my_cases``)."""
    if not user_scope(request.user).unit_ids:
        raise Http404
    page = _case_page(request, caseload.my_cases(request.user), "my_cases")
    return render(request, "referrals/my_cases.html", {"page": page, "cases": page.rows})


# --- Allocating, sharing a contact ---------------------------------------------------------


def _posted_int(request, name: str) -> int | None:
    value = request.POST.get(name, "")
    return int(value) if value.isdigit() and len(value) < 10 else None


def _posted_ids(request, name: str) -> list[int]:
    return [int(v) for v in request.POST.getlist(name) if v.isdigit() and len(v) < 10]


def _back(request, **_url_kwargs) -> str:
    """Where the form came from (the inbox, the caseload page, the referral's page) when it
    says so and it is ours; else the caseload page."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("referrals:caseload")


def allocated_message(given: dict[int, int]) -> str:
    """ "Allocated 30 cases: 15 to Ann Lee, 15 to Ben Wong." (one query for the names)."""
    names = {u.pk: u.get_full_name() or u.get_username() for u in User.objects.filter(pk__in=given)}
    split = pgettext("list separator", ", ").join(
        _("%(count)d to %(name)s") % {"count": count, "name": names.get(pk, "")}
        for pk, count in sorted(given.items(), key=lambda item: names.get(item[0], ""))
    )
    total = sum(given.values())
    return ngettext(
        "Allocated %(count)d case: %(split)s.", "Allocated %(count)d cases: %(split)s.", total
    ) % {"count": total, "split": split}


@login_required
@require_POST
@answers_refusals(back=_back)
def allocate_view(request):
    """Give the chosen cases of a unit to the chosen workers (``caseload.allocate``), from
    the inbox, the caseload page or a referral's page. A case of another unit among them is
    out of reach (404); any other refusal is a message, and nothing changed."""
    unit_id = _posted_int(request, "unit")
    task_ids = _posted_ids(request, "task")
    if unit_id is None:
        raise Http404
    if ReferralTask.objects.filter(pk__in=task_ids).exclude(unit_id=unit_id).exists():
        raise Http404
    given = caseload.allocate(
        actor=request.user,
        unit_id=unit_id,
        task_ids=task_ids,
        worker_ids=_posted_ids(request, "worker"),
    )
    messages.success(request, allocated_message(given))
    return redirect(_back(request))


def _detail(request, *, public_id, **_url_kwargs) -> str:
    return reverse("referrals:detail", kwargs={"public_id": public_id})


@login_required
@require_POST
@answers_refusals(back=_detail)
def share_contact_view(request, public_id):
    """Set (or clear) whom the referrer may contact at the unit, for the unit's task on the
    referral (``caseload.share_contact``: the unit's staff; a stale version is refused)."""
    referral = referrals_visible_to(request.user).filter(public_id=public_id).first()
    task_id = _posted_int(request, "task")
    if referral is None or not ReferralTask.objects.filter(pk=task_id, referral=referral).exists():
        raise Http404
    contact = request.POST.get("contact", "").strip()
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = -1  # a form without the version it was drawn from cannot be trusted
    caseload.share_contact(
        actor=request.user, task_id=task_id, contact=contact, expected_version=version
    )
    if contact:
        messages.success(request, _("The referrer now sees this contact for your unit."))
    else:
        messages.success(request, _("The referrer no longer sees a contact for your unit."))
    return redirect(_detail(request, public_id=public_id))


# --- The referral's page -------------------------------------------------------------------


def case_owner_panel(*, user: User, referral, own_task) -> dict:
    """What the referral's page shows of its case workers (``includes/case_owner.html``):
    to the unit's staff, their own case's worker (a supervisor may reallocate it, the staff
    share a contact); to the district office and headquarters, each open case's worker; to
    anyone else (the referrer), only the contacts the units chose to share. From the page's
    prefetched tasks: one query for the workers (none while no case has one), two more for
    a supervisor's list of workers; none for the referrer."""
    scope = user_scope(user)
    open_tasks = [task for task in referral.tasks.all() if task.is_open]
    ours = own_task if own_task is not None and own_task.unit_id in scope.unit_ids else None
    if user.is_administrator or referral.district_id in scope.district_ids:
        shown = open_tasks
    elif ours is not None:
        shown = [ours] if ours.is_open else []
    else:
        return {"contacts": [task for task in open_tasks if task.shared_contact]}
    if not shown:
        return {}
    cases = _with_owners(shown)
    own = next((case for case in cases if ours is not None and case.pk == ours.pk), None)
    supervises = own is not None and own.unit_id in scope.supervised_unit_ids
    return {
        "cases": cases,
        "own_case": own,
        "workers": caseload.workers(own.unit_id) if supervises else None,
        "referral": referral,
    }


def _with_owners(tasks: list[ReferralTask]) -> list[ReferralTask]:
    """``tasks`` with their owners and whether each needs one: one query when any has an
    owner (whose account or membership may have gone), none when none has (each needs one)."""
    if not any(task.owner_id for task in tasks):
        for task in tasks:
            task.needs_owner = True
        return tasks
    return list(
        ReferralTask.objects.filter(pk__in=[task.pk for task in tasks])
        .select_related("owner", "unit")
        .annotate(needs_owner=_needs_owner())
        .order_by("created_at", "pk")
    )
