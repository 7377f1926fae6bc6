"""Case owners inside a unit (issue 17): the worker who owns each open case, a supervisor's
allocation of one or many cases among the unit's workers, each worker's caseload against
their limit, "my cases" and the cases that need an owner.

A case is a unit's task on a referral (``ReferralTask``); its owner is the task's
``owner``. The referrer sees the unit, never the owner (``shared_contact`` is what the unit
chooses to tell them). A case "needs an owner" while it is open and its owner is missing,
deactivated or no longer works for the unit: read, never stored, so a deactivated worker's
cases are in the supervisor's list at once and nothing is left with nobody.
"""

from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.models import Membership, User
from accounts.selectors import unit_workers, user_scope
from referrals.errors import NotPermitted, ReferralError, stale_version
from referrals.models import OPEN_TASK_STATUSES, ReferralEvent, ReferralTask

# The statuses in which a case is worked and has an owner; a task still waiting to be
# accepted may be given one in advance.
OWNED_STATUSES = OPEN_TASK_STATUSES


class AllocationError(ReferralError):
    """The allocation cannot be made as asked; nothing was changed."""


@dataclass(frozen=True)
class Worker:
    user: User
    role: str
    limit: int
    load: int

    @property
    def spare(self) -> int:
        return max(self.limit - self.load, 0)

    @property
    def percent(self) -> int:
        return round(self.load * 100 / self.limit) if self.limit else 100

    @property
    def over_limit(self) -> bool:
        return self.load > self.limit


def caseload_limit(membership: Membership) -> int:
    if membership.caseload_limit is not None:
        return membership.caseload_limit
    return settings.CASELOAD_LIMIT


def workers(unit_id: int) -> list[Worker]:
    """The unit's workers with their open caseload in the unit and their limit: two queries."""
    loads = dict(
        ReferralTask.objects.filter(unit_id=unit_id, status__in=OWNED_STATUSES, owner__isnull=False)
        .values_list("owner_id")
        .annotate(n=Count("pk"))
        .values_list("owner_id", "n")
    )
    seen, result = set(), []
    for membership in unit_workers(unit_id):
        if membership.user_id in seen:
            continue
        seen.add(membership.user_id)
        limit = caseload_limit(membership)
        result.append(
            Worker(membership.user, membership.role, limit, loads.get(membership.user_id, 0))
        )
    return result


def _works_for_unit(unit_field: str = "unit_id") -> Exists:
    return Exists(
        Membership.objects.filter(
            user_id=OuterRef("owner_id"),
            service_unit_id=OuterRef(unit_field),
            role__in=Membership.STAFF_ROLES,
        )
    )


def needs_owner_q() -> Q:
    """Open cases with no owner who can carry them: none, deactivated, or gone from the unit."""
    return Q(owner__isnull=True) | Q(owner__is_active=False) | ~_works_for_unit()


def cases_needing_owner(unit_ids) -> QuerySet[ReferralTask]:
    return (
        ReferralTask.objects.filter(unit_id__in=unit_ids, status__in=OWNED_STATUSES)
        .filter(needs_owner_q())
        .select_related("referral", "unit", "owner")
        .order_by("-referral__urgency", "created_at", "pk")
    )


def my_cases(user: User) -> QuerySet[ReferralTask]:
    """The open cases ``user`` owns, in the units they still work for."""
    return (
        ReferralTask.objects.filter(
            owner=user, status__in=OWNED_STATUSES, unit_id__in=user_scope(user).unit_ids
        )
        .select_related("referral", "unit")
        .order_by("-referral__urgency", "-updated_at", "pk")
    )


def _supervised(actor: User, unit_id: int) -> None:
    if not (actor.is_administrator or unit_id in user_scope(actor).supervised_unit_ids):
        raise NotPermitted(_("Only the unit's supervisor may allocate its cases."))


def allocate(*, actor: User, unit_id: int, task_ids, worker_ids, respect_limits: bool = True):
    """Give the unit's open cases ``task_ids`` to ``worker_ids``: each case to the worker with
    the most room left at that moment, so one action spreads 30 cases over two workers
    evenly. All or nothing: a case not open in the unit, a worker who does not work there,
    or (with ``respect_limits``) more cases than the workers' room, changes nothing.
    Returns {user id: cases given}."""
    _supervised(actor, unit_id)
    task_ids, worker_ids = list(dict.fromkeys(task_ids)), list(dict.fromkeys(worker_ids))
    if not task_ids or not worker_ids:
        raise AllocationError(_("Choose at least one case and one worker."))
    with transaction.atomic():
        # The chosen workers' memberships locked first: two supervisors allocating at once
        # count each other's cases against the limits.
        list(
            Membership.objects.select_for_update()
            .filter(service_unit_id=unit_id, user_id__in=worker_ids)
            .order_by("pk")
            .values_list("pk")
        )
        staff = {worker.user.pk: worker for worker in workers(unit_id)}
        if any(pk not in staff for pk in worker_ids):
            raise AllocationError(_("Choose workers of this unit with an active account."))
        tasks = list(
            ReferralTask.objects.select_for_update(of=("self",))
            .filter(pk__in=task_ids, unit_id=unit_id, status__in=OWNED_STATUSES)
            .select_related("referral")
            .order_by("pk")
        )
        if len(tasks) != len(task_ids):
            raise AllocationError(
                _("Some of the chosen cases are no longer open in this unit; reload the page.")
            )
        chosen = [staff[pk] for pk in worker_ids]
        given = _share_out(tasks, chosen, respect_limits=respect_limits)
        _set_owners([t for t in tasks if t.new_owner.pk != t.owner_id], actor=actor)
    return dict(given)


def _share_out(tasks, chosen: list[Worker], *, respect_limits: bool) -> Counter:
    """Each task's ``new_owner``: the chosen worker with the most room at that moment (a
    case already with one of them frees its place first)."""
    loads = {worker.user.pk: worker.load for worker in chosen}
    for task in tasks:
        if task.owner_id in loads:
            loads[task.owner_id] -= 1
    room = sum(max(w.limit - loads[w.user.pk], 0) for w in chosen)
    if respect_limits and room < len(tasks):
        raise AllocationError(
            ngettext(
                "The chosen workers have room for %(room)d more case, not %(count)d.",
                "The chosen workers have room for %(room)d more cases, not %(count)d.",
                room,
            )
            % {"room": room, "count": len(tasks)}
        )
    given: Counter = Counter()
    for task in tasks:
        worker = max(chosen, key=lambda w: (w.limit - loads[w.user.pk], -w.user.pk))
        loads[worker.user.pk] += 1
        task.new_owner = worker.user
        given[worker.user.pk] += 1
    return given


def _set_owners(tasks: list[ReferralTask], *, actor: User | None, kind=None) -> None:
    """Write each task's ``new_owner`` and one timeline event per case (the unit's: the
    worker's name is in the details the referrer never reads)."""
    now = timezone.now()
    by_owner: dict = {}
    for task in tasks:
        by_owner.setdefault(task.new_owner.pk if task.new_owner else None, []).append(task.pk)
    for owner_id, pks in by_owner.items():
        ReferralTask.objects.filter(pk__in=pks).update(
            owner_id=owner_id, owner_since=now if owner_id else None, version=F("version") + 1
        )
    ReferralEvent.objects.bulk_create(
        ReferralEvent(
            referral=task.referral,
            actor=actor,
            at=now,
            from_status=task.referral.status,
            to_status=task.referral.status,
            kind=kind or ReferralEvent.Kind.ALLOCATION,
            unit_id=task.unit_id,
            task=task,
            details={
                "owner": task.new_owner.get_full_name() or task.new_owner.get_username()
                if task.new_owner
                else "",
                "previous_owner_id": task.owner_id,
            },
        )
        for task in tasks
    )


def share_contact(*, actor: User, task_id: int, contact: str, expected_version: int) -> None:
    """Set what the referrer is told about whom to contact at the unit (blank: nothing)."""
    with transaction.atomic():
        task = ReferralTask.objects.select_for_update().filter(pk=task_id).first()
        if task is None or task.unit_id not in user_scope(actor).unit_ids:
            raise NotPermitted(_("You may not do this to this referral."))
        if task.status not in OWNED_STATUSES:
            raise AllocationError(_("This case is closed; its contact can no longer change."))
        if task.version != expected_version:
            raise stale_version(task.get_status_display())
        ReferralTask.objects.filter(pk=task.pk).update(
            shared_contact=contact.strip()[:200], version=F("version") + 1
        )
