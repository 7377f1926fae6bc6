"""Thin Celery tasks: they take ids, call a service and retry what is transient.

Every task may run more than once (``acks_late``: a worker killed mid-task hands the task
back to the broker), so each service it calls is idempotent: it locks the row and checks
whether the work is already done.
"""

import logging

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from referrals import privacy, services
from referrals.models import Delivery

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


@shared_task(**TRANSIENT)
def route_referral(referral_id: int) -> str:
    return services.referral_route(referral_id=referral_id).status


@shared_task(**TRANSIENT)
def notify_assignment(event_id: int) -> int:
    return len(services.notify_assignment(event_id=event_id))


@shared_task(**TRANSIENT)
def notify_office(event_id: int) -> int:
    return len(services.notify_office(event_id=event_id))


@shared_task(**TRANSIENT)
def notify_referrer(event_id: int) -> int:
    return len(services.notify_referrer(event_id=event_id))


@shared_task(**TRANSIENT)
def notify_partner(event_id: int) -> int:
    return len(services.notify_partner(event_id=event_id))


@shared_task(bind=True, acks_late=True, max_retries=None)
def deliver(self, delivery_id: int) -> str:
    """Send one e-mail; after a failure, try again later, doubling the wait each time, until
    ``DELIVERY_MAX_ATTEMPTS`` is reached (the delivery is then marked failed). Run eagerly
    (the demo), a failed attempt is left pending for ``sweep_deliveries``."""
    delivery = services.delivery_send(delivery_id=delivery_id)
    if delivery.state == Delivery.State.PENDING and not self.request.is_eager:
        raise self.retry(countdown=retry_countdown(delivery.attempts))
    return delivery.state


MAX_RETRY_COUNTDOWN = 600  # below the broker's visibility timeout (settings)


def retry_countdown(attempts: int) -> int:
    """Seconds before the next try: the back-off doubled for each attempt made, at most ten
    minutes (``sweep_deliveries`` looks again at a delivery untouched for 15 minutes)."""
    return min(settings.DELIVERY_RETRY_BACKOFF * 2 ** (attempts - 1), MAX_RETRY_COUNTDOWN)


@shared_task(acks_late=True)
def sweep_unrouted() -> int:
    """Queue routing again for referrals left unrouted (the broker was down)."""
    ids = services.referrals_to_reroute(older_than_seconds=settings.ROUTING_SWEEP_AFTER_SECONDS)
    for referral_id in ids:
        route_referral.delay(referral_id)
    if ids:
        logger.info("sweep_unrouted queued %d referral(s)", len(ids))
    return len(ids)


@shared_task(acks_late=True)
def sweep_overdue() -> int:
    ids = services.referrals_past_due()
    for referral_id in ids:
        mark_overdue.delay(referral_id)
    return len(ids)


@shared_task(**TRANSIENT)
def mark_overdue(referral_id: int) -> str:
    return services.referral_mark_overdue(referral_id=referral_id).status


@shared_task(acks_late=True)
def sweep_deliveries() -> int:
    ids = services.deliveries_waiting()
    for delivery_id in ids:
        deliver.delay(delivery_id)
    return len(ids)


@shared_task(**TRANSIENT)
def send_office_digests() -> int:
    return len(services.send_office_digests())


@shared_task(**TRANSIENT)
def notify_consent_withdrawn(event_id: int) -> int:
    return len(privacy.notify_consent_withdrawn(event_id=event_id))


@shared_task(acks_late=True)
def anonymise_expired_referrals() -> dict:
    """Daily: closed referrals past ``RETENTION_YEARS`` lose their personal data (batched,
    each batch committed on its own, so a run cut short is simply continued by the next)."""
    return privacy.referrals_anonymise_expired().as_json()
