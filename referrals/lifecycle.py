"""A referral's life as data: who acts, the transition table, what each actor may do.

The statuses follow the FHIR Task statuses of the SDOH referral guide (their groups,
``OPEN_STATUSES``, ``SERVING_STATUSES``, ``CLOSED_STATUSES``, sit beside the ``Status``
choices in ``referrals/models/choices.py``, where the tables' constraints need them):

    draft → submitted → triage | assigned → accepted | rejected → in_progress ⇄ on_hold
          → completed | failed;   cancelled and entered_in_error from the states in TRANSITIONS.

``referrals/services.py`` carries the transitions out; this module only decides.
"""

from dataclasses import dataclass
from enum import StrEnum

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, User
from referrals.models import OPEN_STATUSES, Referral, Status
from services.models import ServiceUnit


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


UNIT_ACTORS = frozenset({Actor.UNIT})
OFFICE_ACTORS = frozenset({Actor.SYSTEM, Actor.OFFICE, Actor.ADMIN})

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
            OFFICE_ACTORS,
        ),
        Transition(
            "assign",
            _("Assign to a unit"),
            (Status.SUBMITTED, Status.TRIAGE, Status.REJECTED, Status.ASSIGNED),
            Status.ASSIGNED,
            OFFICE_ACTORS,
        ),
        Transition("accept", _("Accept"), (Status.ASSIGNED,), Status.ACCEPTED, UNIT_ACTORS),
        Transition(
            "reject",
            _("Decline"),
            (Status.ASSIGNED,),
            Status.REJECTED,
            UNIT_ACTORS,
            reason_required=True,
        ),
        Transition("start", _("Start work"), (Status.ACCEPTED,), Status.IN_PROGRESS, UNIT_ACTORS),
        Transition(
            "hold", _("Put on hold"), (Status.IN_PROGRESS,), Status.ON_HOLD, UNIT_ACTORS, True
        ),
        Transition("resume", _("Resume"), (Status.ON_HOLD,), Status.IN_PROGRESS, UNIT_ACTORS),
        Transition("complete", _("Complete"), (Status.IN_PROGRESS,), Status.COMPLETED, UNIT_ACTORS),
        Transition(
            "fail",
            _("Close as failed"),
            (Status.ACCEPTED, Status.IN_PROGRESS, Status.ON_HOLD),
            Status.FAILED,
            UNIT_ACTORS,
            reason_required=True,
        ),
        Transition(
            "cancel",
            _("Withdraw"),
            OPEN_STATUSES,
            Status.CANCELLED,
            # The system withdraws a person's other referrals when they withdraw consent.
            frozenset({Actor.REFERRER, Actor.OFFICE, Actor.ADMIN, Actor.SYSTEM}),
            reason_required=True,
        ),
        Transition(
            "mark_entered_in_error",
            _("Mark as entered in error"),
            (*OPEN_STATUSES, Status.COMPLETED, Status.FAILED, Status.CANCELLED),
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


# Open referrals the district office may flag for its own attention.
ESCALATABLE = OPEN_STATUSES

# Steps the referrer hears about (closing the loop), unless they took the step themselves.
REFERRER_TOLD = (
    Status.ASSIGNED,
    Status.ACCEPTED,
    Status.COMPLETED,
    Status.FAILED,
    Status.CANCELLED,
    Status.ENTERED_IN_ERROR,
)
