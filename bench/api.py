"""The partner API at realistic volume, through gunicorn on loopback.

Usage (a database seeded with ``seed_demo --referrals 1000000``, see docs/benchmarks.md)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/welfare_bench \\
        .venv/bin/python bench/api.py --pages 40 --filings 50

It creates the demo API clients if missing, starts gunicorn (production settings) on a free
loopback port, takes OAuth2 tokens, then times, one request after another:

- a sync pass of the NGO running Sham Shui Po IFSC 1 (``page_size=500``, following ``next``
  for ``--pages`` pages): latency per page and rows per second;
- a full sync of that organisation (every page, following ``next`` to the end): referrals
  per second through HTTP, and beside it the same pages' SQL (captured in process, the
  statements that read the rows) replayed by plain psycopg with ``json.dumps`` ("raw");
- the first, a middle and the last page of that sync, each requested ``--repeat`` times,
  one raw replay after each request (so both see the same machine), and the ratio;
- reading referrals in full (``GET /api/v1/referrals/{reference}/``);
- filing referrals (``POST /api/v1/referrals/`` with a new Idempotency-Key each), and
  replaying one key (the same body again).

It analyses the tables first (autovacuum is off on the development machines).
``measure(base, token)`` is what ``bench/run.py`` calls: rows for its table.

Without ``REDIS_URL`` the app runs tasks in-process, so a filing includes its routing; with
it (and no worker) the filing only queues the routing. Reads write access-log rows, as real
reads do.
"""

import argparse
import base64
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness  # noqa: E402
from bench.harness import percentile  # noqa: E402

harness.configure()

from accounts.demo import DEMO_CLIENT_SECRET, build_partner_clients  # noqa: E402
from referrals.models import Referral  # noqa: E402

FILING = {
    "district": "F",
    "sub_district": "F01",
    "subject_name_zh": "陳大文",
    "sex": "male",
    "age": 81,
    "phone": "61234567",
    "household": "elderly_couple",
    "needs": ["child_family"],
    "risk_factors": ["carer_hospitalised"],
    "situation": "Wife and carer admitted to hospital today.",
    "consent_basis": "consent",
    "consent_given_by": "subject",
    "consent_method": "verbal",
    "consent_given_at": "2026-11-23T10:00:00+08:00",
}


def call(url, *, token=None, data=None, headers=None, basic=None):
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
    body = None
    if isinstance(data, dict) and headers.get("Content-Type") == "application/json":
        body = json.dumps(data).encode()
    elif data is not None:
        body = urllib.parse.urlencode(data).encode()
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 - loopback
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    return status, json.loads(payload or b"null"), (time.perf_counter() - started) * 1000


def token(base, client_id, scope) -> str:
    status, body, _ = call(
        f"{base}/o/token/",
        data={"grant_type": "client_credentials", "scope": scope},
        basic=f"{client_id}:{DEMO_CLIENT_SECRET}",
    )
    assert status == 200, body
    return body["access_token"]


SYNC = "/api/v1/referrals/?page_size=500"
# The statements of a sync page that read its rows (the access log's insert and the
# token's reads are apart): the floor a page is compared with.
ROW_READS = ('SELECT "referrals_referral".', 'SELECT "referrals_referraltask".')


def captured_sql(path: str, token: str) -> list[str]:
    """The row-reading statements one request of ``path`` runs in process, parameters bound."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(SERVER_NAME="127.0.0.1")
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code} in process")
    return [q["sql"] for q in captured.captured_queries if q["sql"].startswith(ROW_READS)]


class RawReplay:
    """Plain psycopg on a connection of its own: the statements, rows fetched and dumped."""

    def __init__(self):
        self.connection = harness.raw_connection(autocommit=True)

    def __call__(self, statements: list[str]) -> float:
        started = time.perf_counter()
        with self.connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement.encode(), prepare=False)
                json.dumps(cursor.fetchall(), default=str)
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        self.connection.close()


def analyse() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("referrals_referral", "referrals_referraltask", "referrals_transfercase"):
            cursor.execute(f"ANALYZE {table}")


def path_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def full_sync(base: str, token: str) -> tuple[list[str], list[float], int, float]:
    """Every page of a pass: their paths, each page's ms, the rows and the seconds."""
    paths, timings, rows, url = [], [], 0, base + SYNC
    started = time.perf_counter()
    while url:
        status, body, took = call(url, token=token)
        assert status == 200, body
        paths.append(path_of(url))
        timings.append(took)
        rows += len(body["results"])
        url = body["next"]
    return paths, timings, rows, time.perf_counter() - started


def page_rows(base, token, paths, replay, repeat) -> list[dict]:
    """The first, a middle and the last page: HTTP and raw interleaved, and the ratio."""
    rows = []
    picks = {"first": paths[0], "middle": paths[len(paths) // 2], "last": paths[-1]}
    for name, path in picks.items():
        statements = captured_sql(path, token)
        http, raw = [], []
        for _ in range(repeat):
            status, body, took = call(base + path, token=token)
            assert status == 200, body
            http.append(took)
            raw.append(replay(statements))
        median_ms, raw_ms = statistics.median(http), statistics.median(raw)
        rows.append(
            {
                "key": f"api_page_{name}",
                "what": f"API sync page of 500, {name} page",
                "median_ms": median_ms,
                "p95_ms": percentile(http, 0.95),
                "raw_ms": raw_ms,
                "ratio": median_ms / raw_ms,
                "note": f"{len(body['results'])} rows; {len(statements)} statements replayed",
            }
        )
    return rows


def measure(base: str, token: str, *, repeat: int = 20, **_options) -> list[dict]:
    """The partner API's sync: a full pass of the organisation (HTTP and raw, referrals/s),
    then its first, middle and last page. Rows as ``bench/run.py`` prints them."""
    analyse()
    paths, timings, count, seconds = full_sync(base, token)
    replay = RawReplay()
    try:
        raw_seconds = sum(replay(captured_sql(path, token)) for path in paths) / 1000
        http_rate, raw_rate = count / seconds, count / raw_seconds
        rows = [
            {
                "key": "api_page",
                "what": "API sync page of 500 (every page of the pass)",
                "median_ms": statistics.median(timings),
                "p95_ms": percentile(timings, 0.95),
            },
            {
                "key": "api_full_sync",
                "what": f"API full sync of one organisation ({count:,} referrals)",
                "per_s": http_rate,
                "raw": f"{raw_rate:,.0f}/s",
                "ratio": http_rate / raw_rate,
                "note": f"{len(paths)} pages in {seconds:.1f} s; raw {raw_seconds:.1f} s "
                "(ratio: HTTP rate / raw rate)",
            },
        ]
        rows += page_rows(base, token, paths, replay, repeat)
    finally:
        replay.close()
    return rows


def print_rows(rows: list[dict]) -> None:
    print(f"\n{'what':<48}{'median':>9}{'p95':>9}{'per s':>9}{'raw':>10}{'ratio':>7}")
    for r in rows:
        raw = f"{r['raw_ms']:.1f}" if "raw_ms" in r else r.get("raw", "")
        print(
            f"{r['what']:<48}{r.get('median_ms', float('nan')):>9.1f}"
            f"{r.get('p95_ms', float('nan')):>9.1f}{r.get('per_s', float('nan')):>9,.0f}"
            f"{raw:>10}{r.get('ratio', float('nan')):>7.2f}"
        )
        if r.get("note"):
            print(f"    {r['note']}")


def row(label, timings, extra=""):
    print(
        f"{label:<44}{len(timings):>6}{statistics.median(timings):>10.1f}"
        f"{percentile(timings, 0.95):>10.1f}{max(timings):>10.1f}  {extra}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--details", type=int, default=50)
    parser.add_argument("--filings", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=20, help="requests per picked page")
    parser.add_argument("--no-full-sync", action="store_true", help="skip measure()")
    args = parser.parse_args()

    build_partner_clients()
    server, base = harness.start_gunicorn(workers=args.workers, threads=1)
    try:
        reader = token(base, "demo-ifsc-ssp", "referrals:read")
        filer = token(base, "demo-care-team-app", "referrals:write")
        print(
            f"\n{Referral.objects.count():,} referrals; gunicorn --workers {args.workers}; "
            f"routing {'queued (REDIS_URL)' if os.environ.get('REDIS_URL') else 'in-process'}.\n"
        )
        if not args.no_full_sync:
            print_rows(measure(base, reader, repeat=args.repeat))
            print()
        print(f"{'request':<44}{'n':>6}{'median ms':>10}{'p95 ms':>10}{'max ms':>10}")

        pages, rows, references = [], 0, []
        url = f"{base}/api/v1/referrals/?page_size=500"
        started = time.perf_counter()
        while url and len(pages) < args.pages:
            status, body, took = call(url, token=reader)
            assert status == 200, body
            pages.append(took)
            rows += len(body["results"])
            references += [r["reference"] for r in body["results"][:2]]
            url = body["next"]
        rate = rows / (time.perf_counter() - started)
        row("sync pass, page of 500", pages, f"{rows:,} rows, {rate:,.0f} rows/s")

        details = []
        for reference in references[: args.details]:
            status, body, took = call(f"{base}/api/v1/referrals/{reference}/", token=reader)
            assert status == 200, body
            details.append(took)
        row("referral in full", details)

        filings, replays = [], []
        json_headers = {"Content-Type": "application/json"}
        for _number in range(args.filings):
            key = str(uuid.uuid4())
            headers = {**json_headers, "Idempotency-Key": key}
            status, body, took = call(
                f"{base}/api/v1/referrals/", token=filer, data=FILING, headers=headers
            )
            assert status == 201, body
            filings.append(took)
            status, again, took = call(
                f"{base}/api/v1/referrals/", token=filer, data=FILING, headers=headers
            )
            assert status == 201 and again["reference"] == body["reference"], again
            replays.append(took)
        row("filing (POST, new Idempotency-Key)", filings)
        row("replay (same key and body)", replays)
    finally:
        harness.stop(server)


if __name__ == "__main__":
    main()
