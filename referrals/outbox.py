"""Follow-up work that is never lost: an outbox row per job, sent once the change commits.

A service that needs work done after its change (route the referral, tell the unit, send
an e-mail) calls ``enqueue(job, **kwargs)`` inside its transaction, with the job function
itself, never its name: a misspelt job is an ``AttributeError`` where it is written, and a
function that is not a job is refused at once. ``enqueue`` writes an ``OutboxMessage`` in
the same transaction and publishes it when the transaction commits.

The message stays undone until ``run`` has carried the job out to the end. So whatever is
lost on the way (the broker unreachable at commit, Redis restarted empty, a worker killed
mid-job) is published again by ``sweep`` once the message is overdue; jobs are idempotent,
so a message run twice does its work once. Only broker errors are caught at publish time;
anything else is a bug and is raised.

Celery runs every message through the one task ``RUN_TASK`` (``referrals.tasks``), on the
queue its job was declared with: e-mails and webhooks have their own queue, so a partner's
hanging endpoint never holds up routing.

Follow-ups run where their cause ran (issue 20): the messages a job queues on its own queue
(routing's "tell the unit", "tell the referrer") are carried out by ``run`` right after that
job, in the same worker process, instead of joining the back of the queue: in a burst of
submissions they would wait behind every routing job queued before them. Their rows are
written as always, so one left undone (the worker killed in between, a job failing) is
published at once, or sent again by the sweep. Messages for another queue (e-mails,
webhooks) are published on commit as before. The follow-ups are carried out together,
``FOLLOW_UPS_AT_ONCE`` in one transaction, each job in a savepoint of its own and marked
done with its work, so a routing batch's "tell the unit"s cost one commit, not two each
(``_run_together``); one that fails is rolled back alone and published.
"""

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from referrals.models import OutboxMessage

logger = logging.getLogger(__name__)

RUN_TASK = "referrals.tasks.run_outbox_message"
DEFAULT_QUEUE = "celery"
DELIVERIES_QUEUE = "deliveries"
# A publish fails with one of these when the broker cannot be reached; the sweep resends.
BROKER_ERRORS = (BrokerError, OSError)
# How many follow-ups ``_carry_out`` runs in one transaction.
FOLLOW_UPS_AT_ONCE = 50


@dataclass(frozen=True)
class Job:
    name: str
    func: Callable
    queue: str


class TryLater(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a job whose work is not done yet (a delivery to retry): the message stays
    undone and runs again in ``seconds``."""

    def __init__(self, seconds: int):
        super().__init__(f"try again in {seconds} s")
        self.seconds = seconds


_JOBS: dict[str, Job] = {}


def job(*, queue: str = DEFAULT_QUEUE) -> Callable[[Callable], Callable]:
    """Declare a service function a follow-up job; its keyword arguments must be JSON values."""

    def register(func: Callable) -> Callable:
        name = f"{func.__module__}.{func.__qualname__}"
        _JOBS[name] = Job(name=name, func=func, queue=queue)
        func.outbox_job = name
        return func

    return register


def job_named(name: str) -> Job:
    return _JOBS[name]


def enqueue(func: Callable, **kwargs) -> OutboxMessage:
    """Record ``func(**kwargs)`` as follow-up work of the current transaction."""
    name = getattr(func, "outbox_job", None)
    if name is None:
        raise TypeError(f"{func!r} is not a follow-up job: declare it with @outbox.job()")
    message = OutboxMessage.objects.create(
        job=name, args=kwargs, queue=_JOBS[name].queue, due_at=_overdue_from(timezone.now())
    )
    transaction.on_commit(lambda: _committed(message))
    return message


# The follow-ups of the job ``run`` is carrying out in this thread: (its queue, messages).
_running = threading.local()


def _committed(message: OutboxMessage) -> None:
    """Publish ``message``, or keep it for ``run`` to carry out after the running job when
    it is a follow-up on that job's queue."""
    follow_ups = getattr(_running, "follow_ups", None)
    if follow_ups is not None and follow_ups[0] == message.queue:
        follow_ups[1].append(message)
    else:
        publish(message)


def _overdue_from(moment: datetime) -> datetime:
    return moment + timedelta(seconds=settings.OUTBOX_SWEEP_AFTER_SECONDS)


def publish(message: OutboxMessage, *, countdown: int | None = None) -> bool:
    """Hand the message to the broker; False (logged) when the broker cannot be reached."""
    try:
        current_app.tasks[RUN_TASK].apply_async(
            args=[message.pk], queue=message.queue, countdown=countdown
        )
    except BROKER_ERRORS:
        logger.warning(
            "Could not queue %s now; the outbox sweep will send it.", message, exc_info=True
        )
        return False
    return True


def run(message_id: int) -> bool:
    """Carry out one message's job, once; True when it is done. ``TryLater`` from the job
    leaves it undone and moves its due time on; any other error is raised (the task's own
    retry, then the sweep, try again)."""
    message = OutboxMessage.objects.filter(pk=message_id, done_at=None).first()
    if message is None:
        return True  # done already (a duplicate from the broker or the sweep)
    outer = getattr(_running, "follow_ups", None)
    _running.follow_ups = follow_ups = (message.queue, [])
    try:
        job_named(message.job).func(**message.args)
    except BaseException as error:
        _running.follow_ups = outer
        # Follow-ups committed before the job failed still go out, through the broker.
        _carry_out(follow_ups[1], here=False)
        if isinstance(error, TryLater):
            OutboxMessage.objects.filter(pk=message.pk).update(
                due_at=_overdue_from(timezone.now() + timedelta(seconds=error.seconds))
            )
        raise
    _running.follow_ups = outer
    OutboxMessage.objects.filter(pk=message.pk).update(done_at=timezone.now())
    _carry_out(follow_ups[1], here=True)
    return True


def _carry_out(messages: list[OutboxMessage], *, here: bool) -> None:
    """Run the follow-ups in this process (``here``), ``FOLLOW_UPS_AT_ONCE`` at a time in
    one transaction (``_run_together``), or publish them; one that fails here is
    published, so the task's own retries and the sweep take it over."""
    while messages:
        if not here:
            publish(messages.pop(0))
            continue
        together = messages[:FOLLOW_UPS_AT_ONCE]
        del messages[:FOLLOW_UPS_AT_ONCE]
        messages.extend(_run_together(together))


def _run_together(messages: list[OutboxMessage]) -> list[OutboxMessage]:
    """Carry out follow-ups of one queue in one transaction, each job in a savepoint of its
    own and marked done in the transaction with its work: one commit for all. A job that
    fails is rolled back to its savepoint and published; one raising ``TryLater`` keeps
    its work, has its due time moved on and is published, as ``run`` and ``_carry_out``
    did one at a time. If the transaction itself fails, all of them are published. Returns
    the follow-ups their jobs queued on this queue."""
    outer = getattr(_running, "follow_ups", None)
    _running.follow_ups = follow_ups = (messages[0].queue, [])
    to_publish: list[OutboxMessage] = []
    try:
        with transaction.atomic():
            waiting = OutboxMessage.objects.filter(pk__in=[m.pk for m in messages], done_at=None)
            done, now = [], timezone.now()
            for message in waiting.order_by("pk"):
                outcome = _run_in_savepoint(message)
                if outcome == DONE:
                    done.append(message.pk)
                    continue
                to_publish.append(message)
                if outcome != FAILED:  # TryLater's seconds
                    OutboxMessage.objects.filter(pk=message.pk).update(
                        due_at=_overdue_from(now + timedelta(seconds=outcome))
                    )
            OutboxMessage.objects.filter(pk__in=done).update(done_at=timezone.now())
    except Exception:
        logger.warning("Follow-ups %s failed here; queued instead.", messages, exc_info=True)
        to_publish = messages
    finally:
        _running.follow_ups = outer
    for message in to_publish:
        publish(message)
    return follow_ups[1]


DONE, FAILED = "done", "failed"


def _run_in_savepoint(message: OutboxMessage) -> str | int:
    """Run one message's job in a savepoint: ``DONE``; the seconds of its ``TryLater`` (what
    it wrote is kept); or ``FAILED`` (logged), rolled back to the savepoint."""
    try:
        with transaction.atomic():
            try:
                job_named(message.job).func(**message.args)
            except TryLater as later:
                return later.seconds
    except Exception:
        logger.warning("Follow-up %s failed here; queued instead.", message, exc_info=True)
        return FAILED
    return DONE


def messages_waiting(*, now: datetime | None = None, limit: int = 1000) -> list[OutboxMessage]:
    """Undone messages past their due time: the broker lost them, or never had them."""
    now = now or timezone.now()
    return list(
        OutboxMessage.objects.filter(done_at=None, due_at__lt=now).order_by("due_at")[:limit]
    )


def sweep(*, now: datetime | None = None) -> int:
    """Publish again every overdue message; returns how many were sent."""
    now = now or timezone.now()
    waiting = messages_waiting(now=now)
    OutboxMessage.objects.filter(pk__in=[m.pk for m in waiting]).update(
        due_at=_overdue_from(now), sends=F("sends") + 1
    )
    return sum(publish(message) for message in waiting)


def purge_done(*, older_than_days: int = 7, now: datetime | None = None) -> int:
    """Done messages are kept a week for inspection, then deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=older_than_days)
    deleted, _ = OutboxMessage.objects.filter(done_at__lt=cutoff).delete()
    return deleted


def pending_for(jobs: Iterable[Callable]) -> int:
    """How many undone messages these jobs have (health checks, tests)."""
    names = [func.outbox_job for func in jobs]
    return OutboxMessage.objects.filter(done_at=None, job__in=names).count()
