"""The district office's hand and the clock's: manual assignment, escalation, overdue.

Written like ``referrals/services.py`` (whose locking, checks and timeline it uses): one
transaction, the row lock, the ``version`` check, a timeline event, follow-ups queued.
"""

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from referrals import outbox, routing
from referrals.errors import (
    IllegalTransition,
    NotPermitted,
    ReasonRequired,
    ReferralError,
    stale_version,
)
from referrals.lifecycle import ESCALATABLE, OFFICE_ACTORS, TRANSITIONS, actor_roles
from referrals.models import (
    Referral,
    ReferralEvent,
    ReferralTask,
    RiskLevel,
    RoutingRule,
    Status,
)
from referrals.notifications import notify_office
from referrals.routing_inputs import routing_decision_for, routing_inputs
from referrals.selectors import (
    office_closures_from,
    overdue_q,
    units_assignable_to,
    units_taking_referrals,
)
from referrals.services import (
    add_part,
    apply_decision,
    check,
    due_at,
    escalate,
    lock,
    record_change,
    route_needs_again,
    runs_around_the_clock,
)
from referrals.task_steps import close_task
from services.models import ServiceUnit


def referral_assign(
    *,
    referral_id: int,
    actor: User | None,
    unit: ServiceUnit,
    reason: str = "",
    note: str = "",
    expected_version: int | None = None,
) -> Referral:
    """The district office routes by hand: to the suggested unit, or to another one with a
    reason (an override, kept in the timeline). Only to a unit it may assign the referral to
    (``selectors.units_assignable_to``): every path (the page, the queue's bulk
    reassignment, anything later) is held to the same rule here."""
    reason = reason.strip()
    with transaction.atomic():
        referral = lock(referral_id)
        check(
            referral,
            actor=actor,
            transition=TRANSITIONS["assign"],
            expected_version=expected_version,
        )
        unit = _assignable_unit(referral, unit_id=unit.pk)
        if referral.status == Status.ASSIGNED and referral.assigned_unit_id == unit.pk:
            raise ReferralError(_("The referral is already assigned to this unit."))
        facts, units, rules, places = routing_inputs(referral)
        decision = routing.decide(facts, units, rules, **places)
        suggested = decision.unit.id if decision.unit else None
        overriding = unit.pk != suggested or referral.status == Status.ASSIGNED
        if overriding and not reason:
            if suggested is None:
                raise ReasonRequired(_("No unit was suggested: give the reason for your choice."))
            raise ReasonRequired(
                _("You chose another unit than the suggested one: give the reason.")
            )
        codes = [routing.Reason("override" if overriding else "manual").as_json()]
        details = {
            **decision.as_json(),
            "manual": True,
            "unit": unit.code,
            "suggested": decision.unit.code if decision.unit else None,
            "reasons": codes + [r.as_json() for r in decision.reasons] if not overriding else codes,
        }
        apply_decision(
            referral,
            routing.Decision(
                rule=_clock_rule(facts, rules, decision, unit_type=unit.unit_type.code),
                chosen=None,
                runners_up=(),
                reasons=(),
                escalate=False,
            ),
            actor=actor,
            unit=unit,
            reason=reason,
            note=note.strip(),
            details=details,
        )
    return referral


def _clock_rule(
    facts: routing.ReferralFacts,
    rules: list[routing.RuleFacts],
    decision: routing.Decision,
    *,
    unit_type: str,
) -> routing.RuleFacts | None:
    """The rule whose clock a hand-routed referral runs on (issue 14 item 14): the first
    matching rule for the chosen unit's type, else the decision's rule; and an urgent
    referral never gets a longer clock than a matching urgent rule's, so re-routing it by
    hand cannot drop it to the two-day default."""
    matching = sorted((r for r in rules if r.matches(facts)), key=lambda r: (r.priority, r.code))
    chosen = next((r for r in matching if unit_type in r.unit_types), decision.rule)
    if facts.risk_level != RiskLevel.URGENT:
        return chosen
    # Compare clocks from one instant; business time makes amounts in different units
    # comparable only this way. A rule-less clock is the default's.
    now = timezone.now()
    urgent = [r for r in matching if RiskLevel.URGENT in r.risk_levels]
    candidates = [r for r in [chosen, *urgent] if r is not None]
    if not candidates:
        return None
    # Read once, not once per rule compared (and not at all on a 24 x 7 clock).
    closures = None if runs_around_the_clock(facts.risk_level) else office_closures_from(now)
    return min(candidates, key=lambda r: due_at(r, now, facts.risk_level, closures))


def _assignable_unit(referral: Referral, *, unit_id: int) -> ServiceUnit:
    """The unit, read fresh (is it still taking referrals?) together with whether the office
    may send ``referral`` there (``units_assignable_to``, the rule the routing panel offers
    by), in one query; ``ReferralError`` when it may not."""
    unit = (
        ServiceUnit.objects.select_related("unit_type")
        .annotate(assignable=Exists(units_assignable_to(referral).filter(pk=OuterRef("pk"))))
        .get(pk=unit_id)
    )
    if not unit.is_active:
        raise ReferralError(
            _("%(unit)s is not taking referrals; choose another unit.") % {"unit": unit.name}
        )
    if not unit.assignable:
        raise ReferralError(
            _("%(unit)s does not take referrals for %(district)s; choose another unit.")
            % {"unit": unit.name, "district": referral.district.name}
        )
    return unit


def referral_set_lead(
    *,
    referral_id: int,
    actor: User | None,
    task_public_id,
    reason: str,
    expected_version: int | None = None,
) -> Referral:
    """The district office makes another unit on the referral its lead (issue 16: the
    lead serves the main need, or is the office's choice), with a reason kept in the
    timeline. The referral then shows that unit, its rule and its deadline; the other live
    tasks become parts of it."""
    reason = reason.strip()
    with transaction.atomic():
        referral = _locked_for_the_office(referral_id, actor, expected_version)
        task = referral.tasks.open().select_related("unit", "routing_rule")
        task = task.filter(public_id=task_public_id).first()
        if task is None:
            raise ReferralError(_("Only a unit still working on the referral can lead it."))
        if task.is_lead:
            raise ReferralError(_("This unit already leads the referral."))
        if not reason:
            raise ReasonRequired(_("Give the reason for your choice."))
        previous = referral.tasks.open().filter(is_lead=True).select_related("unit").first()
        referral.tasks.open().filter(is_lead=True).update(is_lead=False)
        ReferralTask.objects.filter(pk=task.pk).update(is_lead=True, part_of=None)
        referral.tasks.open().exclude(pk=task.pk).update(part_of=task)
        record_change(
            referral,
            actor=actor,
            to_status=referral.status,
            kind=ReferralEvent.Kind.ROUTING,
            reason=reason,
            unit=task.unit,
            changes={
                "assigned_unit": task.unit,
                "routing_rule": task.routing_rule,
                "due_at": task.due_at,
            },
            details={
                "lead": task.unit.code,
                "previous_lead": previous.unit.code if previous else None,
                "reasons": [routing.Reason("lead_chosen", {"unit": _label(task.unit)}).as_json()],
            },
            task=task,
            step=(task.status, task.status),
        )
    return referral


def _label(unit: ServiceUnit) -> dict[str, str]:
    return {"en": unit.name_en, "zh": unit.name_zh}


def _locked_for_the_office(referral_id: int, actor, expected_version) -> Referral:
    """The referral, locked, for a step only the district office (or headquarters) takes:
    refused when the caller's page is stale or the caller is not the office."""
    referral = lock(referral_id)
    if expected_version is not None and referral.version != expected_version:
        raise stale_version(referral.get_status_display())
    if not actor_roles(user=actor, referral=referral) & OFFICE_ACTORS:
        raise NotPermitted(_("You may not do this to this referral."))
    return referral


def referral_escalate(
    *, referral_id: int, actor: User | None, reason: str, expected_version: int | None = None
) -> Referral:
    """Flag an open referral for the district office's attention, with a reason."""
    reason = reason.strip()
    with transaction.atomic():
        referral = _locked_for_the_office(referral_id, actor, expected_version)
        if referral.status not in ESCALATABLE:
            raise IllegalTransition(_("Only an open referral can be escalated."))
        if referral.escalated_at is not None:
            raise IllegalTransition(_("This referral has already been escalated."))
        if not reason:
            raise ReasonRequired(_("Give a reason for this step."))
        escalate(referral, actor=actor, reason=reason)
    return referral


def referral_mark_overdue(*, referral_id: int, now: datetime | None = None) -> Referral:
    """An assignment past its acknowledge-by time: mark it, tell the unit's supervisors and
    the district office, then re-route or escalate as its rule says. Idempotent."""
    now = now or timezone.now()
    with transaction.atomic():
        referral = lock(referral_id)
        # Asked of the row in the database: the one definition of overdue (``overdue_q``).
        if (
            referral.overdue_at is not None
            or not Referral.objects.filter(overdue_q(now), pk=referral.pk).exists()
        ):
            return referral
        rule = referral.routing_rule
        reroute = rule is None or rule.when_overdue == RoutingRule.WhenOverdue.REROUTE
        task = referral.tasks.open().filter(is_lead=True).first()
        if task is not None:
            task.overdue_at = now
            task.save(update_fields=["overdue_at", "updated_at"])
        event = record_change(
            referral,
            actor=None,
            to_status=Status.ASSIGNED,
            kind=ReferralEvent.Kind.OVERDUE,
            changes={"overdue_at": now},
            details={"released": reroute, "due_at": referral.due_at.isoformat()},
            task=task,
        )
        outbox.enqueue(notify_office, event_id=event.pk)
        if reroute:
            apply_decision(referral, routing_decision_for(referral))
        _after_lapse(referral, reroute=reroute)
    return referral


def task_mark_overdue(*, task_id: int, now: datetime | None = None) -> Referral:
    """A unit's task past its acknowledge-by time, where the referral's own mark does not
    reach (``referral_mark_overdue`` reads the referral's status and the lead's deadline): a
    part of a shared referral, or the lead of one another unit has already accepted. Mark
    it, tell the office and the unit's supervisors, then, as its rule says, release it and
    route its needs to their next unit (the office routes them when none is found) or
    escalate; urgent work also goes to the unit on call. Idempotent."""
    now = now or timezone.now()
    referral_id = ReferralTask.objects.values_list("referral_id", flat=True).get(pk=task_id)
    with transaction.atomic():
        referral = lock(referral_id)
        task = referral.tasks.select_related("routing_rule").get(pk=task_id)
        if task.overdue_at is not None or not (
            task.status == Status.ASSIGNED and task.due_at is not None and task.due_at <= now
        ):
            return referral
        rule = task.routing_rule
        reroute = rule is None or rule.when_overdue == RoutingRule.WhenOverdue.REROUTE
        task.overdue_at = now
        task.save(update_fields=["overdue_at", "updated_at"])
        event = record_change(
            referral,
            actor=None,
            to_status=referral.status,
            kind=ReferralEvent.Kind.OVERDUE,
            changes={"overdue_at": now} if task.is_lead else {},
            details={"released": reroute, "due_at": task.due_at.isoformat()},
            task=task,
            step=(task.status, task.status),
        )
        outbox.enqueue(notify_office, event_id=event.pk)
        if reroute:
            _release(referral, task)
        _after_lapse(referral, reroute=reroute)
    return referral


def _release(referral: Referral, task: ReferralTask) -> None:
    """Take the lapsed ``task`` from its unit and route its needs again, alone."""
    needs = {need.code for need in task.needs.all()} or {need.code for need in referral.needs.all()}
    close_task(referral, task, Status.CANCELLED)
    route_needs_again(referral, needs, was_lead=task.is_lead)


def _after_lapse(referral: Referral, *, reroute: bool) -> None:
    """Urgent work past its time goes up to the office at once, day or night, even while
    it is re-routed, and to the unit on call; other work when its rule says so."""
    urgent = referral.risk_level == RiskLevel.URGENT
    if (urgent or not reroute) and referral.escalated_at is None:
        escalate(referral, actor=None, reason="", code="overdue")
    if urgent:
        call_on_call_unit(referral)


def call_on_call_unit(referral: Referral) -> ReferralEvent | None:
    """Give the locked, urgent referral to the unit on call (``ON_CALL_UNIT_TYPES``: the
    carers' hotline by default) serving its district, as a part of its lead (as its lead
    when none is live: urgent work does not wait in triage overnight), on the 24-hour
    clock; nothing when there is no such unit or it holds a task on the referral already."""
    unit = (
        units_taking_referrals()
        .serving_district(referral.district_id)
        .filter(unit_type__code__in=settings.ON_CALL_UNIT_TYPES)
        .select_related("unit_type")
        .order_by("code")
        .first()
    )
    if unit is None or referral.tasks.open().filter(unit=unit).exists():
        return None
    facts = routing.UnitFacts(
        id=unit.pk,
        code=unit.code,
        name_en=unit.name_en,
        name_zh=unit.name_zh,
        unit_type=unit.unit_type.code,
        district_id=unit.district_id,
    )
    decision = routing.Decision(
        rule=None,
        chosen=routing.Candidate(unit=facts, coverage="district"),
        runners_up=(),
        reasons=(routing.Reason("on_call", {"unit": facts.label()}),),
    )
    lead = referral.tasks.open().filter(is_lead=True).first()
    needs = {need.code for need in referral.needs.all()}
    if lead is None:
        return apply_decision(referral, decision, unit=unit)
    return add_part(referral, decision, needs=needs, lead=lead)


def move_deadlines_for_closures(*, since: datetime) -> int:
    """Count again the deadline of every task still waiting for its unit on a business-time
    clock and due after ``since``, with the office closures as recorded now: a closure
    recorded (or changed, or removed) from ``since`` on moves the deadlines it pauses, not
    only those of assignments made after it. Urgent work on the clock is not touched. The
    same count as at assignment (``services.due_at`` from the task's start); returns how
    many deadlines moved."""
    waiting = list(
        ReferralTask.objects.filter(status=Status.ASSIGNED, overdue_at=None, due_at__gt=since)
        .select_related("routing_rule", "referral")
        .order_by("created_at")
    )
    waiting = [t for t in waiting if not runs_around_the_clock(t.referral.risk_level)]
    if not waiting:
        return 0
    closures = office_closures_from(waiting[0].created_at)
    moved = []
    for task in waiting:
        due = due_at(task.routing_rule, task.created_at, task.referral.risk_level, closures)
        if due != task.due_at:
            task.due_at = due
            moved.append(task)
    with transaction.atomic():
        ReferralTask.objects.bulk_update(moved, ["due_at"], batch_size=500)
        # The referral shows its lead's deadline.
        leads = [Referral(pk=t.referral_id, due_at=t.due_at) for t in moved if t.is_lead]
        Referral.objects.bulk_update(leads, ["due_at"], batch_size=500)
    return len(moved)
