"""Latency of the work pages at realistic volume, through gunicorn on loopback.

Usage (a database seeded with ``seed_demo --referrals 1000000``, see docs/benchmarks.md)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/welfare_bench \\
        .venv/bin/python bench/pages.py --requests 50

It starts gunicorn (``--workers``, bench/harness.py's production settings: DEBUG off,
WhiteNoise, sessions in the database) on a free loopback port, signs the demo users in by
creating their sessions (two-factor verified, as after a checked code), then requests each
page ``--requests`` times one after another (after a few warm-up requests) and prints median
and p95 latency in milliseconds, the bytes on the wire (gzip accepted, as browsers ask) and
the status. Redirects are not followed: a page answering anything but 200 (the sign-in or
two-factor page instead of the one asked for) is reported, not timed. Requests write
access-log rows, as real page views do.

``raw`` pages also get a floor: every SQL statement the page ran (captured in process with
the same session) replayed by plain psycopg, rows fetched and ``json.dumps``-ed, one replay
after each HTTP request, so that both see the same machine. The ratio is page / raw.
"""

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness  # noqa: E402


@dataclass
class Page:
    key: str
    label: str
    path: str
    session: str  # a key of the sessions dict: officer, worker, referrer
    raw: bool = False


def pages(choices: dict) -> list[Page]:
    """The pages issue 20 sets targets for, with the demo users who work on them."""
    return [
        Page("form", "referral form (referrer)", "/referrals/new/", "referrer"),
        Page("mine_officer", "my referrals (district officer)", "/referrals/", "officer"),
        Page("mine_referrer", "my referrals (referrer)", "/referrals/", "referrer"),
        Page("mine_worker", "my referrals (unit worker)", "/referrals/", "worker"),
        Page("queue", "queue: default (needs action now)", "/queue/", "officer", raw=True),
        Page(
            "queue_filtered",
            "queue: filtered (open, urgent, housing, oldest)",
            f"/queue/?view=open&risk_level=urgent&need={choices['housing']}&sort=oldest",
            "officer",
        ),
        Page("queue_page_200", "queue: page 200 of all", "/queue/?view=all&page=200", "officer"),
        Page("inbox_new", "inbox: new", "/inbox/", "worker"),
        Page("inbox_open", "inbox: open", "/inbox/?tab=open", "worker"),
        Page("detail", "referral page (unit worker)", f"/referrals/{choices['case']}/", "worker"),
        Page("dashboard_warm", "dashboard (figures cached)", "/dashboard/", "officer"),
    ]


def demo_choices() -> dict:
    """Keys the pages' URLs need: the housing need, and an open case of the demo worker."""
    from accounts.models import Membership
    from referrals.models import ReferralTask
    from services.models import NeedCategory

    unit = Membership.objects.get(user__username="worker.ifsc.ssp", role="unit_staff").service_unit
    case = (
        ReferralTask.objects.open()
        .filter(unit=unit)
        .order_by("-pk")
        .values_list("referral__public_id", flat=True)[0]
    )
    return {"housing": NeedCategory.objects.get(code="housing").pk, "case": case}


def sessions() -> dict[str, str]:
    return {
        "officer": harness.signed_in_session(harness.DEMO_OFFICER),
        "worker": harness.signed_in_session("worker.ifsc.ssp"),
        "referrer": harness.signed_in_session(harness.DEMO_REFERRER),
    }


def fetch(client, url: str) -> tuple[int, int, float]:
    """Status, bytes on the wire and milliseconds of one GET."""
    started = time.perf_counter()
    response = client.get(url, allow_redirects=False, timeout=30, stream=True)
    body = response.raw.read()  # as sent: still compressed when the page was gzipped
    took = (time.perf_counter() - started) * 1000
    response.close()
    return response.status_code, len(body), took


def captured_sql(path: str, session_key: str) -> list[str]:
    """The statements one request of ``path`` runs in process, with its parameters bound."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_ACCEPT_LANGUAGE="en", SERVER_NAME="127.0.0.1")
    client.cookies[settings.SESSION_COOKIE_NAME] = session_key
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code} in process")
    return [query["sql"] for query in captured.captured_queries]


class RawReplay:
    """Replays a page's statements on a psycopg connection of its own, in a transaction that
    is rolled back (the access-log insert costs what it costs, and leaves no row)."""

    def __init__(self, statements: list[str]):
        self.statements = statements
        self.connection = harness.raw_connection()

    def __call__(self) -> float:
        started = time.perf_counter()
        with self.connection.cursor() as cursor:
            for statement in self.statements:
                cursor.execute(statement.encode(), prepare=False)
                if cursor.description is not None:
                    json.dumps(cursor.fetchall(), default=str)
        self.connection.rollback()
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        self.connection.close()


def measure(base: str, sessions: dict[str, str], *, requests: int, warmup: int) -> list[dict]:
    """One row per page: median and p95 ms, bytes on the wire, and for ``raw`` pages the
    psycopg replay of its SQL (median) and the ratio."""
    rows = []
    clients = {key: harness.browser(base, value) for key, value in sessions.items()}
    for page in pages(demo_choices()):
        client = clients[page.session]
        replay = RawReplay(captured_sql(page.path, sessions[page.session])) if page.raw else None
        timings, raw_timings, size, status = [], [], 0, 0
        try:
            for number in range(warmup + requests):
                status, size, took = fetch(client, base + page.path)
                if status != 200:
                    break
                raw_took = replay() if replay else None
                if number >= warmup:
                    timings.append(took)
                    if raw_took is not None:
                        raw_timings.append(raw_took)
        finally:
            if replay:
                replay.close()
        row = {"key": page.key, "what": page.label, "status": status, "kb": size / 1024}
        if status == 200:
            row.update(median_ms=harness.median(timings), p95_ms=harness.percentile(timings, 0.95))
        if raw_timings:
            row.update(
                raw_ms=harness.median(raw_timings),
                queries=len(replay.statements),
                ratio=row["median_ms"] / harness.median(raw_timings),
            )
        rows.append(row)
    return rows


def print_rows(rows: list[dict]) -> None:
    print(f"{'page':<50}{'median':>8}{'p95':>8}{'KB':>7}{'raw':>7}{'ratio':>7}{'status':>7}")

    def number(row: dict, key: str) -> str:
        return f"{row[key]:.1f}" if key in row else "-"

    for row in rows:
        print(
            f"{row['what']:<50}{number(row, 'median_ms'):>8}{number(row, 'p95_ms'):>8}"
            f"{row['kb']:>7.1f}{number(row, 'raw_ms'):>7}{number(row, 'ratio'):>7}"
            f"{row['status']:>7}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-vacuum", action="store_true", help="skip VACUUM (ANALYZE)")
    args = parser.parse_args()

    harness.configure()
    if not args.no_vacuum:
        print(f"bench: VACUUM (ANALYZE) took {harness.vacuum_analyse():.0f} s")
    from referrals.models import Referral

    users = sessions()
    server, base = harness.start_gunicorn(workers=args.workers, threads=1)
    try:
        print(
            f"\n{Referral.objects.count():,} referrals; gunicorn --workers {args.workers}; "
            f"{args.requests} sequential requests per page after {args.warmup} warm-up.\n"
        )
        print_rows(measure(base, users, requests=args.requests, warmup=args.warmup))
    finally:
        harness.stop(server)


if __name__ == "__main__":
    main()
