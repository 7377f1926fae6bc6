"""Thin Celery tasks: they take ids, call a service and retry what is transient.

Every task may run more than once (``acks_late``: a worker killed mid-task hands the task
back to the broker; the outbox sweep sends an overdue message again), so each service it
calls is idempotent: it locks the row and checks whether the work is already done.

Follow-up work (routing a new referral, notifying, sending e-mails and webhooks) arrives as
outbox messages (``referrals/outbox.py``) and runs through ``run_outbox_message``.
"""

import logging

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from referrals import assignment, outbox, privacy, selectors, services, task_steps, transfers
from referrals import notifications as notifying

logger = logging.getLogger(__name__)

# Database hiccups (a failover, a dropped connection) are retried with exponential backoff;
# anything else (a bug, a broken invariant) fails loudly instead of being retried.
TRANSIENT = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
    "acks_late": True,
}


@shared_task(bind=True, name=outbox.RUN_TASK, **TRANSIENT)
def run_outbox_message(self, message_id: int) -> bool:
    """Carry out one follow-up job. A job that must wait (a delivery's back-off) is retried
    after its countdown; run eagerly (the demo), it is left for ``sweep_outbox``."""
    try:
        return outbox.run(message_id)
    except outbox.TryLater as later:
        if self.request.is_eager:
            return False
        raise self.retry(countdown=later.seconds, max_retries=None) from later


@shared_task(acks_late=True)
def sweep_outbox() -> int:
    """Send again follow-up jobs that are overdue (lost by the broker or a killed worker),
    and forget those done more than a week ago."""
    sent = outbox.sweep()
    outbox.purge_done()
    if sent:
        logger.info("sweep_outbox sent %d job(s) again", sent)
    return sent


@shared_task(**TRANSIENT)
def route_referral(referral_id: int) -> str:
    return services.referral_route(referral_id=referral_id).status


@shared_task(acks_late=True)
def sweep_unrouted() -> int:
    """Queue routing again for referrals left unrouted (the broker was down)."""
    ids = selectors.referrals_to_reroute(older_than_seconds=settings.ROUTING_SWEEP_AFTER_SECONDS)
    for referral_id in ids:
        route_referral.delay(referral_id)
    if ids:
        logger.info("sweep_unrouted queued %d referral(s)", len(ids))
    return len(ids)


@shared_task(acks_late=True)
def sweep_overdue() -> int:
    ids = selectors.referrals_past_due()
    for referral_id in ids:
        mark_overdue.delay(referral_id)
    task_ids = selectors.tasks_past_due()
    for task_id in task_ids:
        mark_task_overdue.delay(task_id)
    return len(ids) + len(task_ids)


@shared_task(**TRANSIENT)
def mark_overdue(referral_id: int) -> str:
    return assignment.referral_mark_overdue(referral_id=referral_id).status


@shared_task(**TRANSIENT)
def mark_task_overdue(task_id: int) -> str:
    return assignment.task_mark_overdue(task_id=task_id).status


@shared_task(**TRANSIENT)
def send_office_digests() -> int:
    return len(notifying.send_office_digests())


@shared_task(acks_late=True)
def anonymise_expired_referrals() -> dict:
    """Daily: closed referrals past ``RETENTION_YEARS`` lose their personal data (batched,
    each batch committed on its own, so a run cut short is simply continued by the next)."""
    return privacy.referrals_anonymise_expired().as_json()


@shared_task(acks_late=True)
def reconcile_unit_loads() -> int:
    """Every 15 minutes: units' ``current_load`` counters that drifted from their true load
    (the referrals they hold) are set right, so routing ranks by what units really carry."""
    return len(task_steps.reconcile_unit_loads())


@shared_task(acks_late=True)
def run_due_transfers() -> dict:
    """Every 15 minutes: transfer plans whose effective date has come move their cases
    (``referrals/transfers.py``, in batches; a run cut short is continued by the next)."""
    return {str(plan_id): moved for plan_id, moved in transfers.run_due_plans().items()}
