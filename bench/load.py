"""Load test: referrers filing referrals through the real form while district officers
browse their queue and dashboard and a partner system syncs through the API; then proof
that nothing was lost.

Usage (PostgreSQL and Redis given by the environment; loopback only)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/welfare_bench \\
    REDIS_URL=redis://127.0.0.1:6379/7 \\
        .venv/bin/python bench/load.py --submissions 1000

The database must be migrated and seeded (``seed_demo``: the demo caring team, officer and
partner client). The script adds ``--referrers`` caring-team members (``load.referrer.NNN``),
makes their and the officers' sessions on the server (``harness.signed_in_session``), starts
gunicorn (production settings) and a Celery worker, then runs until ``--submissions`` referrals
were sent: each referrer thread loads the form (CSRF and submission tokens) and posts it;
``--officers`` threads alternate /queue/ and /dashboard/; one partner thread takes an OAuth2
token (client credentials) and follows the sync pass's ``next`` links, starting a new pass
from the last ``until`` when one ends.

It prints, per kind of request, the count, throughput, p50/p95/p99 latency and errors
(answers of 400 and above, and exceptions). Then it waits (at most ``--drain-timeout``
seconds) for the worker to route every referral the portal confirmed (a redirect to its
page), matched by the form's submission token, and prints ``lost: N``: confirmed but not in
the database, or not routed exactly once (one ``routing`` event). Exit status 1 if N > 0.
"""

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness  # noqa: E402

TIMEOUT = 60


class Run:
    def __init__(self, base: str, submissions: int):
        self.base = base
        self.remaining = submissions
        self.timings: dict[str, harness.Timings] = {}
        self.confirmed: list[str] = []  # submission tokens the portal confirmed
        self.lock = threading.Lock()
        self.done = threading.Event()

    def take(self) -> bool:
        with self.lock:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
            return True

    def timed(self, kind: str, call):
        timings = self.timings.setdefault(kind, harness.Timings())
        started = time.perf_counter()
        try:
            response = call()
        except Exception:  # noqa: BLE001 - a refused or timed-out request is an error
            timings.add(None, started)
            return None
        timings.add(response.status_code, started)
        return response


def referrer(run: Run, session_key: str, choices) -> None:
    client = harness.browser(run.base, session_key)
    while run.take():
        page = run.timed(
            "form GET", lambda: client.get(f"{run.base}/referrals/new/", timeout=TIMEOUT)
        )
        if page is None or page.status_code != 200:
            continue
        data = harness.referral_post_data(page.text, choices, harness.new_label())
        response = run.timed(
            "filing (Continue, check page, Submit)",
            lambda d=data: harness.file_referral(client, run.base, d, TIMEOUT),
        )
        if harness.filed(response):
            with run.lock:
                run.confirmed.append(data["token"])


def officer(run: Run, session_key: str) -> None:
    client = harness.browser(run.base, session_key)
    pages = [("officer /queue/", "/queue/"), ("officer /dashboard/", "/dashboard/")]
    number = 0
    while not run.done.is_set():
        kind, path = pages[number % 2]
        run.timed(kind, lambda p=path: client.get(run.base + p, timeout=TIMEOUT))
        number += 1


def partner(run: Run) -> None:
    token = harness.partner_token(run.base)
    client = harness.browser(run.base)
    client.headers["Authorization"] = f"Bearer {token}"
    url = f"{run.base}/api/v1/referrals/?page_size=100"
    while not run.done.is_set():
        response = run.timed("partner sync page", lambda u=url: client.get(u, timeout=TIMEOUT))
        if response is None or response.status_code != 200:
            time.sleep(0.5)
            continue
        page = response.json()
        # A pass ended: the next one starts where it stopped (``until``, URL-encoded: "+").
        url = page["next"] or (
            f"{run.base}/api/v1/referrals/?page_size=100&updated_after={quote(page['until'])}"
        )


def lost_submissions(tokens: list[str]) -> dict:
    from django.db import connection
    from django.db.models import Count, Q

    from referrals.models import Referral

    connection.close()
    routed = dict(
        Referral.objects.filter(submission_token__in=tokens)
        .annotate(routings=Count("events", filter=Q(events__kind="routing")))
        .values_list("submission_token", "routings")
    )
    routed = {str(token): count for token, count in routed.items()}
    return {
        "confirmed": len(tokens),
        "in_database": len(routed),
        "routed_once": sum(1 for count in routed.values() if count == 1),
        "routed_more_than_once": sum(1 for count in routed.values() if count > 1),
        "not_routed_yet": sum(1 for count in routed.values() if count == 0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--referrers", type=int, default=50)
    parser.add_argument("--officers", type=int, default=4)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery pool size")
    parser.add_argument("--drain-timeout", type=float, default=300)
    args = parser.parse_args()
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        parser.error("set DATABASE_URL (PostgreSQL) and REDIS_URL (the Celery broker)")

    harness.configure()
    from referrals.models import Referral

    logs = Path(tempfile.mkdtemp(prefix="welfare-load-"))
    choices = harness.FormChoices.for_demo_team()
    referrer_sessions = [
        harness.signed_in_session(name) for name in harness.make_referrers(args.referrers)
    ]
    officer_sessions = [
        harness.signed_in_session(harness.DEMO_OFFICER) for _ in range(args.officers)
    ]
    existing = Referral.objects.count()
    gunicorn, base = harness.start_gunicorn(
        workers=args.workers, threads=args.threads, log=logs / "web.log"
    )
    worker = harness.start_worker(logs / "worker.log", concurrency=args.worker_concurrency)
    run = Run(base, args.submissions)
    try:
        threads = [
            threading.Thread(target=referrer, args=(run, key, choices)) for key in referrer_sessions
        ]
        background = [threading.Thread(target=officer, args=(run, k)) for k in officer_sessions]
        background.append(threading.Thread(target=partner, args=(run,)))
        started = time.perf_counter()
        for thread in threads + background:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        run.done.set()
        for thread in background:
            thread.join(TIMEOUT + 5)

        print(
            f"\n{existing:,} referrals before; {args.referrers} referrers, {args.officers} "
            f"officers, 1 partner; gunicorn {args.workers}x{args.threads} threads; "
            f"{elapsed:.1f} s.\n"
        )
        header = f"{'request':<24}{'count':>7}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}"
        print(header + f"{'p99 ms':>9}{'errors':>8}")
        for kind, timings in sorted(run.timings.items()):
            values = timings.latencies
            print(
                f"{kind:<24}{len(values):>7}{len(values) / elapsed:>8.1f}"
                f"{harness.percentile(values, 0.5):>9.0f}{harness.percentile(values, 0.95):>9.0f}"
                f"{harness.percentile(values, 0.99):>9.0f}{timings.errors:>8}"
            )
        statuses = {kind: timings.statuses for kind, timings in run.timings.items()}
        print(f"\nstatuses: {statuses}")

        drain_started = time.monotonic()
        figures = lost_submissions(run.confirmed)
        while (
            figures["routed_once"] + figures["routed_more_than_once"] < figures["in_database"]
            and time.monotonic() - drain_started < args.drain_timeout
        ):
            time.sleep(2)
            figures = lost_submissions(run.confirmed)
        drained = time.monotonic() - drain_started
    finally:
        harness.stop(worker)
        harness.stop(gunicorn)
    lost = (
        figures["confirmed"]
        - figures["in_database"]
        + figures["routed_more_than_once"]
        + figures["not_routed_yet"]
    )
    print(f"\nafter {drained:.1f} s of draining: {figures}")
    print(f"lost: {lost}")
    print(f"logs: {logs}")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
