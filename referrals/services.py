"""Every write that matters in a referral's life, one function per step.

The lifecycle follows the FHIR Task statuses of the SDOH referral guide:

    draft → submitted → triage | assigned → accepted | rejected → in_progress ⇄ on_hold
          → completed | failed;   cancelled and entered_in_error from the states in TRANSITIONS.

Each transition locks the referral row (``SELECT … FOR UPDATE``), checks the actor may make
it, checks the optimistic ``version`` the caller saw, writes a ``ReferralEvent`` and raises
a translated ``ReferralError`` when it must refuse. Callers pass ``actor=None`` for the system
(routing, sweeps).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, User
from referrals.identity import ProtectedIdentity
from referrals.models import (
    AccessLog,
    ConsentBasis,
    ReferenceSequence,
    Referral,
    ReferralEvent,
    Status,
    risk_level_of,
)
from referrals.selectors import possible_duplicates_of
from services.models import NeedCategory, ServiceUnit


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
            (Status.SUBMITTED, Status.REJECTED),
            Status.TRIAGE,
            _OFFICE,
        ),
        Transition(
            "assign",
            _("Assign to a unit"),
            (Status.SUBMITTED, Status.TRIAGE, Status.REJECTED),
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
            frozenset({Actor.REFERRER, Actor.OFFICE, Actor.ADMIN}),
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


def actor_roles(*, user: User | None, referral: Referral) -> set[Actor]:
    """The capacities in which ``user`` acts on ``referral`` (one query for memberships)."""
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


def _transition(
    *,
    referral_id: int,
    actor: User | None,
    action: str,
    reason: str = "",
    note: str = "",
    expected_version: int | None = None,
    unit: ServiceUnit | None = None,
    outcome: str = "",
) -> Referral:
    transition = TRANSITIONS[action]
    reason, note, outcome = reason.strip(), note.strip(), outcome.strip()
    with transaction.atomic():
        referral = (
            Referral.objects.select_for_update(of=("self",))
            .select_related("district")
            .get(pk=referral_id)
        )
        if expected_version is not None and referral.version != expected_version:
            raise Conflict(
                _(
                    "Someone else changed this referral while you were looking at it; it is "
                    "now “%(status)s”. Nothing was changed: check the page and try again."
                )
                % {"status": referral.get_status_display()}
            )
        if not actor_roles(user=actor, referral=referral) & transition.actors:
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
        if action == "assign" and unit is None:
            raise ReferralError(_("Choose the unit to assign the referral to."))
        if action == "complete" and not outcome:
            raise ReasonRequired(_("Summarise the outcome for the referrer."))

        from_status = referral.status
        referral.status = transition.target
        if action == "assign":
            referral.assigned_unit = unit
        elif action == "send_to_triage":
            referral.assigned_unit = None
        if outcome:
            referral.outcome_summary = outcome
        referral.version = F("version") + 1
        referral.save()
        referral.refresh_from_db(fields=["version"])
        ReferralEvent.objects.create(
            referral=referral,
            actor=actor,
            from_status=from_status,
            to_status=transition.target,
            reason=reason,
            note=note,
            unit=unit if action == "assign" else referral.assigned_unit,
        )
    return referral


def referral_send_to_triage(*, referral_id: int, actor: User | None, **kwargs) -> Referral:
    return _transition(referral_id=referral_id, actor=actor, action="send_to_triage", **kwargs)


def referral_assign(
    *, referral_id: int, actor: User | None, unit: ServiceUnit, **kwargs
) -> Referral:
    return _transition(referral_id=referral_id, actor=actor, action="assign", unit=unit, **kwargs)


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
