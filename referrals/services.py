"""Every write that matters in a referral's life, one function per step.

The lifecycle follows the FHIR Task statuses of the SDOH referral guide:

    draft → submitted → triage | assigned → accepted | rejected → in_progress ⇄ on_hold
          → completed | failed;   cancelled and entered_in_error from the states in TRANSITIONS.

Each transition locks the referral row (``SELECT … FOR UPDATE``), checks the actor may make
it, checks the optimistic ``version`` the caller saw, writes a ``ReferralEvent`` and raises
a translated ``ReferralError`` when it must refuse. Callers pass ``actor=None`` for the system
(routing, sweeps).
"""

import hashlib
import hmac
import json
import logging
import smtplib
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, User
from districts.models import WelfareOffice
from referrals import routing, sla
from referrals.identity import ProtectedIdentity
from referrals.models import (
    CLOSED_STATUSES,
    AccessLog,
    ConsentBasis,
    Delivery,
    Notification,
    ReferenceSequence,
    Referral,
    ReferralEvent,
    RoutingRule,
    Status,
    WebhookEndpoint,
    risk_level_of,
)
from referrals.selectors import possible_duplicates_of, routing_decision_for
from services.models import NeedCategory, ServiceUnit

logger = logging.getLogger(__name__)


def enqueue(task_name: str, *args) -> None:
    """Queue ``referrals.tasks.<task_name>(*args)`` once the current transaction commits.

    If the broker cannot be reached the work is not lost: what was committed is found by
    the sweeps (``sweep_unrouted``, ``sweep_deliveries``) when it is back. The person who
    made the change never sees the broker's error.
    """

    def send() -> None:
        from referrals import tasks

        try:
            getattr(tasks, task_name).delay(*args)
        except Exception:
            logger.warning(
                "Could not queue %s%r now; a sweep will pick it up.", task_name, args, exc_info=True
            )

    transaction.on_commit(send)


class ReferralError(Exception):
    """A refused change; ``message`` is translated and safe to show to the user."""

    def __init__(self, message: Promise | str):
        super().__init__(str(message))
        self.message = message


class IllegalTransition(ReferralError):
    pass


class NotPermitted(ReferralError):
    pass


class ReasonRequired(ReferralError):
    pass


class Conflict(ReferralError):
    pass


class Actor(StrEnum):
    SYSTEM = "system"
    REFERRER = "referrer"
    UNIT = "unit"
    OFFICE = "office"
    ADMIN = "admin"


@dataclass(frozen=True)
class Transition:
    action: str
    label: Promise
    sources: tuple[str, ...]
    target: str
    actors: frozenset[Actor]
    reason_required: bool = False


_OPEN_AFTER_SUBMIT = (
    Status.SUBMITTED,
    Status.TRIAGE,
    Status.ASSIGNED,
    Status.ACCEPTED,
    Status.REJECTED,
    Status.IN_PROGRESS,
    Status.ON_HOLD,
)
_UNIT, _OFFICE = frozenset({Actor.UNIT}), frozenset({Actor.SYSTEM, Actor.OFFICE, Actor.ADMIN})

TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in [
        Transition(
            "submit",
            _("Submit"),
            (Status.DRAFT,),
            Status.SUBMITTED,
            frozenset({Actor.REFERRER}),
        ),
        Transition(
            "send_to_triage",
            _("Send to the district office's triage queue"),
            (Status.SUBMITTED, Status.REJECTED, Status.ASSIGNED),
            Status.TRIAGE,
            _OFFICE,
        ),
        Transition(
            "assign",
            _("Assign to a unit"),
            (Status.SUBMITTED, Status.TRIAGE, Status.REJECTED, Status.ASSIGNED),
            Status.ASSIGNED,
            _OFFICE,
        ),
        Transition("accept", _("Accept"), (Status.ASSIGNED,), Status.ACCEPTED, _UNIT),
        Transition(
            "reject", _("Decline"), (Status.ASSIGNED,), Status.REJECTED, _UNIT, reason_required=True
        ),
        Transition("start", _("Start work"), (Status.ACCEPTED,), Status.IN_PROGRESS, _UNIT),
        Transition("hold", _("Put on hold"), (Status.IN_PROGRESS,), Status.ON_HOLD, _UNIT, True),
        Transition("resume", _("Resume"), (Status.ON_HOLD,), Status.IN_PROGRESS, _UNIT),
        Transition("complete", _("Complete"), (Status.IN_PROGRESS,), Status.COMPLETED, _UNIT),
        Transition(
            "fail",
            _("Close as failed"),
            (Status.ACCEPTED, Status.IN_PROGRESS, Status.ON_HOLD),
            Status.FAILED,
            _UNIT,
            reason_required=True,
        ),
        Transition(
            "cancel",
            _("Withdraw"),
            _OPEN_AFTER_SUBMIT,
            Status.CANCELLED,
            # The system withdraws a person's other referrals when they withdraw consent.
            frozenset({Actor.REFERRER, Actor.OFFICE, Actor.ADMIN, Actor.SYSTEM}),
            reason_required=True,
        ),
        Transition(
            "mark_entered_in_error",
            _("Mark as entered in error"),
            (*_OPEN_AFTER_SUBMIT, Status.COMPLETED, Status.FAILED, Status.CANCELLED),
            Status.ENTERED_IN_ERROR,
            frozenset({Actor.OFFICE, Actor.ADMIN}),
            reason_required=True,
        ),
    ]
}


def actor_roles(*, user: User | None, referral: Referral, partner=None) -> set[Actor]:
    """The capacities in which ``user`` acts on ``referral`` (one query for memberships).

    A partner system (``accounts.PartnerClient``, no user) acts as the assigned unit when
    that unit belongs to its organisation, and as nothing else.
    """
    if partner is not None:
        unit_is_theirs = ServiceUnit.objects.filter(
            pk=referral.assigned_unit_id, organisation_id=partner.organisation_id
        ).exists()
        return {Actor.UNIT} if unit_is_theirs else set()
    if user is None:
        return {Actor.SYSTEM}
    if not user.is_active:
        return set()
    roles: set[Actor] = set()
    if user.is_administrator:
        roles.add(Actor.ADMIN)
    if referral.referrer_id == user.pk:
        roles.add(Actor.REFERRER)
    office_id = referral.district.welfare_office_id
    for role, unit_id, membership_office_id in Membership.objects.filter(user=user).values_list(
        "role", "service_unit_id", "welfare_office_id"
    ):
        if role in Membership.STAFF_ROLES and unit_id and unit_id == referral.assigned_unit_id:
            roles.add(Actor.UNIT)
        elif role == Membership.Role.DISTRICT_OFFICER and membership_office_id == office_id:
            roles.add(Actor.OFFICE)
    return roles


def available_transitions(*, roles: set[Actor], referral: Referral) -> list[Transition]:
    """What the page may offer: transitions from the current status that these roles may make."""
    return [
        t
        for t in TRANSITIONS.values()
        if t.action != "submit"
        and t.action != "assign"
        and referral.status in t.sources
        and roles & t.actors
    ]


# --- Drafts and submission ------------------------------------------------------------------

UNCHANGED = object()


def _draft_for_token(*, referrer: User, team: ServiceUnit, token, district) -> Referral:
    """The referral this form's token names, locked; created as a draft the first time."""
    try:
        return Referral.objects.select_for_update().get(submission_token=token)
    except Referral.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            Referral.objects.create(
                submission_token=token, referrer=referrer, referring_team=team, district=district
            )
    except IntegrityError:
        pass  # the same form posted twice at once: the other request created it
    return Referral.objects.select_for_update().get(submission_token=token)


def _apply(
    referral: Referral,
    *,
    values: dict,
    identity: ProtectedIdentity | None | object,
) -> None:
    for name, value in values.items():
        setattr(referral, name, value)
    if identity is not UNCHANGED:
        referral.id_type = identity.id_type if identity else ""
        referral.id_number_encrypted = identity.ciphertext if identity else ""
        referral.id_number_hash = identity.digest if identity else ""
        referral.id_number_masked = identity.masked if identity else ""
    referral.risk_level = risk_level_of(referral.risk_factors)


def referral_save_draft(
    *,
    referrer: User,
    team: ServiceUnit,
    token,
    values: dict,
    needs: Iterable[NeedCategory],
    identity: ProtectedIdentity | None | object = UNCHANGED,
) -> Referral:
    """Create or update the draft this form's token names. A submitted one is left alone."""
    with transaction.atomic():
        referral = _draft_for_token(
            referrer=referrer, team=team, token=token, district=values["district"]
        )
        _check_owner(referral, referrer)
        if referral.status != Status.DRAFT:
            return referral
        _apply(referral, values=values, identity=identity)
        referral.referring_team = team
        referral.version = F("version") + 1
        referral.save()
        referral.refresh_from_db(fields=["version"])
        referral.needs.set(needs)
    return referral


def referral_submit(
    *,
    referrer: User,
    team: ServiceUnit,
    token,
    values: dict,
    needs: Iterable[NeedCategory],
    identity: ProtectedIdentity | None | object = UNCHANGED,
    duplicate_note: str = "",
) -> tuple[Referral, bool]:
    """Submit the form's referral once. Returns (referral, created_now).

    A second call with the same token (double click, resent POST) returns the referral the
    first call submitted, unchanged, with ``created_now`` False. Open referrals for the same
    person (``possible_duplicates_of``) are linked whichever path submits, so the district
    office always sees them; warning the referrer first is the caller's part.
    """
    with transaction.atomic():
        referral = _draft_for_token(
            referrer=referrer, team=team, token=token, district=values["district"]
        )
        _check_owner(referral, referrer)
        if referral.status != Status.DRAFT:
            return referral, False
        _apply(referral, values=values, identity=identity)
        referral.referring_team = team
        referral.duplicate_note = duplicate_note
        _check_consent(referral)
        now = timezone.now()
        referral.reference = _next_reference(referral.district.welfare_office, now)
        referral.status = Status.SUBMITTED
        referral.submitted_at = now
        referral.version = F("version") + 1
        referral.save()
        referral.refresh_from_db(fields=["version"])
        referral.needs.set(needs)
        referral.possible_duplicates.set(possible_duplicates_of(referral))
        ReferralEvent.objects.create(
            referral=referral,
            actor=referrer,
            from_status=Status.DRAFT,
            to_status=Status.SUBMITTED,
            note=duplicate_note,
        )
        enqueue("route_referral", referral.pk)
    return referral, True


def _check_owner(referral: Referral, referrer: User) -> None:
    if referral.referrer_id != referrer.pk:
        raise NotPermitted(_("This form belongs to another user's referral."))


def _check_consent(referral: Referral) -> None:
    if referral.consent_basis == ConsentBasis.CONSENT:
        missing = not (
            referral.consent_given_by and referral.consent_method and referral.consent_given_at
        )
        if missing:
            raise ValidationError(
                _("Record who gave consent, how and when."), code="consent_incomplete"
            )
    elif referral.consent_basis == ConsentBasis.URGENT_PROTECTION:
        if not referral.consent_exemption_reason.strip():
            raise ValidationError(
                _("Give the reason for acting without consent."), code="exemption_reason"
            )
    else:
        raise ValidationError(
            _("A referral needs the person's consent, or the urgent-protection exemption."),
            code="consent_missing",
        )


def _next_reference(office, now) -> str:
    """``SSP-2026-000123``: office code, Hong Kong year, a per-office-and-year sequence."""
    year = timezone.localtime(now).year
    sequence, _created = ReferenceSequence.objects.select_for_update().get_or_create(
        office=office, year=year
    )
    sequence.last_value += 1
    sequence.save(update_fields=["last_value"])
    return f"{office.code.upper()}-{year}-{sequence.last_value:06d}"


# --- Transitions after submission ---------------------------------------------------------


def _lock(referral_id: int) -> Referral:
    return (
        Referral.objects.select_for_update(of=("self",))
        .select_related("district", "sub_district")
        .get(pk=referral_id)
    )


def _check(
    referral: Referral,
    *,
    actor: User | None,
    transition: Transition,
    expected_version: int | None,
    reason: str = "",
    partner=None,
) -> None:
    if expected_version is not None and referral.version != expected_version:
        raise Conflict(
            _(
                "Someone else changed this referral while you were looking at it; it is "
                "now “%(status)s”. Nothing was changed: check the page and try again."
            )
            % {"status": referral.get_status_display()}
        )
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


HOLDING_STATUSES = (Status.ASSIGNED, Status.ACCEPTED, Status.IN_PROGRESS, Status.ON_HOLD)


def _holder(referral: Referral) -> int | None:
    """The unit whose load this referral counts in."""
    return referral.assigned_unit_id if referral.status in HOLDING_STATUSES else None


def _move_load(old_unit_id: int | None, new_unit_id: int | None) -> None:
    if old_unit_id == new_unit_id:
        return
    if old_unit_id:
        ServiceUnit.objects.filter(pk=old_unit_id, current_load__gt=0).update(
            current_load=F("current_load") - 1
        )
    if new_unit_id:
        ServiceUnit.objects.filter(pk=new_unit_id).update(current_load=F("current_load") + 1)


# Steps the referrer hears about (closing the loop), unless they took the step themselves.
REFERRER_TOLD = (
    Status.ASSIGNED,
    Status.ACCEPTED,
    Status.COMPLETED,
    Status.FAILED,
    Status.CANCELLED,
    Status.ENTERED_IN_ERROR,
)


def _record(
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
        enqueue("notify_referrer", event.pk)
    if event.unit_id and to_status != from_status and kind != ReferralEvent.Kind.ROUTING:
        enqueue("notify_partner", event.pk)  # referral.updated / referral.cancelled
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
        referral = _lock(referral_id)
        _check(
            referral,
            actor=actor,
            transition=transition,
            expected_version=expected_version,
            reason=reason,
            partner=partner,
        )
        if action == "complete" and not outcome:
            raise ReasonRequired(_("Summarise the outcome for the referrer."))
        changes: dict = {"outcome_summary": outcome} if outcome else {}
        if action in ("complete", "fail") and services_provided.strip():
            changes["services_provided"] = services_provided.strip()
        if action == "send_to_triage":
            changes.update(assigned_unit=None, due_at=None)
        event = _record(
            referral,
            actor=actor,
            to_status=transition.target,
            reason=reason,
            note=note,
            changes=changes,
            details={"via": f"api client {partner.application.client_id}"} if partner else None,
        )
        if action == "reject":
            enqueue("route_referral", referral.pk)  # to the next unit, or to triage
        elif action == "send_to_triage":
            enqueue("notify_office", event.pk)
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


# --- Audit -------------------------------------------------------------------------------


def log_personal_data_access(
    *, user: User, referral: Referral, channel: str, detail: str = ""
) -> AccessLog:
    return AccessLog.objects.create(
        user=user, referral=referral, channel=channel, detail=detail[:200]
    )


def log_personal_data_access_many(
    *, user: User, referrals: Iterable[Referral], channel: str, detail: str = ""
) -> None:
    """One row per referral shown (a list page, an API page), in one INSERT."""
    AccessLog.objects.bulk_create(
        AccessLog(user=user, referral=referral, channel=channel, detail=detail[:200])
        for referral in referrals
    )


# --- Routing ---------------------------------------------------------------------------


def _due_at(rule: RoutingRule | None, start: datetime) -> datetime:
    if rule is None:
        return sla.add_business_time(
            start, settings.DEFAULT_SLA_BUSINESS_DAYS, sla.SlaUnit.BUSINESS_DAYS
        )
    return sla.add_business_time(start, rule.sla_amount, rule.sla_unit)


def _apply_decision(
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
        event = _record(
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
                "due_at": _due_at(rule, now),
                "overdue_at": None,
            },
            details=details,
        )
        enqueue("notify_assignment", event.pk)
    else:
        event = _record(
            referral,
            actor=actor,
            to_status=Status.TRIAGE,
            kind=ReferralEvent.Kind.ROUTING,
            reason=reason,
            note=note,
            changes={"assigned_unit": None, "routing_rule": None, "due_at": None},
            details=details,
        )
        enqueue("notify_office", event.pk)
    if decision.escalate and referral.escalated_at is None:
        _escalate(referral, actor=None, reason="", code="escalate_at_once")
    return event


def referral_route(*, referral_id: int) -> Referral:
    """Route a submitted (or just declined) referral; a no-op for any other status, so the
    task may run any number of times."""
    with transaction.atomic():
        referral = _lock(referral_id)
        if referral.status not in (Status.SUBMITTED, Status.REJECTED):
            return referral
        _apply_decision(referral, routing_decision_for(referral))
    return referral


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
    reason (an override, kept in the timeline)."""
    reason = reason.strip()
    with transaction.atomic():
        referral = _lock(referral_id)
        _check(
            referral,
            actor=actor,
            transition=TRANSITIONS["assign"],
            expected_version=expected_version,
        )
        unit = ServiceUnit.objects.get(pk=unit.pk)  # fresh: is it still taking referrals?
        if not unit.is_active:
            raise ReferralError(
                _("%(unit)s is not taking referrals; choose another unit.") % {"unit": unit.name}
            )
        if referral.status == Status.ASSIGNED and referral.assigned_unit_id == unit.pk:
            raise ReferralError(_("The referral is already assigned to this unit."))
        decision = routing_decision_for(referral)
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
        _apply_decision(
            referral,
            routing.Decision(
                rule=decision.rule if unit.pk == suggested else None,
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


ESCALATABLE = (*_OPEN_AFTER_SUBMIT,)


def _escalate(referral: Referral, *, actor: User | None, reason: str, code: str = "") -> None:
    event = _record(
        referral,
        actor=actor,
        to_status=referral.status,
        kind=ReferralEvent.Kind.ESCALATION,
        reason=reason,
        changes={"escalated_at": timezone.now()},
        details={"reasons": [routing.Reason(code).as_json()]} if code else {},
    )
    enqueue("notify_office", event.pk)


def referral_escalate(
    *, referral_id: int, actor: User | None, reason: str, expected_version: int | None = None
) -> Referral:
    """Flag an open referral for the district office's attention, with a reason."""
    reason = reason.strip()
    with transaction.atomic():
        referral = _lock(referral_id)
        if expected_version is not None and referral.version != expected_version:
            raise Conflict(
                _("Someone else changed this referral meanwhile. Nothing was changed: try again.")
            )
        if not actor_roles(user=actor, referral=referral) & _OFFICE:
            raise NotPermitted(_("You may not do this to this referral."))
        if referral.status not in ESCALATABLE:
            raise IllegalTransition(_("Only an open referral can be escalated."))
        if referral.escalated_at is not None:
            raise IllegalTransition(_("This referral has already been escalated."))
        if not reason:
            raise ReasonRequired(_("Give a reason for this step."))
        _escalate(referral, actor=actor, reason=reason)
    return referral


def referral_mark_overdue(*, referral_id: int, now: datetime | None = None) -> Referral:
    """An assignment past its acknowledge-by time: mark it, tell the unit's supervisors and
    the district office, then re-route or escalate as its rule says. Idempotent."""
    now = now or timezone.now()
    with transaction.atomic():
        referral = _lock(referral_id)
        if (
            referral.status != Status.ASSIGNED
            or referral.due_at is None
            or referral.due_at > now
            or referral.overdue_at is not None
        ):
            return referral
        rule = referral.routing_rule
        reroute = rule is None or rule.when_overdue == RoutingRule.WhenOverdue.REROUTE
        event = _record(
            referral,
            actor=None,
            to_status=Status.ASSIGNED,
            kind=ReferralEvent.Kind.OVERDUE,
            changes={"overdue_at": now},
            details={"released": reroute, "due_at": referral.due_at.isoformat()},
        )
        enqueue("notify_office", event.pk)
        if reroute:
            _apply_decision(referral, routing_decision_for(referral))
        elif referral.escalated_at is None:
            _escalate(referral, actor=None, reason="", code="overdue")
    return referral


def referrals_to_reroute(*, older_than_seconds: int) -> list[int]:
    """Submitted (or declined) referrals nobody has routed for a while."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        Referral.objects.filter(
            Q(status=Status.SUBMITTED, submitted_at__lt=cutoff)
            | Q(status=Status.REJECTED, updated_at__lt=cutoff)
        ).values_list("pk", flat=True)[:1000]
    )


def referrals_past_due(*, now: datetime | None = None) -> list[int]:
    now = now or timezone.now()
    return list(
        Referral.objects.filter(
            status=Status.ASSIGNED, due_at__lte=now, overdue_at__isnull=True
        ).values_list("pk", flat=True)[:1000]
    )


# --- Notifications ---------------------------------------------------------------------


def _unit_staff(unit_id: int, roles=Membership.STAFF_ROLES):
    return User.objects.filter(
        is_active=True, memberships__service_unit_id=unit_id, memberships__role__in=roles
    ).distinct()


def _office_officers(office_id: int):
    return User.objects.filter(
        is_active=True,
        memberships__welfare_office_id=office_id,
        memberships__role=Membership.Role.DISTRICT_OFFICER,
    ).distinct()


def notify_assignment(*, event_id: int) -> list[Notification]:
    """Tell the assigned unit's staff about a routing event, and call the webhooks the
    unit's organisation registered. Safe to repeat."""
    event = ReferralEvent.objects.select_related("referral", "unit").get(pk=event_id)
    if event.to_status != Status.ASSIGNED or event.unit_id is None:
        return []
    notifications = _notify(event, _unit_staff(event.unit_id), Notification.Kind.ASSIGNED)
    _call_webhooks(event, WebhookEndpoint.Event.ASSIGNED)
    return notifications


def notify_partner(*, event_id: int) -> list[Delivery]:
    """Tell the unit's organisation (its webhooks) that a referral it holds or held changed
    status: ``referral.cancelled`` when withdrawn or entered in error, else
    ``referral.updated``. Safe to repeat (one delivery per endpoint and event)."""
    event = ReferralEvent.objects.select_related("referral", "unit").get(pk=event_id)
    closed_by_others = (Status.CANCELLED, Status.ENTERED_IN_ERROR)
    event_type = (
        WebhookEndpoint.Event.CANCELLED
        if event.to_status in closed_by_others
        else WebhookEndpoint.Event.UPDATED
    )
    return _call_webhooks(event, event_type)


def webhook_payload(event: ReferralEvent, event_type: str) -> dict:
    """What a partner is told: which referral, for which unit, and when to answer. No
    personal data; the partner reads the referral itself through the API."""
    referral = event.referral
    return {
        "id": f"evt_{event.pk}",
        "type": event_type,
        "created": event.at.isoformat(),
        "data": {
            "reference": referral.reference,
            "public_id": str(referral.public_id),
            "status": event.to_status,
            "unit": event.unit.code if event.unit else None,
            "risk_level": referral.risk_level,
            "due_at": referral.due_at.isoformat() if referral.due_at else None,
        },
    }


def _call_webhooks(event: ReferralEvent, event_type: str) -> list[Delivery]:
    if event.unit is None:
        return []
    deliveries = []
    with transaction.atomic():
        for endpoint in WebhookEndpoint.objects.filter(
            organisation_id=event.unit.organisation_id, is_active=True
        ):
            if not endpoint.wants(event_type):
                continue
            delivery, _created = Delivery.objects.get_or_create(
                key=f"webhook:{endpoint.pk}:{event.pk}:{event_type}",
                defaults={
                    "channel": Delivery.Channel.WEBHOOK,
                    "endpoint": endpoint,
                    "to": endpoint.url,
                    "subject": event_type,
                    "body": json.dumps(webhook_payload(event, event_type), sort_keys=True),
                },
            )
            if delivery.state == Delivery.State.PENDING:
                enqueue("deliver", delivery.pk)
            deliveries.append(delivery)
    return deliveries


def webhook_signature(secret: str, timestamp: str, body: str) -> str:
    """``v1=`` HMAC-SHA256 of ``timestamp.body`` with the endpoint's secret, hex."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class WebhookRefused(Exception):
    """The partner's endpoint answered with something other than 2xx."""


def _post_webhook(delivery: Delivery) -> int:
    timestamp = str(int(timezone.now().timestamp()))
    request = urllib.request.Request(  # noqa: S310 - the URL is an https/http URLField
        delivery.to,
        data=delivery.body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "WelfarePortal-Webhook/1",
            "X-Welfare-Event": delivery.subject,
            "X-Welfare-Delivery": delivery.key,
            "X-Welfare-Signature": webhook_signature(
                delivery.endpoint.secret, timestamp, delivery.body
            ),
        },
    )
    try:
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=settings.WEBHOOK_TIMEOUT
        ) as response:
            return response.status
    except urllib.error.HTTPError as error:
        delivery.status_code = error.code
        raise WebhookRefused(f"HTTP {error.code}") from error


def notify_office(*, event_id: int) -> list[Notification]:
    """Tell the district office (and, for an overdue assignment, the unit's supervisors)."""
    event = ReferralEvent.objects.select_related("referral__district").get(pk=event_id)
    recipients = list(_office_officers(event.referral.district.welfare_office_id))
    if event.kind == ReferralEvent.Kind.OVERDUE:
        kind = Notification.Kind.OVERDUE
        if event.unit_id:
            supervisors = _unit_staff(event.unit_id, roles=[Membership.Role.UNIT_SUPERVISOR])
            recipients += [user for user in supervisors if user not in recipients]
    elif event.kind == ReferralEvent.Kind.ESCALATION:
        kind = Notification.Kind.ESCALATED
    elif event.to_status == Status.TRIAGE:
        kind = Notification.Kind.TRIAGE
    else:
        return []
    return _notify(event, recipients, kind)


def notify_referrer(*, event_id: int) -> list[Notification]:
    """Tell the referrer their referral moved on (assigned, accepted, closed)."""
    event = ReferralEvent.objects.select_related("referral__referrer").get(pk=event_id)
    referrer = event.referral.referrer
    if not referrer.is_active or event.actor_id == referrer.pk:
        return []
    return _notify(event, [referrer], Notification.Kind.STATUS)


def _notify(event: ReferralEvent, recipients, kind: str) -> list[Notification]:
    notifications = []
    with transaction.atomic():
        for user in recipients:
            notification, _created = Notification.objects.get_or_create(
                recipient=user, event=event, kind=kind, defaults={"referral": event.referral}
            )
            notifications.append(notification)
            if not user.email:
                continue
            delivery, _created = Delivery.objects.get_or_create(
                key=f"notification:{notification.pk}:email",
                defaults={"notification": notification, "to": user.email}
                | _render_email(notification, user),
            )
            if delivery.state == Delivery.State.PENDING:
                enqueue("deliver", delivery.pk)
    return notifications


def _language_of(user: User) -> str:
    return user.preferred_language or settings.LANGUAGE_CODE


def _render_email(notification: Notification, user: User) -> dict:
    """Subject and body in the recipient's language. No personal data: the reference, the
    risk level and a link to the page, which checks who may see what."""
    referral = notification.referral
    with translation.override(_language_of(user)):
        context = {
            "notification": notification,
            "kind": notification.get_kind_display(),
            "referral": referral,
            "unit": notification.event.unit,
            "link": settings.SITE_URL.rstrip("/")
            + reverse("referrals:detail", kwargs={"public_id": referral.public_id}),
            "user": user,
        }
        subject = render_to_string("referrals/email/notification_subject.txt", context)
        body = render_to_string("referrals/email/notification_body.txt", context)
    return {"subject": " ".join(subject.split())[:200], "body": body}


def notification_mark_read(*, user: User, notification_id: int | None = None) -> int:
    """Mark one of the user's notifications (or all of them) read; returns how many."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_id is not None:
        unread = unread.filter(pk=notification_id)
    return unread.update(read_at=timezone.now())


def delivery_send(*, delivery_id: int) -> Delivery:
    """Send one pending delivery. On an SMTP, HTTP or network error the attempt is counted
    and the delivery stays pending (the task retries it) until it runs out of attempts."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .get(pk=delivery_id)
        )
        if delivery.state != Delivery.State.PENDING:
            return delivery
        delivery.attempts += 1
        try:
            if delivery.channel == Delivery.Channel.WEBHOOK:
                delivery.status_code = _post_webhook(delivery)
            else:
                EmailMessage(delivery.subject, delivery.body, to=[delivery.to]).send()
        except (smtplib.SMTPException, OSError, WebhookRefused) as error:
            delivery.last_error = f"{type(error).__name__}: {error}"[:300]
            if delivery.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
                delivery.state = Delivery.State.FAILED
                logger.error("Gave up on delivery %s: %s", delivery.pk, delivery.last_error)
        else:
            delivery.state = Delivery.State.SENT
            delivery.sent_at = timezone.now()
            delivery.last_error = ""
        delivery.save()
    return delivery


def deliveries_waiting(*, now: datetime | None = None) -> list[int]:
    """Pending deliveries nobody is retrying: never tried five minutes after they were
    made (the broker was down), or not tried for longer than the longest back-off (ten
    minutes, ``referrals.tasks.retry_countdown``)."""
    now = now or timezone.now()
    return list(
        Delivery.objects.filter(state=Delivery.State.PENDING)
        .filter(
            Q(attempts=0, created_at__lt=now - timedelta(minutes=5))
            | Q(updated_at__lt=now - timedelta(minutes=15))
        )
        .values_list("pk", flat=True)[:1000]
    )


def deliveries_send_again(*, deliveries) -> int:
    """Give failed (or stuck) deliveries a fresh set of attempts; sent ones are left alone."""
    ids = list(deliveries.exclude(state=Delivery.State.SENT).values_list("pk", flat=True))
    with transaction.atomic():
        Delivery.objects.filter(pk__in=ids).update(
            state=Delivery.State.PENDING, attempts=0, updated_at=timezone.now()
        )
        for delivery_id in ids:
            enqueue("deliver", delivery_id)
    return len(ids)


def office_digest_counts(office: WelfareOffice, *, now: datetime) -> dict[str, int]:
    open_in_office = Referral.objects.filter(
        district__welfare_office=office, status__in=_OPEN_AFTER_SUBMIT
    )
    return open_in_office.aggregate(
        triage=Count("pk", filter=Q(status=Status.TRIAGE)),
        overdue=Count("pk", filter=Q(status=Status.ASSIGNED, overdue_at__isnull=False)),
        escalated=Count("pk", filter=Q(escalated_at__isnull=False)),
        received=Count("pk", filter=Q(submitted_at__gte=now - timedelta(days=1))),
    )


def send_office_digests(*, now: datetime | None = None) -> list[Delivery]:
    """Once a day, each district officer with an e-mail gets their office's figures:
    waiting for triage, overdue, escalated and received in the last day. One per day."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    deliveries = []
    for office in WelfareOffice.objects.filter(
        memberships__role=Membership.Role.DISTRICT_OFFICER
    ).distinct():
        counts = office_digest_counts(office, now=now)
        for user in _office_officers(office.pk).exclude(email=""):
            with translation.override(_language_of(user)):
                context = {
                    "office": office,
                    "counts": counts,
                    "date": today,
                    "user": user,
                    "link": settings.SITE_URL.rstrip("/") + reverse("referrals:list"),
                }
                subject = render_to_string("referrals/email/digest_subject.txt", context)
                body = render_to_string("referrals/email/digest_body.txt", context)
            delivery, created = Delivery.objects.get_or_create(
                key=f"digest:{office.code}:{today.isoformat()}:{user.pk}",
                defaults={"to": user.email, "subject": " ".join(subject.split()), "body": body},
            )
            if created:
                enqueue("deliver", delivery.pk)
            deliveries.append(delivery)
    return deliveries
