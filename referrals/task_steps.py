"""The units' tasks on a referral (issue 16): which task a step acts on, opening and closing
tasks, a task's step and the referral status it gives, the needs waiting for a unit, and the
units' loads, which count open tasks.

Called by ``referrals/services.py`` (and the modules above it) inside their transaction,
under the referral's row lock: a task changes only with its referral locked, so these take
no lock of their own and write no timeline event (the caller's ``record_change`` does).
"""

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from accounts.selectors import user_scope
from referrals.lifecycle import own_task, status_from_tasks
from referrals.models import OPEN_TASK_STATUSES, Referral, ReferralTask, Status
from referrals.routing_inputs import unit_loads
from services.models import NeedCategory, ServiceUnit

logger = logging.getLogger(__name__)


def acting_task(referral: Referral, *, actor: User | None, partner=None) -> ReferralTask | None:
    """The task a unit's step on ``referral`` acts on: the open task of a unit ``actor`` (or
    the partner system's organisation) acts for, else that unit's latest task, so a step on
    finished work is refused as such. ``None`` when the actor holds no task on it."""
    if partner is not None:
        mine = Q(unit__organisation_id=partner.organisation_id)
    else:
        unit_ids = user_scope(actor).unit_ids if actor is not None else ()
        if not unit_ids:
            return None
        mine = Q(unit_id__in=unit_ids)
    return own_task(list(referral.tasks.filter(mine).order_by("created_at", "pk")))


def open_task(
    referral: Referral,
    *,
    unit: ServiceUnit,
    rule,
    due: datetime,
    needs=None,
    lead: ReferralTask | None = None,
) -> ReferralTask:
    """A new task for ``unit`` with its rule and deadline, for ``needs`` (default: all the
    referral's). Without ``lead`` it is the lead, and the live lead it replaces (an office's
    re-assignment, a lapsed deadline) is closed first; with one, it is part of that lead.
    The unit's load counts it while it is open."""
    if lead is None:
        close_open_tasks(referral, Status.CANCELLED, leads_only=True)
    task = ReferralTask.objects.create(
        referral=referral,
        unit=unit,
        is_lead=lead is None,
        part_of=lead,
        routing_rule=rule,
        due_at=due,
    )
    task.needs.set(referral.needs.all() if needs is None else needs)
    # The other parts follow the new lead.
    if lead is None:
        referral.tasks.open().exclude(pk=task.pk).update(part_of=task)
    move_load(None, unit.pk)
    return task


def close_open_tasks(referral: Referral, status: str, *, leads_only: bool = False) -> None:
    """Close the referral's live tasks (all of them for ``entered_in_error``) as ``status``:
    the office took the referral back, it was withdrawn or entered in error."""
    tasks = referral.tasks.all() if status == Status.ENTERED_IN_ERROR else referral.tasks.open()
    if leads_only:
        tasks = tasks.filter(is_lead=True)
    closing = list(tasks.exclude(status=status).values_list("pk", "unit_id", "status"))
    ReferralTask.objects.filter(pk__in=[pk for pk, _unit, _status in closing]).update(
        status=status, closed_at=timezone.now(), version=F("version") + 1
    )
    for _pk, unit_id, was in closing:
        if was in OPEN_TASK_STATUSES:
            move_load(unit_id, None)


def close_task(referral: Referral, task: ReferralTask, status: str) -> None:
    """Close one open task of the locked referral as ``status`` (a lapsed deadline)."""
    if task.status in OPEN_TASK_STATUSES:
        move_load(task.unit_id, None)
    ReferralTask.objects.filter(pk=task.pk).update(
        status=status, closed_at=timezone.now(), version=F("version") + 1
    )
    task.status = status


def task_step(referral: Referral, task: ReferralTask, *, to_status: str, changes: dict) -> dict:
    """Move ``task`` to ``to_status`` with ``changes`` (outcome, services provided); the
    referral's changes that follow: its status derived from all its tasks
    (``lifecycle.status_from_tasks``) and, from the lead, what the referral shows."""
    if task.status in OPEN_TASK_STATUSES and to_status not in OPEN_TASK_STATUSES:
        move_load(task.unit_id, None)
    task.status = to_status
    if to_status not in OPEN_TASK_STATUSES and task.closed_at is None:
        task.closed_at = timezone.now()
    for name, value in changes.items():
        setattr(task, name, value)
    task.version = F("version") + 1
    task.save()
    tasks = referral.tasks.order_by("created_at", "pk").values_list("status", "is_lead")
    derived = {"status": status_from_tasks(list(tasks)) or to_status}
    return {**derived, **changes} if task.is_lead else derived


def move_load(old_unit_id: int | None, new_unit_id: int | None) -> None:
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
    (``routing_inputs.unit_loads``); {unit code: (counter found, load set)} for those repaired.

    ``move_load`` keeps the counters, but a row written past the services (a data fix, the
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


def derived_status(referral: Referral, fallback: str) -> str:
    """The referral's status from its tasks as they are now (``status_from_tasks``)."""
    tasks = referral.tasks.order_by("created_at", "pk").values_list("status", "is_lead")
    return status_from_tasks(list(tasks)) or fallback


def need_rows(codes):
    return NeedCategory.objects.filter(code__in=codes)


def declined_parts(referral: Referral) -> list[tuple[ReferralTask, set[str]]]:
    """Declined tasks whose needs no later task took on, with those needs (codes): each
    waits for its next unit. A task naming no needs serves all the referral's."""
    everything = {need.code for need in referral.needs.all()}
    tasks = list(referral.tasks.prefetch_related("needs").order_by("created_at", "pk"))
    needs = [{need.code for need in task.needs.all()} or everything for task in tasks]
    return [
        (task, needs[index])
        for index, task in enumerate(tasks)
        if task.status == Status.REJECTED and not needs[index] & set().union(*needs[index + 1 :])
    ]
