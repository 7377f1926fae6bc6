"""Latency of the work pages at realistic volume, through gunicorn on loopback.

Usage (a database seeded with ``seed_demo --referrals 1000000``, see docs/benchmarks.md)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/welfare_bench \\
        .venv/bin/python bench/pages.py --requests 50

It starts gunicorn (``--workers``, bench/harness.py's production settings: DEBUG off,
WhiteNoise, sessions in the database) on a free loopback port, signs the demo users in by
creating their sessions (two-factor verified, as after a checked code), then requests each
page ``--requests`` times one after another (after a few warm-up requests) and prints median
and p95 latency in milliseconds, the response size and the status. Redirects are not
followed: a page answering anything but 200 (the sign-in or two-factor page instead of the
one asked for) is reported, not timed. Requests write access-log rows, as real page views
do.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness  # noqa: E402


def fetch(client, url: str) -> tuple[int, int, float]:
    started = time.perf_counter()
    response = client.get(url, allow_redirects=False, timeout=30)
    return response.status_code, len(response.content), (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    harness.configure()
    from referrals.models import Referral
    from services.models import NeedCategory

    officer = harness.signed_in_session(harness.DEMO_OFFICER)
    worker_user = harness.signed_in_session("worker.ifsc.ssp")
    referrer = harness.signed_in_session(harness.DEMO_REFERRER)
    housing = NeedCategory.objects.get(code="housing").pk
    pages = [
        ("queue: default (needs action now)", "/queue/", officer),
        (
            "queue: filtered (open, urgent, housing, oldest)",
            f"/queue/?view=open&risk_level=urgent&need={housing}&sort=oldest",
            officer,
        ),
        ("queue: page 200 of all", "/queue/?view=all&page=200", officer),
        ("inbox: new", "/inbox/", worker_user),
        ("inbox: open", "/inbox/?tab=open", worker_user),
        ("dashboard (figures cached for a minute)", "/dashboard/", officer),
        ("my referrals (officer)", "/referrals/", officer),
        ("referral form (referrer)", "/referrals/new/", referrer),
        ("my referrals (referrer)", "/referrals/", referrer),
    ]

    server, base = harness.start_gunicorn(workers=args.workers, threads=1)
    try:
        print(
            f"\n{Referral.objects.count():,} referrals; gunicorn --workers {args.workers}; "
            f"{args.requests} sequential requests per page after {args.warmup} warm-up.\n"
        )
        print(f"{'page':<50}{'median ms':>10}{'p95 ms':>10}{'KB':>8}{'status':>8}")
        clients = {key: harness.browser(base, key) for key in (officer, worker_user, referrer)}
        for label, path, session_key in pages:
            timings, size, status = [], 0, 0
            for number in range(args.warmup + args.requests):
                status, size, took = fetch(clients[session_key], base + path)
                if status != 200:
                    break
                if number >= args.warmup:
                    timings.append(took)
            if status != 200:
                print(f"{label:<50}{'-':>10}{'-':>10}{'-':>8}{status:>8}")
                continue
            print(
                f"{label:<50}{harness.median(timings):>10.1f}"
                f"{harness.percentile(timings, 0.95):>10.1f}{size / 1024:>8.1f}{status:>8}"
            )
    finally:
        harness.stop(server)


if __name__ == "__main__":
    main()
