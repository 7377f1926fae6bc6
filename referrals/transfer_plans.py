"""Transfer plans (issue 17): making one, its cases' handover notes and the record of the
family being told, what keeps it from running, and the timeline events and follow-up job
of every step. Moving the cases and the receiving unit's answers are in
``referrals/transfers.py``.

An office plans a unit-to-unit move (a unit closing, a re-matching of pre-primary
institutions, cases pushed on when a worker leaves); a supervisor plans a worker-to-worker
move inside the unit. Each case carries a handover note (required: it must say more than
the template) and a record of the family being told on or before the effective date, or
why not: a plan with a case short of either does not run (``plan_blockers``).
"""

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.selectors import user_scope
from referrals import outbox
from referrals.caseload import OWNED_STATUSES, workers
from referrals.deliveries import webhook_deliveries
from referrals.errors import Conflict, NotPermitted, ReasonRequired, ReferralError
from referrals.models import (
    HANDOVER_TEMPLATE,
    Notification,
    ReferralEvent,
    ReferralTask,
    TransferCase,
    TransferPlan,
    WebhookEndpoint,
)
from referrals.notifications import notify
from referrals.queues import office_scope, unit_for_reassignment
from referrals.selectors import may_assign_in
from services.models import ServiceUnit

logger = logging.getLogger(__name__)

Plan, Case = TransferPlan, TransferCase
# Where cases go when a worker leaves and the office pushes them on (the continuity figure).
PUSHED_TO_TYPES = ("IFSC", "FCPSU")


class TransferError(ReferralError):
    """The plan cannot be made or changed as asked; nothing was changed. ``problems`` lists
    what is wrong, case by case."""

    def __init__(self, message, problems=None):
        super().__init__(message)
        self.problems = list(problems or [])


@dataclass
class CaseSpec:
    """One case asked for in a plan: the unit's task, and where it goes."""

    task_id: int
    to_unit_id: int | None = None  # unit-to-unit: default the plan's receiving unit
    to_owner_id: int | None = None  # worker-to-worker: required
    handover_note: str = ""
    family_informed_at: datetime | None = None
    not_informed_reason: str = ""


# The receiving side reads a case's handover (personal data) once the case is, or became,
# its own: not while it is only planned, nor after it sent the case back.
RECEIVER_READS_HANDOVER = (Case.State.MOVED, Case.State.ACCEPTED)


def handover_readable(case: TransferCase, *, receiving: bool) -> bool:
    """Whether a reader on the receiving (or the sending) side of ``case`` may read its
    handover note and why the family was not told: the one rule of the pages and the API."""
    return not receiving or case.state in RECEIVER_READS_HANDOVER


def _label(unit: ServiceUnit) -> dict[str, str]:
    return {"en": unit.name_en, "zh": unit.name_zh}


def may_plan(actor: User, kind: str, from_unit: ServiceUnit) -> bool:
    """Unit to unit: the office covering the sending unit's district (or headquarters).
    Worker to worker: the unit's supervisor (or headquarters)."""
    if actor.is_administrator:
        return True
    scope = user_scope(actor)
    if kind == Plan.Kind.UNIT:
        return from_unit.district_id in scope.district_ids
    return from_unit.pk in scope.supervised_unit_ids


def plans_for(actor: User):
    """The plans ``actor`` may read: those they could make (their offices' units, the units
    they supervise) and those sending cases to a unit they supervise."""
    plans = TransferPlan.objects.select_related("from_unit", "created_by")
    if actor.is_administrator:
        return plans
    scope = user_scope(actor)
    mine = Q(from_unit__district_id__in=scope.district_ids, kind=Plan.Kind.UNIT)
    mine |= Q(from_unit_id__in=scope.supervised_unit_ids)
    mine |= Q(cases__to_unit_id__in=scope.supervised_unit_ids)
    return plans.filter(mine).distinct()


def open_cases(from_unit_id: int, *, owner_id=None, institution_id=None, statuses=None):
    """The sending unit's open cases a plan can choose from: all, one worker's, those of
    one institution's children, or of some statuses."""
    tasks = ReferralTask.objects.filter(unit_id=from_unit_id, status__in=OWNED_STATUSES)
    if owner_id:
        tasks = tasks.filter(owner_id=owner_id)
    if institution_id:
        tasks = tasks.filter(referral__institution_id=institution_id)
    if statuses:
        tasks = tasks.filter(status__in=statuses)
    return tasks.exclude(transfers__state__in=[Case.State.PLANNED, Case.State.MOVED])


def plan_create(
    *,
    actor: User,
    kind: str,
    title: str,
    from_unit_id: int,
    effective_on: date,
    cases: list[CaseSpec],
    to_unit_id: int | None = None,
    reason: str = Plan.Reason.REORGANISATION,
) -> TransferPlan:
    """A new plan for ``cases`` of the sending unit; all or nothing (``TransferError`` with
    a problem per refused case). A case's note starts from the handover template."""
    from_unit = ServiceUnit.objects.filter(pk=from_unit_id).first()
    if from_unit is None or not may_plan(actor, kind, from_unit):
        raise NotPermitted(_("You may not plan transfers for this unit."))
    if not title.strip():
        raise ReasonRequired(_("Give the plan a title."))
    if not cases:
        raise TransferError(_("Choose at least one open case to transfer."))
    if effective_on < timezone.localdate():
        raise TransferError(_("The effective date cannot be in the past."))
    specs = {spec.task_id: spec for spec in cases}
    tasks = {
        task.pk: task
        for task in open_cases(from_unit.pk).filter(pk__in=specs).select_related("referral")
    }
    problems = [
        _("Case %(task)s is not an open case of the sending unit, or is in another plan.")
        % {"task": pk}
        for pk in specs
        if pk not in tasks
    ]
    receiving = _receiving_units(actor, kind, from_unit, specs.values(), to_unit_id)
    problems += _placement_problems(kind, tasks, specs, receiving, from_unit)
    if problems:
        raise TransferError(_("The plan was not made: correct the cases listed."), problems)
    return _write_plan(
        actor, kind, title, reason, from_unit, effective_on, tasks, specs, to_unit_id
    )


def _write_plan(actor, kind, title, reason, from_unit, effective_on, tasks, specs, to_unit_id):
    """The plan, a row per case (the note starts from the handover template) and the
    "planned" event of each case, in one transaction."""
    template = str(HANDOVER_TEMPLATE)
    with transaction.atomic():
        plan = TransferPlan.objects.create(
            kind=kind,
            reason=reason,
            title=title.strip()[:200],
            from_unit=from_unit,
            effective_on=effective_on,
            created_by=actor,
        )
        rows = TransferCase.objects.bulk_create(
            TransferCase(
                plan=plan,
                task=task,
                referral_id=task.referral_id,
                from_unit=from_unit,
                to_unit_id=_to_unit(kind, specs[pk], to_unit_id, from_unit),
                from_owner_id=task.owner_id,
                to_owner_id=specs[pk].to_owner_id,
                handover_note=specs[pk].handover_note.strip() or template,
                family_informed_at=specs[pk].family_informed_at,
                not_informed_reason=specs[pk].not_informed_reason.strip(),
            )
            for pk, task in sorted(tasks.items())
        )
        for row in rows:
            row.referral = tasks[row.task_id].referral
        record_transfer(plan, rows, step="planned", actor=actor)
    return plan


def _to_unit(kind, spec: CaseSpec, to_unit_id, from_unit) -> int:
    if kind == Plan.Kind.WORKER:
        return from_unit.pk
    return spec.to_unit_id or to_unit_id


def _receiving_units(actor, kind, from_unit, specs, to_unit_id) -> dict[int, ServiceUnit]:
    if kind == Plan.Kind.WORKER:
        return {from_unit.pk: from_unit}
    wanted = {spec.to_unit_id or to_unit_id for spec in specs}
    if None in wanted:
        raise TransferError(_("Choose the receiving unit."))
    scope = office_scope(actor)
    units = {pk: unit_for_reassignment(scope, pk) for pk in wanted}
    if any(unit is None for unit in units.values()) or from_unit.pk in units:
        raise TransferError(_("Choose a receiving unit that takes referrals in your districts."))
    return units


def _placement_problems(kind, tasks, specs, receiving, from_unit) -> list[str]:
    """Why each case cannot go where it is asked to: a worker who does not work in the unit,
    a unit that does not serve the referral's district or already has a part of it."""
    problems = []
    if kind == Plan.Kind.WORKER:
        staff = {worker.user.pk for worker in workers(from_unit.pk)}
        for pk in tasks:
            if specs[pk].to_owner_id not in staff or specs[pk].to_owner_id == tasks[pk].owner_id:
                problems.append(
                    _("Case %(task)s: choose another worker of this unit.") % {"task": pk}
                )
        return problems
    serves: dict = {}
    holding = set(
        ReferralTask.objects.open()
        .filter(referral_id__in=[t.referral_id for t in tasks.values()], unit_id__in=receiving)
        .values_list("referral_id", "unit_id")
    )
    for pk, task in tasks.items():
        unit_id = specs[pk].to_unit_id or next(iter(receiving))
        key = (task.referral.district_id, unit_id)
        if key not in serves:
            serves[key] = may_assign_in(*key)
        if not serves[key]:
            problems.append(
                _("Case %(task)s: the receiving unit does not serve its district.") % {"task": pk}
            )
        elif (task.referral_id, unit_id) in holding:
            problems.append(
                _("Case %(task)s: the receiving unit already works on this referral.")
                % {"task": pk}
            )
    return problems


def _locked_plan(actor: User, plan_id: int, expected_version: int | None) -> TransferPlan:
    plan = TransferPlan.objects.select_for_update().select_related("from_unit").get(pk=plan_id)
    if not may_plan(actor, plan.kind, plan.from_unit):
        raise NotPermitted(_("You may not plan transfers for this unit."))
    if expected_version is not None and plan.version != expected_version:
        raise stale_transfer(plan.get_state_display())
    if plan.state != Plan.State.PLANNED:
        raise TransferError(_("This plan has run or was cancelled; it can no longer change."))
    return plan


def stale_transfer(label: str) -> Conflict:
    """The wording for an edit made on an out-of-date copy of a plan or one of its cases."""
    return Conflict(
        _(
            "Someone else changed this transfer while you were looking at it; it is now "
            "“%(state)s”. Nothing was changed: check the page and try again."
        )
        % {"state": label}
    )


def _locked_case(actor: User, case_id: int) -> TransferCase:
    """The case, locked after its plan (the order every plan step locks in)."""
    plan_id = TransferCase.objects.filter(pk=case_id).values_list("plan_id", flat=True).first()
    if plan_id is None:
        raise NotPermitted(_("You may not plan transfers for this unit."))
    _locked_plan(actor, plan_id, None)
    case = TransferCase.objects.select_for_update().get(pk=case_id)
    if case.state != Case.State.PLANNED:
        raise TransferError(_("This case has moved already; its handover is kept as it was."))
    return case


def case_update(
    *,
    actor: User,
    case_id: int,
    expected_version: int,
    handover_note: str,
    family_informed_at: datetime | None,
    not_informed_reason: str,
) -> TransferCase:
    """Edit one planned case's handover note and the record of the family being told."""
    with transaction.atomic():
        case = _locked_case(actor, case_id)
        if case.version != expected_version:
            raise stale_transfer(case.get_state_display())
        if family_informed_at and family_informed_at > timezone.now():
            raise TransferError(_("The family cannot have been informed in the future."))
        case.handover_note = handover_note.strip()
        case.family_informed_at = family_informed_at
        case.not_informed_reason = not_informed_reason.strip()
        case.version = F("version") + 1
        case.save()
        case.refresh_from_db()
    return case


def family_informed(*, actor: User, plan_id: int, at: datetime, case_ids=None) -> int:
    """Record that the families of the plan's planned cases (or of ``case_ids``) were told."""
    if at > timezone.now():
        raise TransferError(_("The family cannot have been informed in the future."))
    with transaction.atomic():
        plan = _locked_plan(actor, plan_id, None)
        cases = plan.cases.filter(state=Case.State.PLANNED)
        if case_ids is not None:
            cases = cases.filter(pk__in=case_ids)
        return cases.update(family_informed_at=at, version=F("version") + 1)


def case_remove(*, actor: User, case_id: int) -> None:
    """Take a planned case out of the plan: it stays where it is."""
    with transaction.atomic():
        case = _locked_case(actor, case_id)
        TransferCase.objects.filter(pk=case.pk).update(
            state=Case.State.REMOVED, version=F("version") + 1
        )


def plan_cancel(*, actor: User, plan_id: int, expected_version: int, reason: str) -> None:
    if not reason.strip():
        raise ReasonRequired(_("Give a reason for this step."))
    with transaction.atomic():
        plan = _locked_plan(actor, plan_id, expected_version)
        plan.cases.filter(state=Case.State.PLANNED).update(
            state=Case.State.REMOVED, answer_reason=reason.strip()
        )
        TransferPlan.objects.filter(pk=plan.pk).update(
            state=Plan.State.CANCELLED, version=F("version") + 1
        )


@dataclass(frozen=True)
class Blockers:
    """The planned cases that keep a plan from running."""

    no_handover: list[int] = field(default_factory=list)
    family_not_ready: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(set(self.no_handover) | set(self.family_not_ready))


def plan_blockers(plan: TransferPlan) -> Blockers:
    """Cases without a handover note of their own, and cases whose family was neither told
    by the effective date nor has a recorded reason why not (one query)."""
    template = str(HANDOVER_TEMPLATE).strip()
    rows = plan.cases.filter(state=Case.State.PLANNED).values_list(
        "pk", "handover_note", "family_informed_at", "not_informed_reason"
    )
    no_handover, not_ready = [], []
    for pk, note, informed, why_not in rows:
        if not note.strip() or note.strip() == template:
            no_handover.append(pk)
        if not why_not.strip() and (
            informed is None or timezone.localdate(informed) > plan.effective_on
        ):
            not_ready.append(pk)
    return Blockers(no_handover, not_ready)


def record_transfer(
    plan, cases, *, step: str, actor, at=None, reason: str = ""
) -> list[ReferralEvent]:
    """One timeline event per case (the receiving unit's for a move, the sending unit's for
    a return), and, for a move between units, the follow-up job telling the referrer and
    both organisations. A move between workers is the unit's own business (``internal``:
    never on the referrer's timeline)."""
    at = at or timezone.now()
    units = ServiceUnit.objects.in_bulk(
        {c.from_unit_id for c in cases} | {c.to_unit_id for c in cases}
    )
    events = ReferralEvent.objects.bulk_create(
        ReferralEvent(
            referral_id=case.referral_id,
            actor=actor,
            at=at,
            from_status=case.referral.status,
            to_status=case.referral.status,
            kind=ReferralEvent.Kind.TRANSFER,
            reason=reason,
            unit_id=case.from_unit_id if step == "returned" else case.to_unit_id,
            task_id=case.task_id,
            details={
                "step": step,
                "plan": str(plan.public_id),
                "transfer": case.pk,
                "effective_on": plan.effective_on.isoformat(),
                "from_unit": _label(units[case.from_unit_id]),
                "to_unit": _label(units[case.to_unit_id]),
                "from_unit_code": units[case.from_unit_id].code,
                "to_unit_code": units[case.to_unit_id].code,
                "internal": plan.kind == Plan.Kind.WORKER,
            },
        )
        for case in cases
    )
    if events and plan.kind == Plan.Kind.UNIT:
        ids = [e.pk for e in events] if events[0].pk else _event_ids(cases, at)
        outbox.enqueue(notify_transfer, event_ids=ids, step=step)
    return events


def _event_ids(cases, at) -> list[int]:
    """The events just written, where the database returns no ids from a bulk insert."""
    return list(
        ReferralEvent.objects.filter(
            task_id__in=[c.task_id for c in cases], at=at, kind=ReferralEvent.Kind.TRANSFER
        ).values_list("pk", flat=True)
    )


@outbox.job()
def notify_transfer(*, event_ids: list[int], step: str) -> int:
    """Tell each case's referrer its new unit (or that it went back), and call the webhooks
    of both organisations: ``referral.transfer_planned`` / ``referral.transferred``. Safe to
    repeat (one notification and one delivery per event and recipient)."""
    event_type = (
        WebhookEndpoint.Event.TRANSFER_PLANNED
        if step == "planned"
        else WebhookEndpoint.Event.TRANSFERRED
    )
    events = list(
        ReferralEvent.objects.filter(pk__in=event_ids).select_related(
            "referral__referrer", "unit", "task"
        )
    )
    organisations = {
        pk: {from_org, to_org}
        for pk, from_org, to_org in TransferCase.objects.filter(
            pk__in=[event.details.get("transfer") for event in events]
        ).values_list("pk", "from_unit__organisation_id", "to_unit__organisation_id")
    }
    for event in events:
        referrer = event.referral.referrer
        if step in ("moved", "returned") and referrer.is_active:
            notify(event, [referrer], Notification.Kind.TRANSFER)
        for organisation_id in sorted(organisations.get(event.details.get("transfer"), ())):
            webhook_deliveries(event, event_type, organisation_id=organisation_id)
    return len(events)
