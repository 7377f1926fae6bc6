"""How long from "submitted" to "assigned, unit told", with a real Celery worker.

Usage (PostgreSQL and Redis running; the database seeded with ``seed_demo``, ideally with
``--referrals 1000000`` for realistic volume)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/welfare_bench \\
    REDIS_URL=redis://127.0.0.1:6379/9 DEBUG=true \\
        .venv/bin/python bench/routing.py --referrals 200

It starts ``celery worker`` (prefork, ``--concurrency`` processes), submits referrals one by
one through ``referral_submit`` as the intake page does (committed, routing queued on
commit), ``--interval`` seconds apart, and records for each when the routing event and the
unit's notifications exist. ``--interval 0`` submits a burst: the figures then include the
time spent queueing, and the throughput line is the worker's capacity.
It prints a table: routing decision time in-process, submit → assigned and submit →
notified (median, p95, max), and throughput. The referrals it makes are flagged
``is_demo_data`` and left in place.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "welfare_portal.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Membership, User  # noqa: E402
from referrals.models import Notification, Referral, ReferralEvent, WebhookEndpoint  # noqa: E402
from referrals.routing_inputs import routing_decision_for  # noqa: E402
from referrals.selectors import referrer_teams  # noqa: E402
from referrals.submission import referral_submit  # noqa: E402
from services.models import NeedCategory, Organisation  # noqa: E402

NEEDS = ["child_family", "mental_health", "elderly_care", "carer_support", "financial_hardship"]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


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


def submit(user, team, sub_district, need, number: int) -> Referral:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--referrals", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--interval",
        type=float,
        default=0.25,
        help="seconds between submissions (0: a burst, which measures throughput and queueing)",
    )
    parser.add_argument("--referrer", default="referrer.ssp")
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
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("set REDIS_URL: this measures a real worker, not eager mode")

    user = User.objects.get(username=args.referrer)
    team = referrer_teams(user=user).first()
    sub_district = team.catchment_sub_districts.select_related("district").first()
    needs = [NeedCategory.objects.get(code=code) for code in NEEDS]
    total = Referral.objects.count()

    decision_times = []
    sample = Referral.objects.filter(status="submitted").order_by("-pk")[:1] or [None]
    if sample[0] is not None:
        for _ in range(20):
            started = time.perf_counter()
            routing_decision_for(sample[0])
            decision_times.append((time.perf_counter() - started) * 1000)

    from welfare_portal.celery import app

    app.control.purge()  # tasks left by an earlier run would be counted against this one
    endpoints = []
    if args.hanging_webhook:
        listener = hanging_endpoint()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
        endpoints = [
            WebhookEndpoint.objects.create(organisation=organisation, url=url)
            for organisation in Organisation.objects.filter(units__isnull=False).distinct()
        ]
    if args.one_pool:
        workers = [start_worker(args.concurrency, queues="celery,deliveries", name="bench-all")]
    else:
        workers = [
            start_worker(args.concurrency, queues="celery", name="bench-routing"),
            start_worker(2, queues="deliveries", name="bench-deliveries"),
        ]
    try:
        ids = []
        started = time.perf_counter()
        for number in range(args.referrals):
            ids.append(submit(user, team, sub_district, needs[number % len(needs)], number).pk)
            time.sleep(args.interval)
        deadline = time.perf_counter() + 300
        while time.perf_counter() < deadline:
            routed_count = ReferralEvent.objects.filter(referral_id__in=ids, kind="routing")
            staffed = Referral.objects.filter(
                pk__in=ids, assigned_unit__memberships__role__in=Membership.STAFF_ROLES
            )
            told = Notification.objects.filter(referral_id__in=ids, kind="assigned")
            if (
                routed_count.count() == len(ids)
                and told.values("referral_id").distinct().count()
                == staffed.values("pk").distinct().count()
            ):
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=60)
        for endpoint in endpoints:
            endpoint.delete()

    # Timestamps written by the web process and the worker on the same clock.
    submitted = dict(Referral.objects.filter(pk__in=ids).values_list("pk", "submitted_at"))
    routed = dict(
        ReferralEvent.objects.filter(referral_id__in=ids, kind="routing").values_list(
            "referral_id", "at"
        )
    )
    notified = {}
    for referral_id, at in Notification.objects.filter(
        referral_id__in=ids, kind="assigned"
    ).values_list("referral_id", "created_at"):
        notified[referral_id] = max(at, notified.get(referral_id, at))
    to_assigned = [(routed[pk] - submitted[pk]).total_seconds() * 1000 for pk in routed]
    to_notified = [(notified[pk] - submitted[pk]).total_seconds() * 1000 for pk in notified]
    print(
        f"\nDatabase: {connection.vendor}, {total:,} referrals before the run; "
        f"worker concurrency {args.concurrency}"
        f"{', one pool for both queues' if args.one_pool else ' (+2 for deliveries)'}; "
        f"{args.referrals} "
        f"submitted one by one, {args.interval} s apart"
        f"{'; every webhook hangs' if args.hanging_webhook else ''}.\n"
    )
    print(f"{'measure':<40}{'median':>10}{'p95':>10}{'max':>10}")
    rows = [
        ("routing decision, in-process (ms)", decision_times),
        ("submit committed → assigned (ms)", to_assigned),
        ("submit committed → unit notified (ms)", to_notified),
    ]
    for label, values in rows:
        if values:
            print(
                f"{label:<40}{statistics.median(values):>10.1f}"
                f"{percentile(values, 0.95):>10.1f}{max(values):>10.1f}"
            )
    print(f"{'routed':<40}{len(to_assigned):>10} / {len(ids)}")
    print(f"{'notified (units with staff accounts)':<40}{len(to_notified):>10}")
    print(f"{'throughput (referrals/s, end to end)':<40}{len(to_assigned) / elapsed:>10.1f}")


if __name__ == "__main__":
    main()
