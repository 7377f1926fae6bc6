"""A routing job takes the other routing jobs waiting with it (issue 20).

In a burst of submissions each referral's routing is an outbox message of its own
(``services.referral_route``), and routed one by one a worker pays each one's reads, writes
and commit. So the job that routes a submitted referral first claims the other undone route
messages whose referral is still submitted (``claim_waiting``: at most ``BATCH_SIZE`` in
all, ``SKIP LOCKED``, so a message another worker holds is left to it), routes their
referrals with its own in one transaction (``services.referrals_route``), and marks done,
in that same transaction, only the messages whose referral it routed (``mark_done``). If
the transaction fails nothing is marked: each message is carried out by its own delivery,
and the sweep's. A claimed message's own delivery then finds the message done in one query;
one being run at that moment by another worker waits on its referral's lock and finds the
referral routed (jobs are idempotent), and routes the others waiting by then instead: the
next batch starts as soon as the last one commits, not after its duplicates.

Two batches at once would move the same units' load counters in different orders and
deadlock, so on PostgreSQL a batch is taken under a transaction-level advisory lock: one
batch routes at a time (the other worker waits, then takes all that arrived meanwhile),
while their follow-ups (telling the units) run side by side.
"""

from django.db import connection
from django.db.models import BigIntegerField, Exists, OuterRef
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone

from referrals.models import OutboxMessage, Referral, Status

BATCH_SIZE = 50
# pg_advisory_xact_lock's key for "a routing batch is being routed" (any fixed bigint).
BATCH_LOCK = 2026_0020_0001


def claim_waiting(job, *, besides: int, limit: int | None = None) -> dict[int, int]:
    """Lock the undone messages of ``job`` (the route job) whose referral is submitted,
    other than ``besides`` (the referral the running job has locked), oldest first, at most
    ``limit`` (default ``BATCH_SIZE``) - 1 of them: {message id: referral id}. Call it
    inside the routing transaction, which keeps them locked until it ends."""
    limit = BATCH_SIZE if limit is None else limit
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [BATCH_LOCK])
    submitted = Referral.objects.filter(pk=OuterRef("referral_id"), status=Status.SUBMITTED)
    waiting = (
        OutboxMessage.objects.filter(job=job.outbox_job, done_at=None)
        .annotate(referral_id=Cast(KT("args__referral_id"), BigIntegerField()))
        .filter(Exists(submitted))
        .exclude(referral_id=besides)
        .select_for_update(of=("self",), skip_locked=True)
        .order_by("pk")
    )
    return dict(waiting.values_list("pk", "referral_id")[: limit - 1])


def route_together(job, route, *, first: int | None = None, besides: int | None = None):
    """Claim the messages of ``job`` waiting (``claim_waiting``) and route their referrals
    with ``first`` (the running job's own, locked by it) through ``route`` (the batch
    service, ``services.referrals_route``), then mark done those routed (``mark_done``);
    the ids routed. In the caller's transaction."""
    waiting = claim_waiting(job, besides=first if besides is None else besides)
    ids = list(dict.fromkeys([*([first] if first else []), *waiting.values()]))
    if not ids:
        return []
    routed = route(ids)
    mark_done(waiting, routed)
    return routed


def mark_done(claimed: dict[int, int], routed: list[int]) -> int:
    """Mark done the claimed messages whose referral was routed (their own deliveries then
    find them done); the others are left to their own delivery. Returns how many."""
    routed_ids = set(routed)
    done = [pk for pk, referral_id in claimed.items() if referral_id in routed_ids]
    if not done:
        return 0
    return OutboxMessage.objects.filter(pk__in=done).update(done_at=timezone.now())
