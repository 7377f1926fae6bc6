"""The partner API at realistic volume, through gunicorn on loopback.

Usage (a database seeded with ``seed_demo --referrals 1000000``, see docs/benchmarks.md)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/welfare_bench \\
        .venv/bin/python bench/api.py --pages 40 --filings 50

It creates the demo API clients if missing, starts gunicorn (production settings) on a free
loopback port, takes OAuth2 tokens, then times, one request after another:

- a sync pass of the NGO running Sham Shui Po IFSC 1 (``page_size=500``, following ``next``
  for ``--pages`` pages): latency per page and rows per second;
- reading referrals in full (``GET /api/v1/referrals/{reference}/``);
- filing referrals (``POST /api/v1/referrals/`` with a new Idempotency-Key each), and
  replaying one key (the same body again).

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
