"""Every write in a referral's life after submission, one function per step.

Each step locks the referral row (``SELECT … FOR UPDATE``), asks ``referrals/lifecycle.py``
whether the actor may take it from the current status, checks the optimistic ``version``
the caller saw, writes a ``ReferralEvent`` and queues its follow-up work (notifications,
webhooks, routing) in the same transaction (``referrals/outbox.py``). It raises a
translated ``ReferralError`` (``referrals/errors.py``) when it must refuse; ``actor=None``
is the system. Routing by the rules is here too; the office's hand is in ``assignment.py``.
"""

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from referrals import notifications as notifying
from referrals import outbox, route_batches, routing, sla
from referrals.errors import (
    IllegalTransition,
    NotPermitted,
    OutcomeNotAllowed,
    ReasonRequired,
    stale_version,
)
from referrals.lifecycle import (
    REFERRER_TOLD,
    TRANSITIONS,
    UNIT_ACTORS,
    Actor,
    Transition,
    actor_roles,
    reads_case_notes,
)
from referrals.models import (
    CLOSED_STATUSES,
    Referral,
    ReferralEvent,
    ReferralTask,
    RiskLevel,
    RoutingRule,
    Status,
)
from referrals.routing_directory import closures_from as routing_closures_from
from referrals.routing_inputs import RoutingBatch, routing_decision_for
from referrals.task_steps import (
    acting_task,
    close_open_tasks,
    declined_parts,
    derived_status,
    need_rows,
    open_task,
    task_step,
)
from services.models import NeedCategory, ServiceUnit


def lock(referral_id: int) -> Referral:
    return (
        Referral.objects.select_for_update(of=("self",))
        .select_related("district", "sub_district")
        .get(pk=referral_id)
    )


def check(
    referral: Referral,
    *,
    actor: User | None,
    transition: Transition,
    expected_version: int | None,
    reason: str = "",
    partner=None,
    task: ReferralTask | None = None,
) -> None:
    """Refuse the step unless the caller saw the current version, may take it, and the
    referral (for a unit's step: the unit's ``task``) is in a status it starts from."""
    if expected_version is not None and referral.version != expected_version:
        raise stale_version(referral.get_status_display())
    roles = actor_roles(user=actor, referral=referral, partner=partner, task=task)
    if not roles & transition.actors:
        raise NotPermitted(_("You may not do this to this referral."))
    current = task if task is not None else referral
    if current.status not in transition.sources:
        raise IllegalTransition(
            _("A referral that is “%(status)s” cannot be moved to “%(target)s”.")
            % {"status": current.get_status_display(), "target": Status(transition.target).label}
        )
    if transition.reason_required and not reason:
        raise ReasonRequired(_("Give a reason for this step."))


def record_change(
    referral: Referral,
    *,
    actor: User | None,
    to_status: str,
    kind: str = ReferralEvent.Kind.STATUS,
    reason: str = "",
    note: str = "",
    unit: ServiceUnit | None = None,
    changes: dict | None = None,
    details: dict | None = None,
    task: ReferralTask | None = None,
    step: tuple[str, str] | None = None,
) -> ReferralEvent:
    """Apply ``changes`` and the new status to the locked ``referral``, raise its version
    and write the timeline event. A step on ``task`` (the unit's task it was taken on) is
    recorded as that task's move, ``step`` (from, to): a unit declining its part is a
    decline, whatever the referral's status derived from all its tasks."""
    from_status = referral.status
    referral.status = to_status
    if to_status in CLOSED_STATUSES and from_status not in CLOSED_STATUSES:
        referral.closed_at = timezone.now()  # starts the retention clock (privacy.py)
    for name, value in (changes or {}).items():
        setattr(referral, name, value)
    referral.version = F("version") + 1
    referral.save()
    referral.refresh_from_db(fields=["version"])
    step_from, step_to = step or (from_status, to_status)
    event = ReferralEvent.objects.create(
        referral=referral,
        actor=actor,
        from_status=step_from,
        to_status=step_to,
        kind=kind,
        reason=reason,
        note=note,
        unit=unit if unit is not None else (task.unit if task else referral.assigned_unit),
        details=details or {},
        task=task,
    )
    told = actor is None or actor.pk != referral.referrer_id
    if told and step_to in REFERRER_TOLD and step_to != step_from:
        outbox.enqueue(notifying.notify_referrer, event_id=event.pk)
    if event.unit_id and step_to != step_from and kind != ReferralEvent.Kind.ROUTING:
        # referral.updated / referral.cancelled
        outbox.enqueue(notifying.notify_partner, event_id=event.pk)
    return event


def _transition(
    *,
    referral_id: int,
    actor: User | None,
    action: str,
    reason: str = "",
    note: str = "",
    expected_version: int | None = None,
    outcome: str = "",
    services_provided: str = "",
    partner=None,
    check_only: bool = False,
) -> Referral:
    """Take ``action``; with ``check_only``, refuse it as taking it would and change
    nothing: for a page that asks to confirm a destructive step first (issue 19)."""
    transition = TRANSITIONS[action]
    reason, note, outcome = reason.strip(), note.strip(), outcome.strip()
    with transaction.atomic():
        referral = lock(referral_id)
        task = _checked(referral, actor, transition, expected_version, reason, outcome, partner)
        if check_only:
            return referral
        changes: dict = {"outcome_summary": outcome} if outcome else {}
        if action in ("complete", "fail") and services_provided.strip():
            changes["services_provided"] = services_provided.strip()
        to_status, step, changes = _on_tasks(referral, task, transition, changes)
        event = record_change(
            referral,
            actor=actor,
            to_status=to_status,
            reason=reason,
            note=note,
            changes=changes,
            details={"via": f"api client {partner.application.client_id}"} if partner else None,
            task=task,
            step=step,
        )
        if action == "reject":  # to the next unit, or to triage
            outbox.enqueue(referral_route, referral_id=referral.pk)
        elif action == "send_to_triage":
            outbox.enqueue(notifying.notify_office, event_id=event.pk)
    return referral


def _checked(referral, actor, transition, expected_version, reason, outcome, partner=None):
    """``check`` and the outcome summary's rule; returns the task a unit's step acts on."""
    unit_step = transition.actors == UNIT_ACTORS
    task = acting_task(referral, actor=actor, partner=partner) if unit_step else None
    check(
        referral,
        actor=actor,
        transition=transition,
        expected_version=expected_version,
        reason=reason,
        partner=partner,
        task=task,
    )
    if transition.action == "complete" and not outcome:
        raise ReasonRequired(_("Summarise the outcome for the referrer."))
    if transition.action != "complete" and outcome:
        raise OutcomeNotAllowed(_("Only completing a referral records its outcome summary."))
    return task


def referral_add_note(
    *, referral_id: int, actor: User, note: str, expected_version: int | None = None
) -> ReferralEvent:
    """A case note (issue 19), not a step: written by those who read case notes; a unit's
    is on its own task, so another unit reads it as that unit's other notes (not at all)."""
    note = note.strip()
    with transaction.atomic():
        referral = lock(referral_id)
        if expected_version is not None and referral.version != expected_version:
            raise stale_version(referral.get_status_display())
        task = acting_task(referral, actor=actor)
        roles = actor_roles(user=actor, referral=referral, task=task)
        if not reads_case_notes(roles) or referral.status == Status.DRAFT:
            raise NotPermitted(_("You may not do this to this referral."))
        if not note:
            raise ReasonRequired(_("Write the note."))
        unit_note = Actor.UNIT in roles and task is not None
        return record_change(
            referral,
            actor=actor,
            to_status=referral.status,
            kind=ReferralEvent.Kind.NOTE,
            note=note[:2000],
            unit=task.unit if unit_note else None,
            task=task if unit_note else None,
        )


def _on_tasks(referral: Referral, task, transition: Transition, changes: dict):
    """A step's effect on the tasks: a unit's moves its own task, and the referral takes
    the status all its tasks give; the office taking the referral back, a withdrawal or
    "entered in error" closes its open tasks. Returns the referral's new status, the step
    the timeline records (the task's, or ``None``: the referral's) and its changes."""
    to_status, step = transition.target, None
    if task is not None:
        step = (task.status, to_status)
        changes = task_step(referral, task, to_status=to_status, changes=changes)
        to_status = changes.pop("status")
    elif transition.action in ("send_to_triage", "cancel", "mark_entered_in_error"):
        in_error = transition.action == "mark_entered_in_error"
        close_open_tasks(referral, Status.ENTERED_IN_ERROR if in_error else Status.CANCELLED)
    if transition.action == "send_to_triage":
        changes.update(assigned_unit=None, due_at=None)
    return to_status, step, changes


def _step(action: str):
    """The service for ``action``: ``_transition`` with it, taking its keyword arguments."""

    def step(*, referral_id: int, actor: User | None, **kwargs) -> Referral:
        return _transition(referral_id=referral_id, actor=actor, action=action, **kwargs)

    step.__name__ = step.__qualname__ = f"referral_{action}"
    return step


referral_send_to_triage = _step("send_to_triage")
referral_accept = _step("accept")
referral_decline = _step("reject")  # with a reason, as hold, fail, cancel, entered in error
referral_start = _step("start")
referral_hold = _step("hold")
referral_resume = _step("resume")
referral_complete = _step("complete")  # with the outcome summary
referral_fail = _step("fail")
referral_cancel = _step("cancel")
referral_mark_entered_in_error = _step("mark_entered_in_error")

# Each step's service by its action ("reject": ``referral_decline``, whose name says it).
ACTION_SERVICES = {
    step.__name__.removeprefix("referral_"): step
    for step in (referral_accept, referral_decline, referral_start, referral_hold)
    + (referral_resume, referral_complete, referral_fail, referral_cancel)
    + (referral_mark_entered_in_error, referral_send_to_triage)
}


def runs_around_the_clock(risk_level: str) -> bool:
    """Whether work of this risk level is timed 24 x 7 (``SLA_AROUND_THE_CLOCK_RISK_LEVELS``)
    rather than in business time."""
    return risk_level in settings.SLA_AROUND_THE_CLOCK_RISK_LEVELS


def due_at(rule, start: datetime, risk_level: str, closures=None) -> datetime:
    """When an assignment under ``rule`` (a ``RoutingRule`` or the routing's ``RuleFacts``;
    ``None``: the defaults) made at ``start`` must be acknowledged. The one home of the clock
    choice: urgent work (``SLA_AROUND_THE_CLOCK_RISK_LEVELS``) runs 24 x 7, the rest in
    business time, paused through office closures (the routing directory's, unless the
    caller, comparing several rules from one instant, passes them); re-routing keeps the
    referral's risk level, and so its clock."""
    around_the_clock = runs_around_the_clock(risk_level)
    if rule is not None:
        amount, unit = rule.sla_amount, rule.sla_unit
    elif risk_level == RiskLevel.URGENT:
        amount, unit = settings.URGENT_SLA_HOURS, sla.SlaUnit.BUSINESS_HOURS
    else:
        amount, unit = settings.DEFAULT_SLA_BUSINESS_DAYS, sla.SlaUnit.BUSINESS_DAYS
    # Office closures pause business time only, so urgent work does not even read them.
    if around_the_clock:
        closures = ()
    elif closures is None:
        closures = routing_closures_from(start)
    return sla.due_after(start, amount, unit, around_the_clock=around_the_clock, closures=closures)


def apply_decision(
    referral: Referral,
    decision: routing.Decision,
    *,
    actor: User | None = None,
    unit: ServiceUnit | None = None,
    reason: str = "",
    note: str = "",
    details: dict | None = None,
    needs=None,
) -> ReferralEvent:
    """Assign the locked referral to ``unit`` (default: the decision's choice) as its lead
    task, for ``needs`` (default: all its needs), or, with no unit, send it to triage;
    escalate when the decision says so."""
    now = timezone.now()
    details = details or decision.as_json()
    rule = RoutingRule.objects.filter(pk=decision.rule.id).first() if decision.rule else None
    unit = unit or (ServiceUnit.objects.get(pk=decision.unit.id) if decision.unit else None)
    if unit is not None:
        due = due_at(rule, now, referral.risk_level)
        task = open_task(referral, unit=unit, rule=rule, due=due, needs=needs)
        event = record_change(
            referral,
            actor=actor,
            to_status=derived_status(referral, Status.ASSIGNED),
            kind=ReferralEvent.Kind.ROUTING,
            reason=reason,
            note=note,
            unit=unit,
            changes={
                "assigned_unit": unit,
                "routing_rule": rule,
                "due_at": due,
                "overdue_at": None,
            },
            details=details,
            task=task,
            step=(referral.status, Status.ASSIGNED),
        )
        outbox.enqueue(notifying.notify_assignment, event_id=event.pk)
    else:
        close_open_tasks(referral, Status.CANCELLED)
        event = record_change(
            referral,
            actor=actor,
            to_status=Status.TRIAGE,
            kind=ReferralEvent.Kind.ROUTING,
            reason=reason,
            note=note,
            changes={"assigned_unit": None, "routing_rule": None, "due_at": None},
            details=details,
        )
        outbox.enqueue(notifying.notify_office, event_id=event.pk)
    if decision.escalate and referral.escalated_at is None:
        escalate(referral, actor=None, reason="", code="escalate_at_once")
    return event


def apply_plan(referral: Referral, plan: routing.Plan) -> None:
    """Give the locked, submitted referral a task per unit of ``plan`` (``routing.plan``):
    the lead through ``apply_decision`` (or the whole referral to triage when no rule found
    a lead), then each other part; needs no unit was found for go to the district office."""
    lead = plan.lead
    event = apply_decision(referral, lead.decision, needs=need_rows(lead.needs))
    if event.task is None:
        return
    for part in plan.parts[1:]:
        add_part(referral, part.decision, needs=part.needs, lead=event.task)
    for need in plan.unrouted:
        need_unrouted(referral, need)


def add_part(
    referral: Referral,
    decision: routing.Decision,
    *,
    needs,
    lead: ReferralTask | None,
) -> ReferralEvent:
    """A task for one more unit on the locked referral, part of ``lead``, timed by its own
    rule; the unit is told, as for the lead."""
    rule = RoutingRule.objects.filter(pk=decision.rule.id).first() if decision.rule else None
    unit = ServiceUnit.objects.get(pk=decision.unit.id)
    task = referral.tasks.open().filter(unit=unit).first()
    if task is not None:
        # The unit already holds a task on the referral: it serves these needs too.
        task.needs.add(*need_rows(needs))
    else:
        due = due_at(rule, timezone.now(), referral.risk_level)
        task = open_task(referral, unit=unit, rule=rule, due=due, needs=need_rows(needs), lead=lead)
    event = record_change(
        referral,
        actor=None,
        to_status=derived_status(referral, referral.status),
        kind=ReferralEvent.Kind.ROUTING,
        unit=unit,
        details={**decision.as_json(), "needs": sorted(needs)},
        task=task,
        step=(referral.status, Status.ASSIGNED),
    )
    outbox.enqueue(notifying.notify_assignment, event_id=event.pk)
    if decision.escalate and referral.escalated_at is None:
        escalate(referral, actor=None, reason="", code="escalate_at_once")
    return event


def need_unrouted(referral: Referral, need: str) -> None:
    """No rule found a unit for ``need``: the district office routes it by hand."""
    event = record_change(
        referral,
        actor=None,
        to_status=referral.status,
        kind=ReferralEvent.Kind.ROUTING,
        details={
            "needs": [need],
            "reasons": [routing.Reason("need_unrouted", {"need": _need_label(need)}).as_json()],
        },
    )
    outbox.enqueue(notifying.notify_office, event_id=event.pk)


def _need_label(code: str) -> dict[str, str]:
    need = NeedCategory.objects.filter(code=code).first()
    return {"en": need.name_en, "zh": need.name_zh} if need else {"en": code, "zh": code}


@outbox.job()
def referral_route(*, referral_id: int) -> Referral:
    """Route a submitted referral (a unit per need) with the others waiting (``route_batches``),
    or a declined task's needs (to their next unit, the lead's to a new lead); with nothing
    left for its own (a batch it waited for routed it), the others waiting. Idempotent."""
    with transaction.atomic():
        referral = lock(referral_id)
        if referral.status == Status.SUBMITTED:
            route_batches.route_together(referral_route, referrals_route, first=referral.pk)
            referral.refresh_from_db()
            return referral
        if referral.status in CLOSED_STATUSES or referral.status == Status.TRIAGE:
            return referral
        parts = declined_parts(referral)
        for task, needs in parts:
            route_needs_again(referral, needs, was_lead=task.is_lead)
        if not parts:
            route_batches.route_together(referral_route, referrals_route, besides=referral.pk)
    return referral


def referrals_route(ids: list[int]) -> list[int]:
    """Route the submitted referrals ``ids`` in one transaction and order, each as
    ``referral_route`` would (``RoutingBatch``: the directory, loads and released units read
    once, each plan on the loads the earlier ones added). Returns the ids routed."""
    with transaction.atomic():
        batch = RoutingBatch(ids)
        for referral in batch.referrals:
            apply_plan(referral, batch.plan(referral))
    return [referral.pk for referral in batch.referrals]


def route_needs_again(referral: Referral, needs: set[str], *, was_lead: bool) -> None:
    """The needs (codes) of a task its unit left (declined, or let lapse) go to their next
    unit, alone: the one rule for both. The main need's next unit leads; with no unit left
    for it and nothing else live, the office triages the referral, as before tasks; a need
    no unit is found for while other units work on goes to the office on its own."""
    live = referral.tasks.open()
    live_lead = live.filter(is_lead=True).first()
    leads = was_lead and live_lead is None
    decision = routing_decision_for(referral, needs=needs, lead=leads)
    if decision.unit is None and live.exists():
        for need in sorted(needs):
            need_unrouted(referral, need)
    elif leads:
        apply_decision(referral, decision, needs=need_rows(needs))
    else:
        add_part(referral, decision, needs=needs, lead=live_lead)


def escalate(referral: Referral, *, actor: User | None, reason: str, code: str = "") -> None:
    event = record_change(
        referral,
        actor=actor,
        to_status=referral.status,
        kind=ReferralEvent.Kind.ESCALATION,
        reason=reason,
        # The first alert's time stands: the office was told then.
        changes={"escalated_at": referral.escalated_at or timezone.now()},
        details={"reasons": [routing.Reason(code).as_json()]} if code else {},
    )
    outbox.enqueue(notifying.notify_office, event_id=event.pk)
