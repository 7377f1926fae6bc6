"""The dashboard cold (its figures' cache cleared before every request), through gunicorn.

Usage (a database seeded with ``seed_demo --referrals 1000000``, see docs/benchmarks.md)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/welfare_bench \\
    REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python bench/dashboard.py --requests 30

``measure`` is what the one-command bench runner calls, with gunicorn already started on
the same database and Redis as this process (``harness.configure``): before each request
it deletes the cache entry of the figures of the session's scope
(``referrals.dashboard.dashboard_cache_key``), so every timed request counts its figures
again; the other apps' panels (outreach's totals) keep their own cache, as they would in
production where both expire independently. ``everything=True`` clears the whole cache
instead (panels cold too).
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness  # noqa: E402

OFFICE = harness.DEMO_OFFICER  # Sham Shui Po's district officer: one district
HEADQUARTERS = "admin"  # the demo's administrator (headquarters): all 18 districts


def scope_key(session_key: str) -> tuple[str, int]:
    """(the figures' cache key, the number of districts) of the session's user."""
    from django.contrib.auth import SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.models import User
    from referrals.dashboard import dashboard_cache_key, dashboard_districts

    user = User.objects.get(pk=SessionStore(session_key=session_key)[SESSION_KEY])
    districts = dashboard_districts(user=user)
    return dashboard_cache_key(districts), len(districts)


def measure(
    base: str, sessions: dict[str, str], requests: int, *, warmup: int = 2, everything=False
) -> list[dict]:
    """One row per session ({label: session key}, e.g. {"office": …, "all districts": …}):
    median and p95 ms of ``requests`` cold GETs of /dashboard/ after ``warmup`` untimed."""
    from django.core.cache import cache

    rows = []
    for label, session_key in sessions.items():
        key, districts = scope_key(session_key)
        client = harness.browser(base, session_key)
        timings, status, size = [], 0, 0
        for number in range(warmup + requests):
            if everything:
                cache.clear()
            else:
                cache.delete(key)
            started = time.perf_counter()
            response = client.get(f"{base}/dashboard/", allow_redirects=False, timeout=60)
            took = (time.perf_counter() - started) * 1000
            status, size = response.status_code, len(response.content)
            if status != 200:
                break
            if number >= warmup:
                timings.append(took)
        cleared = "whole cache" if everything else "figures' cache"
        rows.append(
            {
                "what": f"dashboard cold, {label} ({districts} districts)",
                "median_ms": round(harness.median(timings), 1),
                "p95_ms": round(harness.percentile(timings, 0.95), 1),
                "note": (
                    f"{cleared} cleared before each of {len(timings)} GETs; "
                    f"{size / 1024:.0f} KB" + ("" if status == 200 else f"; status {status}")
                ),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--everything", action="store_true", help="clear the whole cache")
    args = parser.parse_args()

    harness.configure()
    sessions = {
        "office": harness.signed_in_session(OFFICE),
        "all districts": harness.signed_in_session(HEADQUARTERS),
    }
    server, base = harness.start_gunicorn(workers=args.workers, threads=1)
    try:
        rows = measure(base, sessions, args.requests, everything=args.everything)
    finally:
        harness.stop(server)
    print(f"{'what':<44}{'median ms':>10}{'p95 ms':>10}  note")
    for row in rows:
        print(f"{row['what']:<44}{row['median_ms']:>10}{row['p95_ms']:>10}  {row['note']}")


if __name__ == "__main__":
    main()
