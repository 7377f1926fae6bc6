"""Moving a transfer plan's cases (issue 17), the receiving unit's answers, and the
continuity figures. Plans are made in ``referrals/transfer_plans.py``.

On the effective date (``run_due_plans``, every 15 minutes, or the planner's "move now")
the cases move in batches of ``TRANSFER_BATCH_SIZE``, each batch in its own transaction
holding the locks of its own referrals only. A moved case keeps its task, so its status,
needs and timeline go with it; the sending unit keeps seeing it until the receiving unit
accepts (the overlap window, ``selectors.referrals_visible_to``). A declined case goes back
to the sending unit and its worker, with the reason: never into limbo.
"""

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, User
from accounts.selectors import user_scope
from referrals.caseload import OWNED_STATUSES, needs_owner_q
from referrals.errors import NotPermitted, ReasonRequired
from referrals.models import Referral, ReferralTask, TransferCase, TransferPlan
from referrals.models.lead_organisation import lead_unit_columns
from referrals.transfer_plans import (
    PUSHED_TO_TYPES,
    Blockers,
    Case,
    Plan,
    TransferError,
    plan_blockers,
    record_transfer,
)
from services.models import ServiceUnit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    plan: TransferPlan
    moved: int = 0
    skipped: int = 0
    blockers: Blockers | None = None
    not_due: bool = False


def plan_run(*, plan_id: int, today: date | None = None, batch_size: int | None = None):
    """Move the plan's cases if its date has come and nothing blocks it: batch after batch,
    each in its own transaction (locks on at most ``batch_size`` referrals at once)."""
    today = today or timezone.localdate()
    batch_size = batch_size or settings.TRANSFER_BATCH_SIZE
    with transaction.atomic():
        plan = TransferPlan.objects.select_for_update().select_related("from_unit").get(pk=plan_id)
        if plan.state not in (Plan.State.PLANNED, Plan.State.RUNNING) or plan.effective_on > today:
            return RunResult(plan, not_due=True)
        blockers = plan_blockers(plan)
        if blockers.total:
            return RunResult(plan, blockers=blockers)
        TransferPlan.objects.filter(pk=plan.pk).update(
            state=Plan.State.RUNNING, version=F("version") + 1
        )
    moved = skipped = 0
    while True:
        ids = list(
            plan.cases.filter(state=Case.State.PLANNED)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            break
        with transaction.atomic():
            batch_moved, batch_skipped = _move_batch(plan, ids)
        moved, skipped = moved + batch_moved, skipped + batch_skipped
    TransferPlan.objects.filter(pk=plan.pk).update(
        state=Plan.State.DONE, ran_at=timezone.now(), version=F("version") + 1
    )
    plan.refresh_from_db()
    logger.info("Transfer plan %s moved %d cases, skipped %d", plan.pk, moved, skipped)
    return RunResult(plan, moved=moved, skipped=skipped)


def _move_batch(plan: TransferPlan, case_ids: list[int]) -> tuple[int, int]:  # long: one batch
    referral_ids = set(
        TransferCase.objects.filter(pk__in=case_ids).values_list("referral_id", flat=True)
    )
    referrals = {
        r.pk: r
        for r in Referral.objects.select_for_update(of=("self",))
        .filter(pk__in=referral_ids)
        .order_by("pk")
        .only("pk", "status", "referrer_id", "assigned_unit_id")
    }
    cases = list(
        TransferCase.objects.filter(pk__in=case_ids, state=Case.State.PLANNED)
        .select_related("task", "to_unit", "from_unit")
        .order_by("pk")
    )
    holding = set(
        ReferralTask.objects.open()
        .filter(referral_id__in=referral_ids, unit_id__in={c.to_unit_id for c in cases})
        .values_list("referral_id", "unit_id")
    )
    now, movable, skipped = timezone.now(), [], []
    for case in cases:
        task = case.task
        if task.status not in OWNED_STATUSES or task.unit_id != case.from_unit_id:
            skipped.append((case.pk, _("The case was closed or moved before the date.")))
        elif (
            case.to_unit_id != case.from_unit_id and (case.referral_id, case.to_unit_id) in holding
        ):
            skipped.append((case.pk, _("The receiving unit already works on this referral.")))
        else:
            movable.append(case)
    for pk, why in skipped:
        TransferCase.objects.filter(pk=pk).update(state=Case.State.SKIPPED, answer_reason=str(why))
    groups: dict = {}
    for case in movable:
        groups.setdefault((case.to_unit_id, case.to_owner_id), []).append(case.task_id)
    for (unit_id, owner_id), task_ids in groups.items():
        ReferralTask.objects.filter(pk__in=task_ids).update(
            unit_id=unit_id,
            owner_id=owner_id,
            owner_since=now if owner_id else None,
            version=F("version") + 1,
        )
    unit_moves = [c for c in movable if c.to_unit_id != c.from_unit_id]
    leads = {}
    for case in unit_moves:
        if case.task.is_lead:
            leads.setdefault(case.to_unit_id, []).append(case.referral_id)
    for unit_id, ids in leads.items():
        Referral.objects.filter(pk__in=ids).update(
            assigned_unit_id=unit_id, **lead_unit_columns(unit_id)
        )
    Referral.objects.filter(pk__in=[c.referral_id for c in movable]).update(
        version=F("version") + 1, updated_at=now
    )
    _move_loads(unit_moves, back=False)
    state = Case.State.MOVED if plan.kind == Plan.Kind.UNIT else Case.State.ACCEPTED
    TransferCase.objects.filter(pk__in=[c.pk for c in movable]).update(
        state=state, moved_at=now, answered_at=now if state == Case.State.ACCEPTED else None
    )
    for case in movable:
        case.referral = referrals[case.referral_id]
    record_transfer(plan, movable, step="moved", actor=plan.created_by, at=now)
    return len(movable), len(skipped)


def _move_loads(cases, *, back: bool) -> None:
    """Each unit's load counter moved by the cases that left or reached it, one update per
    unit (``task_steps.move_load``'s counters, in bulk)."""
    delta: Counter = Counter()
    for case in cases:
        sign = -1 if back else 1
        delta[case.from_unit_id] -= sign
        delta[case.to_unit_id] += sign
    for unit_id, n in delta.items():
        if n:
            ServiceUnit.objects.filter(pk=unit_id).update(
                current_load=Greatest(F("current_load") + n, 0)
            )


def run_due_plans(*, today: date | None = None) -> dict[int, int]:
    """Run every plan whose effective date has come ({plan id: cases moved}); a blocked
    plan waits, and is tried again on the next run."""
    today = today or timezone.localdate()
    due = TransferPlan.objects.filter(
        state__in=[Plan.State.PLANNED, Plan.State.RUNNING], effective_on__lte=today
    ).values_list("pk", flat=True)
    moved = {}
    for plan_id in list(due):
        result = plan_run(plan_id=plan_id, today=today)
        if result.blockers is not None:
            logger.warning("Transfer plan %s is due but blocked: %s", plan_id, result.blockers)
        moved[plan_id] = result.moved
    return moved


def plan_run_now(*, actor: User, plan_id: int) -> RunResult:
    """The planner moves a plan whose date has come without waiting for the next sweep."""
    from referrals.transfer_plans import may_plan

    plan = TransferPlan.objects.select_related("from_unit").get(pk=plan_id)
    if not may_plan(actor, plan.kind, plan.from_unit):
        raise NotPermitted(_("You may not plan transfers for this unit."))
    if plan.effective_on > timezone.localdate():
        raise TransferError(_("This plan takes effect on %(date)s.") % {"date": plan.effective_on})
    return plan_run(plan_id=plan_id)


def cases_answer(*, actor: User, case_ids, accept: bool, reason: str = "") -> int:
    """The receiving unit accepts moved cases, or declines them with a reason: a declined
    case goes back to the sending unit (its worker again, if still there) and the reason is
    on its timeline. Only cases moved to a unit ``actor`` works for; all or nothing."""
    if not accept and not reason.strip():
        raise ReasonRequired(_("Give a reason for declining the transfer."))
    case_ids = list(dict.fromkeys(case_ids))
    unit_ids = user_scope(actor).unit_ids
    with transaction.atomic():
        referral_ids = set(
            TransferCase.objects.filter(pk__in=case_ids).values_list("referral_id", flat=True)
        )
        referrals = {
            r.pk: r
            for r in Referral.objects.select_for_update(of=("self",))
            .filter(pk__in=referral_ids)
            .order_by("pk")
            .only("pk", "status", "referrer_id", "assigned_unit_id")
        }
        cases = list(
            TransferCase.objects.filter(
                pk__in=case_ids, state=Case.State.MOVED, to_unit_id__in=unit_ids
            )
            .select_related("plan", "task", "from_unit", "to_unit")
            .order_by("pk")
        )
        if len(cases) != len(case_ids):
            raise TransferError(
                _("Some of the chosen transfers are not waiting for your unit; reload the page.")
            )
        for case in cases:
            case.referral = referrals[case.referral_id]
        now = timezone.now()
        if accept:
            TransferCase.objects.filter(pk__in=case_ids).update(
                state=Case.State.ACCEPTED, answered_at=now, answered_by=actor
            )
        else:
            _return(cases, now=now, actor=actor, reason=reason.strip())
        for plan, rows in _by_plan(cases).items():
            record_transfer(
                plan,
                rows,
                step="accepted" if accept else "returned",
                actor=actor,
                at=now,
                reason="" if accept else reason.strip(),
            )
    return len(cases)


def _by_plan(cases) -> dict:
    plans: dict = {}
    for case in cases:
        plans.setdefault(case.plan, []).append(case)
    return plans


def _return(cases, *, now, actor: User, reason: str) -> None:
    """The declined cases back to their sending unit, with its worker if still active there."""
    still_there = set(
        Membership.objects.filter(
            user_id__in={c.from_owner_id for c in cases if c.from_owner_id},
            user__is_active=True,
            service_unit_id__in={c.from_unit_id for c in cases},
            role__in=Membership.STAFF_ROLES,
        ).values_list("user_id", "service_unit_id")
    )
    for case in cases:
        owner_id = case.from_owner_id
        if (owner_id, case.from_unit_id) not in still_there:
            owner_id = None
        ReferralTask.objects.filter(pk=case.task_id, unit_id=case.to_unit_id).update(
            unit_id=case.from_unit_id,
            owner_id=owner_id,
            owner_since=now if owner_id else None,
            version=F("version") + 1,
        )
        if case.task.is_lead:
            Referral.objects.filter(pk=case.referral_id).update(
                assigned_unit_id=case.from_unit_id, **lead_unit_columns(case.from_unit_id)
            )
    Referral.objects.filter(pk__in=[c.referral_id for c in cases]).update(
        version=F("version") + 1, updated_at=now
    )
    _move_loads(cases, back=True)
    TransferCase.objects.filter(pk__in=[c.pk for c in cases]).update(
        state=Case.State.RETURNED, answered_at=now, answered_by=actor, answer_reason=reason
    )


def incoming(unit_ids):
    """Cases moved to ``unit_ids`` and waiting for their answer (the inbox's Transfers)."""
    return (
        TransferCase.objects.filter(to_unit_id__in=unit_ids, state=Case.State.MOVED)
        .select_related("referral", "plan", "from_unit", "from_owner", "task")
        .order_by("moved_at", "pk")
    )


def outgoing(unit_ids):
    """Cases moved away from ``unit_ids`` that the receiving unit has yet to accept."""
    return (
        TransferCase.objects.filter(from_unit_id__in=unit_ids, state=Case.State.MOVED)
        .select_related("referral", "plan", "to_unit")
        .order_by("moved_at", "pk")
    )


@dataclass(frozen=True)
class PlanFigures:
    cases: int
    moved: int
    accepted: int
    returned: int
    skipped: int
    waiting: int
    informed_before: int
    without_owner: int


def plan_figures(plan: TransferPlan, *, now=None) -> PlanFigures:
    """A plan's continuity figures, in two queries: cases moved (and still awaiting an
    answer), accepted, returned, skipped; families told on or before the effective date;
    moved cases that have had no owner for more than ``TRANSFER_OWNERLESS_DAYS``."""
    now = now or timezone.now()
    counted = plan.cases.exclude(state=Case.State.REMOVED)
    by_state = dict(counted.values_list("state").annotate(n=Count("pk")).values_list("state", "n"))
    informed = counted.filter(family_informed_at__date__lte=plan.effective_on).count()
    late = timedelta(days=settings.TRANSFER_OWNERLESS_DAYS)
    ownerless = (
        ReferralTask.objects.filter(
            transfers__plan=plan,
            transfers__state__in=[Case.State.MOVED, Case.State.ACCEPTED],
            transfers__moved_at__lt=now - late,
        )
        .filter(
            Q(status__in=OWNED_STATUSES) & needs_owner_q()
            | Q(owner_since__gt=F("transfers__moved_at") + late)
        )
        .distinct()
        .count()
    )
    moved = by_state.get(Case.State.MOVED, 0)
    accepted = by_state.get(Case.State.ACCEPTED, 0)
    returned = by_state.get(Case.State.RETURNED, 0)
    return PlanFigures(
        cases=sum(by_state.values()),
        moved=moved + accepted + returned,
        accepted=accepted,
        returned=returned,
        skipped=by_state.get(Case.State.SKIPPED, 0),
        waiting=moved,
        informed_before=informed,
        without_owner=ownerless,
    )


def pushed_after_worker_left(*, district_ids=None) -> int:
    """Cases the office pushed on to an IFSC or FCPSU because a worker left (a continuity
    figure per office): moved, by plans with that reason, in the offices' districts."""
    cases = TransferCase.objects.filter(
        plan__reason=Plan.Reason.WORKER_LEFT,
        to_unit__unit_type__code__in=PUSHED_TO_TYPES,
        state__in=[Case.State.MOVED, Case.State.ACCEPTED],
    )
    if district_ids is not None:
        cases = cases.filter(from_unit__district_id__in=district_ids)
    return cases.count()
