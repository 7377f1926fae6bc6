"""What ``/healthz`` reports beyond the database and the broker: work that is silently
piling up (issue 15). Registered in ``ReferralsConfig.ready``.

* ``routing``: referrals still unrouted well past the sweep that should have queued them
  again: the workers or beat are not running (``backlog``). In the embedded demo (tasks
  eager) routing happens inside the request that files the referral: ``eager``.
* ``sweeps``: follow-up jobs overdue for longer than the outbox sweep would let them be:
  beat is not sweeping (``stale``). In the embedded demo (tasks eager) there is no beat.
* ``deliveries``: e-mails or webhooks still being retried an hour after they were queued
  (``failing``).
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from referrals.models import Delivery, OutboxMessage, Referral
from referrals.selectors import routing_past_due_q

# Beat runs the sweeps every minute; this much more before a backlog counts.
SWEEP_SLACK = timedelta(minutes=2)
DELIVERIES_FAILING_AFTER = timedelta(hours=1)


def routing_backlog() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager"
    now = timezone.now() - SWEEP_SLACK
    return "backlog" if Referral.objects.filter(routing_past_due_q(now)).exists() else "ok"


def sweeps() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager"
    late = timezone.now() - timedelta(seconds=settings.OUTBOX_SWEEP_AFTER_SECONDS) - SWEEP_SLACK
    stale = OutboxMessage.objects.filter(done_at=None, due_at__lt=late).exists()
    return "stale" if stale else "ok"


def deliveries() -> str:
    since = timezone.now() - DELIVERIES_FAILING_AFTER
    failing = Delivery.objects.filter(
        state=Delivery.State.PENDING, attempts__gt=0, created_at__lt=since
    ).exists()
    return "failing" if failing else "ok"


CHECKS = {"routing": routing_backlog, "sweeps": sweeps, "deliveries": deliveries}
