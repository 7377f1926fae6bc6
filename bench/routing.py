"""Routing speed (issue 20): decisions in process, and a burst through a real Celery worker.

Usage (PostgreSQL and Redis running; the database seeded with ``seed_demo``, ideally with
``--referrals 1000000`` for realistic volume)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/welfare_bench \\
    REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/routing.py --interval 0 --referrals 200

Production settings (bench/harness.py). Four figures:

- decisions in process: ``--decisions`` referrals are submitted inside a transaction that
  is rolled back at the end (nothing is published, nothing kept), the routing directory is
  read once (``routing_directory``, as a worker has it warm), then each referral's plan is
  timed: in a batch (``RoutingBatch.plan``: the loads and released units read once for the
  batch, the household's units per referral) and alone (``routing_plan_for``: the
  referral's own reads and its units' loads): median and p95 per decision and decisions
  per second; and the same referrals routed as one batch (``services.referrals_route``:
  decided and written), per referral;
- a burst: it starts ``celery worker`` (prefork, ``--concurrency`` processes on the routing
  queue, two more on the deliveries queue, as docker-compose.yml runs them), submits
  ``--referrals`` referrals through ``referral_submit`` as the intake page does (committed,
  routing queued on commit) from ``--submitters`` threads (people pressing Submit at once),
  ``--interval`` seconds apart in each thread, and records when each referral's routing
  event and its unit's notifications exist: submit → assigned and submit → notified
  (median, p95, max), and the throughput, referrals routed and notified per second from
  the first submission to the last notification. ``--interval 0`` is a burst: the figures
  include the time spent queueing. The referrals it makes are flagged ``is_demo_data`` and
  left in place;
- the worker's cost (``--worker-cost``): that many referrals submitted, then their route
  messages run in process as the worker runs them (follow-ups inline, nothing published):
  queries and CPU per referral.

``measure(**options)`` returns the rows for bench/run.py.
"""

import argparse
import os
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

NEEDS = ["child_family", "mental_health", "elderly_care", "carer_support", "financial_hardship"]
percentile = harness.percentile


def start_worker(concurrency: int, *, queues: str, name: str) -> subprocess.Popen:
    """A worker on ``queues``, as docker-compose.yml runs them: routing and notifying on
    ``celery``, e-mails and webhooks on ``deliveries`` in a pool of their own."""
    worker = subprocess.Popen(  # noqa: S603
        [
            str(ROOT / ".venv/bin/celery"),
            "-A",
            "welfare_portal",
            "worker",
            f"--concurrency={concurrency}",
            "-Q",
            queues,
            "-n",
            f"{name}@%h",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "warning",
        ],
        cwd=ROOT,
        env=os.environ
        | {
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "WEBHOOK_ALLOWED_PRIVATE_NETWORKS": "127.0.0.1/32",  # the --hanging-webhook one
        },
    )
    from welfare_portal.celery import app

    for _attempt in range(60):
        if any(name in reply for answer in app.control.ping(timeout=0.5) for reply in answer):
            return worker
        time.sleep(0.5)
    worker.terminate()
    raise SystemExit(f"the {name} worker did not answer a ping within 30 s")


def hanging_endpoint() -> socket.socket:
    """A listener on loopback that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    return listener


def submit(user, team, sub_district, need, number: int):
    from django.utils import timezone

    from referrals.submission import referral_submit

    referral, _created = referral_submit(
        referrer=user,
        team=team,
        token=uuid.uuid4(),
        values={
            "district": sub_district.district,
            "sub_district": sub_district,
            "subject_name_en": f"Bench case {number}",
            "phone": f"+8526{number % 10_000_000:07d}",
            "household": "lives_alone",
            "consent_basis": "consent",
            "consent_given_by": "subject",
            "consent_method": "verbal",
            "consent_given_at": timezone.now(),
            "is_demo_data": True,
        },
        needs=[need],
    )
    return referral


def intake(referrer: str):
    """The referrer, their caring team, a sub-district it covers and the bench's needs."""
    from accounts.models import User
    from referrals.selectors import referrer_teams
    from services.models import NeedCategory

    user = User.objects.get(username=referrer)
    team = referrer_teams(user=user).first()
    sub_district = team.catchment_sub_districts.select_related("district").first()
    return user, team, sub_district, [NeedCategory.objects.get(code=code) for code in NEEDS]


def first_number() -> int:
    """Phone numbers no earlier run used (a shared one would make them one household)."""
    return uuid.uuid4().int % 9_000_000


class RolledBack(Exception):
    pass


def decisions(count: int, *, referrer: str = harness.DEMO_REFERRER) -> list[dict]:
    """Routing decisions with the directory warm, on ``count`` referrals submitted in a
    transaction rolled back at the end: one at a time (``routing_plan_for``), in a batch
    (``RoutingBatch.plan``), and routed as a batch (``services.referrals_route``)."""
    from django.db import transaction

    from referrals import services
    from referrals.models import Referral
    from referrals.routing_directory import routing_directory
    from referrals.routing_inputs import RoutingBatch, routing_plan_for

    user, team, sub_district, needs = intake(referrer)
    start = first_number()
    single, batched, setup, routed, write = [], [], 0.0, [], 0.0
    try:
        with transaction.atomic():
            ids = [
                submit(user, team, sub_district, needs[n % len(needs)], start + n).pk
                for n in range(count)
            ]
            routing_directory()  # warm, as in a worker after its first referral
            waiting = Referral.objects.select_related("district", "sub_district")
            for referral in waiting.filter(pk__in=ids).order_by("pk"):
                single.append(timed(routing_plan_for, referral))
            setup = timed(RoutingBatch, ids)
            batch = RoutingBatch(ids)
            batched = [timed(batch.plan, referral) for referral in batch.referrals]
            started = time.perf_counter()
            routed = services.referrals_route(ids)
            write = time.perf_counter() - started
            raise RolledBack
    except RolledBack:
        pass
    return [
        decision_row(
            "routing_decision",
            "routing decision, in a batch (directory warm)",
            batched,
            f"{len(batched)} decisions; the batch's own reads {setup:.1f} ms",
        ),
        decision_row(
            "routing_decision_single",
            "routing decision, one referral (directory warm)",
            single,
            "the referral's reads and its units' loads: 4 queries",
        ),
        {
            "key": "routing_batch",
            "what": "routed in a batch: decided and written, per referral",
            "median_ms": write * 1000 / max(len(routed), 1),
            "per_s": len(routed) / write if write else float("nan"),
            "note": f"{len(routed)} referrals in one transaction (services.referrals_route)",
        },
    ]


def timed(func, *args) -> float:
    started = time.perf_counter()
    func(*args)
    return (time.perf_counter() - started) * 1000


def decision_row(key: str, what: str, timings: list[float], note: str) -> dict:
    total = sum(timings) / 1000
    return {
        "key": key,
        "what": what,
        "median_ms": harness.median(timings),
        "p95_ms": harness.percentile(timings, 0.95),
        "per_s": len(timings) / total if total else float("nan"),
        "note": note,
    }


def worker_cost(count: int, *, referrer: str = harness.DEMO_REFERRER) -> dict:
    """The worker's cost per referral, in process: ``count`` referrals submitted, then their
    route messages run by ``outbox.run`` in turn as a worker would (the first routes the
    batch, the others find theirs done, follow-ups inline), nothing published."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from referrals import outbox, services
    from referrals.models import OutboxMessage

    user, team, sub_district, needs = intake(referrer)
    start = first_number()
    route = OutboxMessage.objects.filter(job=services.referral_route.outbox_job)

    def submitted(numbers) -> list[OutboxMessage]:
        ids = [
            submit(user, team, sub_district, needs[n % len(needs)], start + n).pk for n in numbers
        ]
        return list(route.filter(args__referral_id__in=ids).order_by("pk"))

    original, outbox.publish = outbox.publish, lambda message, **kw: True
    try:
        for message in submitted([count]):  # warm: the directory, templates and URLs
            outbox.run(message.pk)
        messages = submitted(range(count))
        started, cpu = time.perf_counter(), time.process_time()
        with CaptureQueriesContext(connection) as queries:
            for message in messages:
                outbox.run(message.pk)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        outbox.publish = original
    return {
        "key": "worker_cost",
        "what": "worker, in process: per referral routed and told",
        "median_ms": wall * 1000 / count,
        "per_s": count / wall,
        "note": f"{len(queries.captured_queries) / count:.1f} queries and "
        f"{cpu * 1000 / count:.1f} ms CPU a referral ({count} route messages)",
    }


def start_workers(concurrency: int, *, one_pool: bool) -> list[subprocess.Popen]:
    if one_pool:
        return [start_worker(concurrency, queues="celery,deliveries", name="bench-all")]
    return [
        start_worker(concurrency, queues="celery", name="bench-routing"),
        start_worker(2, queues="deliveries", name="bench-deliveries"),
    ]


def submit_all(count: int, *, submitters: int, interval: float, referrer: str) -> list[int]:
    """``count`` referrals from ``submitters`` threads at once, each ``interval`` s apart."""
    from django.db import connection

    user, team, sub_district, needs = intake(referrer)
    start = first_number()

    def one_thread(numbers):
        try:
            ids = []
            for number in numbers:
                need = needs[number % len(needs)]
                ids.append(submit(user, team, sub_district, need, start + number).pk)
                time.sleep(interval)
            return ids
        finally:
            connection.close()

    shares = [range(k, count, submitters) for k in range(submitters)]
    with ThreadPoolExecutor(submitters) as pool:
        return [pk for ids in pool.map(one_thread, shares) for pk in ids]


def wait_until_told(ids: list[int], *, timeout: float = 300) -> None:
    """Until every referral has its routing event and every staffed unit its notification."""
    from accounts.models import Membership
    from referrals.models import Notification, Referral, ReferralEvent

    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        routed = ReferralEvent.objects.filter(referral_id__in=ids, kind="routing")
        staffed = Referral.objects.filter(
            pk__in=ids, assigned_unit__memberships__role__in=Membership.STAFF_ROLES
        )
        told = Notification.objects.filter(referral_id__in=ids, kind="assigned")
        if (
            routed.values("referral_id").distinct().count() == len(ids)
            and told.values("referral_id").distinct().count()
            == staffed.values("pk").distinct().count()
        ):
            return
        time.sleep(0.05)


def burst_figures(ids: list[int]) -> dict:
    """Per referral, from the timestamps the web process and the worker wrote (one clock):
    submit → first routing event, submit → last "assigned" notification."""
    from referrals.models import Notification, Referral, ReferralEvent

    submitted = dict(Referral.objects.filter(pk__in=ids).values_list("pk", "submitted_at"))
    routed, notified = {}, {}
    for referral_id, at in ReferralEvent.objects.filter(
        referral_id__in=ids, kind="routing"
    ).values_list("referral_id", "at"):
        routed[referral_id] = min(at, routed.get(referral_id, at))
    for referral_id, at in Notification.objects.filter(
        referral_id__in=ids, kind="assigned"
    ).values_list("referral_id", "created_at"):
        notified[referral_id] = max(at, notified.get(referral_id, at))

    def ms(moments):
        return [(moments[pk] - submitted[pk]).total_seconds() * 1000 for pk in moments]

    ends = list(routed.values()) + list(notified.values())
    span = (max(ends) - min(submitted.values())).total_seconds() if ends else float("nan")
    first_to_last = (max(submitted.values()) - min(submitted.values())).total_seconds()
    return {
        "to_assigned": ms(routed),
        "to_notified": ms(notified),
        "span": span,
        "submit_rate": len(ids) / first_to_last if first_to_last else float("nan"),
    }


def burst(
    count: int = 200,
    *,
    concurrency: int = 2,
    submitters: int = 4,
    interval: float = 0.0,
    referrer: str = harness.DEMO_REFERRER,
    hanging_webhook: bool = False,
    one_pool: bool = False,
) -> dict:
    """Submit ``count`` referrals with real workers running; the figures of
    ``burst_figures`` and how many were routed and told."""
    from referrals.models import WebhookEndpoint
    from services.models import Organisation
    from welfare_portal.celery import app

    app.control.purge()  # tasks left by an earlier run would be counted against this one
    endpoints = []
    if hanging_webhook:
        listener = hanging_endpoint()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
        endpoints = [
            WebhookEndpoint.objects.create(organisation=organisation, url=url)
            for organisation in Organisation.objects.filter(units__isnull=False).distinct()
        ]
    workers = start_workers(concurrency, one_pool=one_pool)
    try:
        ids = submit_all(count, submitters=submitters, interval=interval, referrer=referrer)
        wait_until_told(ids)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=60)
        for endpoint in endpoints:
            endpoint.delete()
    return {"ids": ids, **burst_figures(ids)}


def burst_rows(figures: dict, *, submitters: int) -> list[dict]:
    count = len(figures["ids"])
    assigned, notified = figures["to_assigned"], figures["to_notified"]
    note = (
        f"{count} from {submitters} threads at {figures['submit_rate']:.0f} /s; "
        f"routed {len(assigned)}, notified {len(notified)} (units with staff)"
    )
    return [
        {
            "key": "burst",
            "what": f"burst of {count}: submit → assigned, throughput",
            "median_ms": harness.median(assigned),
            "p95_ms": harness.percentile(assigned, 0.95),
            "per_s": len(assigned) / figures["span"] if figures["span"] else float("nan"),
            "note": note,
        },
        {
            "key": "burst_notified",
            "what": f"burst of {count}: submit → unit notified",
            "median_ms": harness.median(notified),
            "p95_ms": harness.percentile(notified, 0.95),
            "note": "the last of the unit's staff told",
        },
    ]


def measure(
    *,
    decisions_count: int = 200,
    referrals: int = 200,
    concurrency: int = 2,
    submitters: int = 4,
    referrer: str = harness.DEMO_REFERRER,
) -> list[dict]:
    """The rows for bench/run.py: decisions in process, then a burst of ``referrals``
    (``REDIS_URL`` must be set)."""
    rows = decisions(decisions_count, referrer=referrer)
    figures = burst(referrals, concurrency=concurrency, submitters=submitters, referrer=referrer)
    return rows + burst_rows(figures, submitters=submitters)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--referrals", type=int, default=200)
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--submitters", type=int, default=4, help="threads submitting at once")
    parser.add_argument(
        "--interval",
        type=float,
        default=0.0,
        help="seconds between one thread's submissions (0: a burst: throughput and queueing)",
    )
    parser.add_argument(
        "--worker-cost",
        type=int,
        default=50,
        help="referrals whose route messages are run in process: queries and CPU (0: skip)",
    )
    parser.add_argument("--referrer", default=harness.DEMO_REFERRER)
    parser.add_argument(
        "--hanging-webhook",
        action="store_true",
        help="every organisation's units call a webhook that never answers (WEBHOOK_TIMEOUT)",
    )
    parser.add_argument(
        "--one-pool",
        action="store_true",
        help="one worker for both queues (as before deliveries had their own), for comparison",
    )
    return parser.parse_args()


def main() -> None:
    args = arguments()
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("set REDIS_URL: this measures a real worker, not eager mode")
    harness.configure()
    from django.db import connection

    from referrals.models import Referral

    total = Referral.objects.count()
    rows = decisions(args.decisions, referrer=args.referrer) if args.decisions else []
    if args.worker_cost:
        rows.append(worker_cost(args.worker_cost, referrer=args.referrer))
    figures = burst(
        args.referrals,
        concurrency=args.concurrency,
        submitters=args.submitters,
        interval=args.interval,
        referrer=args.referrer,
        hanging_webhook=args.hanging_webhook,
        one_pool=args.one_pool,
    )
    rows += burst_rows(figures, submitters=args.submitters)
    print(
        f"\nDatabase: {connection.vendor}, {total:,} referrals before the run; worker "
        f"concurrency {args.concurrency}"
        f"{', one pool for both queues' if args.one_pool else ' (+2 for deliveries)'}; "
        f"{args.referrals} submitted by {args.submitters} threads, {args.interval} s apart"
        f"{'; every webhook hangs' if args.hanging_webhook else ''}; load {os.getloadavg()}.\n"
    )
    print(f"{'measure':<52}{'median ms':>10}{'p95 ms':>10}{'per s':>10}  note")
    for row in rows:
        print(
            f"{row['what']:<52}{row.get('median_ms', float('nan')):>10.1f}"
            f"{row.get('p95_ms', float('nan')):>10.1f}{row.get('per_s', float('nan')):>10.1f}"
            f"  {row.get('note', '')}"
        )
    if figures["to_notified"]:
        print(f"{'submit → notified, max (ms)':<52}{max(figures['to_notified']):>10.1f}")


if __name__ == "__main__":
    main()
