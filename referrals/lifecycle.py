"""A referral's life as data: who acts, the transition table, what each actor may do.

The statuses follow the FHIR Task statuses of the SDOH referral guide (their groups,
``OPEN_STATUSES``, ``SERVING_STATUSES``, ``CLOSED_STATUSES``, sit beside the ``Status``
choices in ``referrals/models/choices.py``, where the tables' constraints need them):

    draft → submitted → triage | assigned → accepted | rejected → in_progress ⇄ on_hold
          → completed | failed;   cancelled and entered_in_error from the states in TRANSITIONS.

``referrals/services.py`` carries the transitions out; this module only decides.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.selectors import user_scope
from referrals.models import LEFT_TASK_STATUSES, OPEN_STATUSES, Referral, ReferralEvent, Status
from referrals.routing import reasons_from_json
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
    # What cannot be taken back, said before it is done (issue 19): a step with a
    # consequence is asked for twice, the second time with this text on the page.
    consequence: Promise | None = None


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
            consequence=_(
                "Your unit will no longer see this referral: it goes back to the district "
                "office to be routed to another unit, with your reason."
            ),
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
            consequence=_(
                "The case is closed as failed: work on it stops, the referrer is told, and it "
                "cannot be reopened."
            ),
        ),
        Transition(
            "cancel",
            _("Withdraw"),
            OPEN_STATUSES,
            Status.CANCELLED,
            # The system withdraws a person's other referrals when they withdraw consent.
            frozenset({Actor.REFERRER, Actor.OFFICE, Actor.ADMIN, Actor.SYSTEM}),
            reason_required=True,
            consequence=_(
                "The referral is withdrawn: every unit working on it stops, and it cannot be "
                "reopened."
            ),
        ),
        Transition(
            "mark_entered_in_error",
            _("Mark as entered in error"),
            (*OPEN_STATUSES, Status.COMPLETED, Status.FAILED, Status.CANCELLED),
            Status.ENTERED_IN_ERROR,
            frozenset({Actor.OFFICE, Actor.ADMIN}),
            reason_required=True,
            consequence=_(
                "The referral is marked as entered in error: it leaves every list and the "
                "figures, and cannot be reopened."
            ),
        ),
    ]
}


def actor_roles(*, user: User | None, referral: Referral, partner=None, task=None) -> set[Actor]:
    """The capacities in which ``user`` acts on ``referral`` (one query for memberships).
    With ``task`` (a ``ReferralTask`` of the referral), the unit capacity is that task's
    unit's, not the referral's lead unit's: a unit acts on its own task only.

    A partner system (``accounts.PartnerClient``, no user) acts as the assigned unit when
    that unit belongs to its organisation, and as nothing else.
    """
    unit_id = task.unit_id if task is not None else referral.assigned_unit_id
    if partner is not None:
        unit_is_theirs = ServiceUnit.objects.filter(
            pk=unit_id, organisation_id=partner.organisation_id
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
    scope = user_scope(user)  # the one home of who covers what (accounts/selectors.py)
    if unit_id is not None and unit_id in scope.unit_ids:
        roles.add(Actor.UNIT)
    if referral.district_id in scope.district_ids:
        roles.add(Actor.OFFICE)
    return roles


def available_transitions(*, roles: set[Actor], referral: Referral, task=None) -> list[Transition]:
    """What the page may offer: transitions from the current status that these roles may
    make; a unit's steps from the status of its own ``task`` when it holds one."""

    def current(transition: Transition) -> str:
        unit_step = transition.actors == UNIT_ACTORS
        return task.status if unit_step and task is not None else referral.status

    return [
        t
        for t in TRANSITIONS.values()
        if t.action != "submit"
        and t.action != "assign"
        and current(t) in t.sources
        and roles & t.actors
    ]


def own_task(tasks, unit_ids=None) -> object | None:
    """Among a referral's ``tasks`` (loaded, oldest first), the one someone working in
    ``unit_ids`` (``None``: all of these tasks are theirs) acts on: their unit's open task,
    else its latest, so a step on finished work is refused as such. The page asks it of the
    tasks it loaded; ``task_steps.acting_task`` of the actor's tasks read under the lock."""
    mine = [task for task in tasks if unit_ids is None or task.unit_id in unit_ids]
    return next((task for task in reversed(mine) if task.is_open), mine[-1] if mine else None)


# --- A referral's status from its tasks (issue 16) -----------------------------------------
#
# Each unit asked to act holds a task (``referrals/models/task.py``); the referral's status
# is the furthest any live task has got, in this order: one unit at work makes the referral
# in progress; else one that accepted makes it accepted; else it waits on a unit (assigned);
# else every live task is on hold. With no live task, a referral whose units all finished is
# completed when any completed it, failed otherwise; one whose lead declined waits to be
# routed again (rejected). With one task, the referral's status is the task's.

LIVE_TASK_PRECEDENCE = (Status.IN_PROGRESS, Status.ACCEPTED, Status.ASSIGNED, Status.ON_HOLD)


def status_from_tasks(tasks) -> str | None:
    """The referral status its ``tasks`` give: (status, is_lead) pairs, oldest first. ``None``
    when they decide nothing (no task: the referral-level status stands)."""
    statuses = [status for status, _lead in tasks]
    for status in LIVE_TASK_PRECEDENCE:
        if status in statuses:
            return status
    leads = [status for status, lead in tasks if lead]
    if leads and leads[-1] == Status.REJECTED:
        return Status.REJECTED
    if Status.COMPLETED in statuses:
        return Status.COMPLETED
    if Status.FAILED in statuses:
        return Status.FAILED
    return None


# Open referrals the district office may flag for its own attention.
ESCALATABLE = OPEN_STATUSES


def may_escalate(*, roles: set[Actor], referral: Referral) -> bool:
    """Whether these roles may flag ``referral`` for the district office's attention: the
    office itself (or headquarters), once, while it is open. ``assignment.referral_escalate``
    refuses the same cases one by one, with a message for each; the page asks this."""
    return (
        bool(roles & OFFICE_ACTORS)
        and referral.status in ESCALATABLE
        and referral.escalated_at is None
    )


# Steps the referrer hears about (closing the loop), unless they took the step themselves.
REFERRER_TOLD = (
    Status.ASSIGNED,
    Status.ACCEPTED,
    Status.COMPLETED,
    Status.FAILED,
    Status.CANCELLED,
    Status.ENTERED_IN_ERROR,
)


# --- What each reader sees of the timeline ------------------------------------------------
#
# The one policy for the page, the API (people and partner systems), the e-mails:
#
#   reader                               events  when, step, unit,   reason, note,
#                                                routing reasons,    details
#                                                who took the step
#   the assigned unit (its staff, or     all     yes                 yes
#     its organisation's partner system)
#   the district office, administrators  all     yes                 yes
#   the referrer (or the partner system  all     yes                 only of the steps
#     that filed it), anyone else                                    they took themselves
#
# ARCHITECTURE: the referrer follows every step (status, the unit, the outcome summary on the
# referral) but never reads the recipient's case notes: a decline's or a hold's reason, the
# unit's internal note, the office's reason for an override or an escalation, nor the
# details (routing candidates, the other referrals a consent withdrawal reached, the client
# that acted). The routing reasons stay visible to all: they explain why this unit (the page's
# "Why this routing"), from the rules, not from anyone's notes.

CASE_NOTE_READERS = frozenset({Actor.UNIT, Actor.OFFICE, Actor.ADMIN})


def reads_case_notes(roles: set[Actor] | frozenset[Actor]) -> bool:
    """Whether a reader in ``roles`` reads the recipients' own record of the case: the
    reasons and notes of the timeline, the services provided at completion (the outcome
    summary is the referrer's), the case notes; and writes case notes (issue 19)."""
    return bool(roles & CASE_NOTE_READERS)


@dataclass(frozen=True)
class VisibleEvent:
    """One timeline event as one reader may see it. The event itself is kept private (a
    template cannot reach ``_event``), so a page shows only what the policy lets through."""

    _event: ReferralEvent = field(repr=False)
    shows_case_notes: bool

    @property
    def at(self):
        return self._event.at

    @property
    def kind(self) -> str:
        return self._event.kind

    @property
    def from_status(self) -> str:
        return self._event.from_status

    @property
    def to_status(self) -> str:
        return self._event.to_status

    def get_from_status_display(self) -> str:
        return self._event.get_from_status_display()

    def get_kind_display(self) -> str:
        return self._event.get_kind_display()

    def get_to_status_display(self) -> str:
        return self._event.get_to_status_display()

    @property
    def unit(self) -> ServiceUnit | None:
        return self._event.unit

    @property
    def actor_name(self) -> str:
        """Who took the step ("" for the system); reads ``actor``, so load it if shown."""
        actor = self._event.actor
        return (actor.get_full_name() or actor.get_username()) if actor else ""

    @cached_property
    def reasons(self) -> list[str]:
        """The routing decision's reasons, in the reader's language."""
        return [reason.text() for reason in reasons_from_json(self._event.details.get("reasons"))]

    @property
    def reason(self) -> str:
        return self._event.reason if self.shows_case_notes else ""

    @property
    def note(self) -> str:
        return self._event.note if self.shows_case_notes else ""

    @property
    def details(self) -> dict:
        return dict(self._event.details) if self.shows_case_notes else {}


def visible_event(
    event: ReferralEvent,
    *,
    roles: set[Actor] | frozenset[Actor],
    reader_id: int | None = None,
    unit_ids: frozenset[int] | None = None,
) -> VisibleEvent:
    """``event`` for a reader acting in ``roles`` (``actor_roles``); ``reader_id`` is the
    reader's user id, whose own steps show their text. No roles: what every reader sees.

    With several units on a referral (issue 16), a unit reads the case notes of the
    referral's own steps and of its own tasks, not another unit's: with ``unit_ids`` (the
    reader's units among the referral's tasks, ``reader_unit_ids``) a step on another
    unit's task shows its status only, to the lead unit too."""
    own_step = reader_id is not None and event.actor_id == reader_id
    notes = reads_case_notes(roles) or own_step
    if notes and not roles & (CASE_NOTE_READERS - {Actor.UNIT}) and not own_step:
        notes = unit_ids is None or event.task_id is None or event.unit_id in unit_ids
    return VisibleEvent(event, shows_case_notes=notes)


def timeline_for(
    referral: Referral,
    *,
    roles: set[Actor] | frozenset[Actor],
    reader_id: int | None = None,
    unit_ids: frozenset[int] | None = None,
) -> list[VisibleEvent]:
    """The referral's timeline for one reader, from its (prefetched) events: no query of its
    own beyond ``referral.events.all()``."""
    return [
        visible_event(e, roles=roles, reader_id=reader_id, unit_ids=unit_ids)
        for e in referral.events.all()
        if reads_case_notes(roles) or not unit_internal(e)
    ]


def unit_internal(event: ReferralEvent) -> bool:
    """A step the referrer does not see (issue 17): a case worker allocated, a case moved
    between two of the unit's workers, a transfer only planned (it may yet be cancelled) or
    accepted. Only the unit, the office and headquarters see these on the timeline: the
    referrer sees the unit a case moved to (or back to), never who in it owns the case.
    A case note (issue 19) is the unit's and the office's record, never the referrer's."""
    if event.kind in (ReferralEvent.Kind.ALLOCATION, ReferralEvent.Kind.NOTE):
        return True
    details = event.details
    return bool(details.get("internal")) or details.get("step") in ("planned", "accepted")


# Who sees every unit's part of a referral (status, needs, outcome; never notes): those with
# a view of the whole referral, and its lead unit. A unit serving one part sees its own.
WHOLE_REFERRAL_READERS = frozenset({Actor.REFERRER, Actor.OFFICE, Actor.ADMIN})


def reader_unit_ids(referral: Referral, *, user: User | None = None, partner=None) -> frozenset:
    """The units of ``referral``'s tasks (prefetched, with their units) the reader works for:
    a partner system's organisation's, or those of the person's memberships."""
    tasks = referral.tasks.all()
    if partner is not None:
        return frozenset(
            t.unit_id for t in tasks if t.unit.organisation_id == partner.organisation_id
        )
    mine = set(user_scope(user).unit_ids) if user is not None else set()
    return frozenset(t.unit_id for t in tasks if t.unit_id in mine)


def tasks_for(referral: Referral, *, roles, unit_ids: frozenset[int]) -> list:
    """The tasks of ``referral`` (prefetched) one reader sees (``WHOLE_REFERRAL_READERS``)."""
    tasks = list(referral.tasks.all())
    leads = any(
        t.is_lead and t.unit_id in unit_ids and t.status not in LEFT_TASK_STATUSES for t in tasks
    )
    if roles & WHOLE_REFERRAL_READERS or leads:
        return tasks
    return [t for t in tasks if t.unit_id in unit_ids]


def reading_roles(*, referral: Referral, user: User | None = None, partner=None) -> set[Actor]:
    """``actor_roles`` for someone reading ``referral``. A partner system's capacity (the
    assigned unit, when that unit is its organisation's) is read from the referral's assigned
    unit when the caller loaded it with the referral, as the API does: the same rule as
    ``actor_roles``, without a query on a read whose count is pinned."""
    if partner is not None and Referral.assigned_unit.is_cached(referral):
        unit = referral.assigned_unit
        theirs = unit is not None and unit.organisation_id == partner.organisation_id
        # Or a task of theirs on it (loaded with the referral), as ``tasks_seen_by`` says.
        prefetched = getattr(referral, "_prefetched_objects_cache", {})
        if not theirs and "tasks" in prefetched:
            theirs = any(
                t.unit.organisation_id == partner.organisation_id
                and t.status not in LEFT_TASK_STATUSES
                for t in referral.tasks.all()
            )
        return {Actor.UNIT} if theirs else set()
    return actor_roles(user=user, referral=referral, partner=partner)
