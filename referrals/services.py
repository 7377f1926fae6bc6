"""Every write in a referral's life after submission, one function per step.

Each step locks the referral row (``SELECT … FOR UPDATE``), asks ``referrals/lifecycle.py``
whether the actor may take it from the current status, checks the optimistic ``version``
the caller saw, writes a ``ReferralEvent`` and queues its follow-up work (notifications,
webhooks, routing) in the same transaction (``referrals/outbox.py``). It raises a
translated ``ReferralError`` (``referrals/errors.py``) when it must refuse. Callers pass
``actor=None`` for the system (routing, sweeps). Routing by the rules is here too; the
office's hand (manual assignment, escalation, overdue) is in ``referrals/assignment.py``.
"""

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from referrals import outbox, routing, sla
from referrals.errors import (
    IllegalTransition,
    NotPermitted,
    OutcomeNotAllowed,
    ReasonRequired,
    stale_version,
)
from referrals.lifecycle import REFERRER_TOLD, TRANSITIONS, Transition, actor_roles
from referrals.models import (
    CLOSED_STATUSES,
    SERVING_STATUSES,
    Referral,
    ReferralEvent,
    RiskLevel,
    RoutingRule,
    Status,
)
from referrals.notifications import (
    notify_assignment,
    notify_office,
    notify_partner,
    notify_referrer,
)
from referrals.selectors import office_closures_from, routing_decision_for, unit_loads
from services.models import ServiceUnit

logger = logging.getLogger(__name__)


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
) -> None:
    if expected_version is not None and referral.version != expected_version:
        raise stale_version(referral.get_status_display())
    if not actor_roles(user=actor, referral=referral, partner=partner) & transition.actors:
        raise NotPermitted(_("You may not do this to this referral."))
    if referral.status not in transition.sources:
        raise IllegalTransition(
            _("A referral that is “%(status)s” cannot be moved to “%(target)s”.")
            % {
                "status": referral.get_status_display(),
                "target": Status(transition.target).label,
            }
        )
    if transition.reason_required and not reason:
        raise ReasonRequired(_("Give a reason for this step."))


def _holder(referral: Referral) -> int | None:
    """The unit whose load this referral counts in."""
    return referral.assigned_unit_id if referral.status in SERVING_STATUSES else None


def _move_load(old_unit_id: int | None, new_unit_id: int | None) -> None:
    if old_unit_id == new_unit_id:
        return
    if old_unit_id:
        ServiceUnit.objects.filter(pk=old_unit_id, current_load__gt=0).update(
            current_load=F("current_load") - 1
        )
    if new_unit_id:
        ServiceUnit.objects.filter(pk=new_unit_id).update(current_load=F("current_load") + 1)


def reconcile_unit_loads() -> dict[str, tuple[int, int]]:
    """Set every ``current_load`` that drifted back to the unit's true load
    (``selectors.unit_loads``); {unit code: (counter found, load set)} for those repaired.

    ``_move_load`` keeps the counters, but a row written past the services (a data fix, the
    demo's seeded loads, an admin edit or import from before the field was read-only) leaves
    one wrong for good, and routing ranks units by it. Each drifted unit is recounted under
    its row lock, in its own transaction: a referral step moving that unit's load holds the
    same lock until it commits, so the recount sees it (or the step adds its ±1 after the
    repair): never a lost change."""
    loads = unit_loads()
    drifted = [
        unit_id
        for unit_id, counter in ServiceUnit.objects.values_list("pk", "current_load")
        if counter != loads.get(unit_id, 0)
    ]
    repaired = {}
    for unit_id in drifted:
        with transaction.atomic():
            unit = (
                ServiceUnit.objects.select_for_update().only("code", "current_load").get(pk=unit_id)
            )
            load = unit_loads(unit_ids=[unit_id]).get(unit_id, 0)
            if unit.current_load != load:
                ServiceUnit.objects.filter(pk=unit_id).update(current_load=load)
                repaired[unit.code] = (unit.current_load, load)
    if repaired:
        logger.warning("Unit loads repaired (counter, true load): %s", repaired)
    return repaired


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
) -> ReferralEvent:
    """Apply ``changes`` and the new status to the locked ``referral``, raise its version,
    keep unit loads right and write the timeline event."""
    from_status = referral.status
    old_holder = _holder(referral)
    referral.status = to_status
    if to_status in CLOSED_STATUSES and from_status not in CLOSED_STATUSES:
        referral.closed_at = timezone.now()  # starts the retention clock (privacy.py)
    for name, value in (changes or {}).items():
        setattr(referral, name, value)
    referral.version = F("version") + 1
    referral.save()
    referral.refresh_from_db(fields=["version"])
    _move_load(old_holder, _holder(referral))
    event = ReferralEvent.objects.create(
        referral=referral,
        actor=actor,
        from_status=from_status,
        to_status=to_status,
        kind=kind,
        reason=reason,
        note=note,
        unit=unit if unit is not None else referral.assigned_unit,
        details=details or {},
    )
    told = actor is None or actor.pk != referral.referrer_id
    if told and to_status in REFERRER_TOLD and to_status != from_status:
        outbox.enqueue(notify_referrer, event_id=event.pk)
    if event.unit_id and to_status != from_status and kind != ReferralEvent.Kind.ROUTING:
        outbox.enqueue(notify_partner, event_id=event.pk)  # referral.updated / referral.cancelled
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
) -> Referral:
    transition = TRANSITIONS[action]
    reason, note, outcome = reason.strip(), note.strip(), outcome.strip()
    with transaction.atomic():
        referral = lock(referral_id)
        check(
            referral,
            actor=actor,
            transition=transition,
            expected_version=expected_version,
            reason=reason,
            partner=partner,
        )
        if action == "complete" and not outcome:
            raise ReasonRequired(_("Summarise the outcome for the referrer."))
        if action != "complete" and outcome:
            raise OutcomeNotAllowed(_("Only completing a referral records its outcome summary."))
        changes: dict = {"outcome_summary": outcome} if outcome else {}
        if action in ("complete", "fail") and services_provided.strip():
            changes["services_provided"] = services_provided.strip()
        if action == "send_to_triage":
            changes.update(assigned_unit=None, due_at=None)
        event = record_change(
            referral,
            actor=actor,
            to_status=transition.target,
            reason=reason,
            note=note,
            changes=changes,
            details={"via": f"api client {partner.application.client_id}"} if partner else None,
        )
        if action == "reject":
            outbox.enqueue(
                referral_route, referral_id=referral.pk
            )  # to the next unit, or to triage
        elif action == "send_to_triage":
            outbox.enqueue(notify_office, event_id=event.pk)
    return referral


def referral_send_to_triage(*, referral_id: int, actor: User | None, **kwargs) -> Referral:
    return _transition(referral_id=referral_id, actor=actor, action="send_to_triage", **kwargs)


def referral_accept(*, referral_id: int, actor: User, **kwargs) -> Referral:
    return _transition(referral_id=referral_id, actor=actor, action="accept", **kwargs)


def referral_decline(*, referral_id: int, actor: User, reason: str, **kwargs) -> Referral:
    return _transition(
        referral_id=referral_id, actor=actor, action="reject", reason=reason, **kwargs
    )


def referral_start(*, referral_id: int, actor: User, **kwargs) -> Referral:
    return _transition(referral_id=referral_id, actor=actor, action="start", **kwargs)


def referral_hold(*, referral_id: int, actor: User, reason: str, **kwargs) -> Referral:
    return _transition(referral_id=referral_id, actor=actor, action="hold", reason=reason, **kwargs)


def referral_resume(*, referral_id: int, actor: User, **kwargs) -> Referral:
    return _transition(referral_id=referral_id, actor=actor, action="resume", **kwargs)


def referral_complete(*, referral_id: int, actor: User, outcome: str, **kwargs) -> Referral:
    return _transition(
        referral_id=referral_id, actor=actor, action="complete", outcome=outcome, **kwargs
    )


def referral_fail(*, referral_id: int, actor: User, reason: str, **kwargs) -> Referral:
    return _transition(referral_id=referral_id, actor=actor, action="fail", reason=reason, **kwargs)


def referral_cancel(*, referral_id: int, actor: User, reason: str, **kwargs) -> Referral:
    return _transition(
        referral_id=referral_id, actor=actor, action="cancel", reason=reason, **kwargs
    )


def referral_mark_entered_in_error(
    *, referral_id: int, actor: User, reason: str, **kwargs
) -> Referral:
    return _transition(
        referral_id=referral_id,
        actor=actor,
        action="mark_entered_in_error",
        reason=reason,
        **kwargs,
    )


ACTION_SERVICES = {
    "accept": referral_accept,
    "reject": referral_decline,
    "start": referral_start,
    "hold": referral_hold,
    "resume": referral_resume,
    "complete": referral_complete,
    "fail": referral_fail,
    "cancel": referral_cancel,
    "mark_entered_in_error": referral_mark_entered_in_error,
    "send_to_triage": referral_send_to_triage,
}


def runs_around_the_clock(risk_level: str) -> bool:
    """Whether work of this risk level is timed 24 x 7 (``SLA_AROUND_THE_CLOCK_RISK_LEVELS``)
    rather than in business time."""
    return risk_level in settings.SLA_AROUND_THE_CLOCK_RISK_LEVELS


def due_at(rule, start: datetime, risk_level: str, closures=None) -> datetime:
    """When an assignment under ``rule`` (a ``RoutingRule`` or the routing's ``RuleFacts``;
    ``None``: the defaults) made at ``start`` must be acknowledged. The one home of the clock
    choice: urgent work (``SLA_AROUND_THE_CLOCK_RISK_LEVELS``) runs 24 x 7, the rest in
    business time, paused through office closures (read here unless the caller, comparing
    several rules from one instant, passes them); re-routing keeps the referral's risk
    level, and so its clock."""
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
        closures = office_closures_from(start)
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
) -> ReferralEvent:
    """Assign the locked referral to ``unit`` (default: the decision's choice) or, with
    no unit, send it to triage; escalate when the decision says so."""
    now = timezone.now()
    details = details or decision.as_json()
    rule = RoutingRule.objects.filter(pk=decision.rule.id).first() if decision.rule else None
    unit = unit or (ServiceUnit.objects.get(pk=decision.unit.id) if decision.unit else None)
    if unit is not None:
        event = record_change(
            referral,
            actor=actor,
            to_status=Status.ASSIGNED,
            kind=ReferralEvent.Kind.ROUTING,
            reason=reason,
            note=note,
            unit=unit,
            changes={
                "assigned_unit": unit,
                "routing_rule": rule,
                "due_at": due_at(rule, now, referral.risk_level),
                "overdue_at": None,
            },
            details=details,
        )
        outbox.enqueue(notify_assignment, event_id=event.pk)
    else:
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
        outbox.enqueue(notify_office, event_id=event.pk)
    if decision.escalate and referral.escalated_at is None:
        escalate(referral, actor=None, reason="", code="escalate_at_once")
    return event


@outbox.job()
def referral_route(*, referral_id: int) -> Referral:
    """Route a submitted (or just declined) referral; a no-op for any other status, so the
    task may run any number of times."""
    with transaction.atomic():
        referral = lock(referral_id)
        if referral.status not in (Status.SUBMITTED, Status.REJECTED):
            return referral
        apply_decision(referral, routing_decision_for(referral))
    return referral


def escalate(referral: Referral, *, actor: User | None, reason: str, code: str = "") -> None:
    event = record_change(
        referral,
        actor=actor,
        to_status=referral.status,
        kind=ReferralEvent.Kind.ESCALATION,
        reason=reason,
        changes={"escalated_at": timezone.now()},
        details={"reasons": [routing.Reason(code).as_json()]} if code else {},
    )
    outbox.enqueue(notify_office, event_id=event.pk)
