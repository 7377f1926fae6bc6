"""What a flood of wrong client secrets at ``/o/token/`` does to everyone else's pages.

Usage (any migrated database; ``REDIS_URL``, a Redis database of its own since each row
clears the cache, makes gunicorn's workers share the counts)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/welfare_bench \\
    REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python bench/token_flood.py --requests 100

It makes two OAuth2 clients, one whose secret is hashed with PBKDF2 (1,000,000 iterations,
as every secret was before ``accounts.hashers``) and one with the keyed HMAC-SHA256 used
now, starts gunicorn (bench/harness.py's production settings) on a free loopback port, and
times ``GET /login/`` ``--requests`` times one after another (``--interval`` apart): first
with nothing else going on, then while ``--threads`` threads send wrong secrets for one of
the clients as fast as they are answered. Each flood runs with the failed-token limit off
(what the endpoint did before it had one) and on (``API_TOKEN_FAILURE_LIMIT``, default 10 a
minute). It prints median and p95 of ``/login/`` and what the flood got (requests, 401s, 429s).
"""

import argparse
import base64
import os
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness  # noqa: E402

FLOOD_SECONDS_MAX = 120  # a flood never outlives this, whatever happens to the timing loop


def make_clients() -> dict[str, str]:
    """Client ids of the two bench clients, by how their secret is hashed."""
    from django.contrib.auth.hashers import make_password
    from oauth2_provider.models import Application

    clients = {}
    for label, hasher in (("PBKDF2", "pbkdf2_sha256"), ("HMAC-SHA256", "hmac_sha256")):
        application, _ = Application.objects.update_or_create(
            name=f"bench token flood ({label})",
            defaults={
                "client_type": Application.CLIENT_CONFIDENTIAL,
                "authorization_grant_type": Application.GRANT_CLIENT_CREDENTIALS,
                "client_secret": make_password("bench-secret-" + "x" * 40, hasher=hasher),
            },
        )
        clients[label] = application.client_id
    return clients


def flood(base: str, client_id: str, stop: threading.Event, outcome: harness.Timings) -> None:
    basic = base64.b64encode(f"{client_id}:wrong-secret".encode()).decode()
    session = requests.Session()
    deadline = time.monotonic() + FLOOD_SECONDS_MAX
    while not stop.is_set() and time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            response = session.post(
                f"{base}/o/token/",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {basic}"},
                timeout=30,
            )
            outcome.add(response.status_code, started)
        except requests.RequestException:
            outcome.add(None, started)


def time_login(base: str, count: int, interval: float = 0.0) -> list[float]:
    client = requests.Session()
    timings = []
    for _number in range(count):
        started = time.perf_counter()
        response = client.get(f"{base}/login/", timeout=30)
        response.raise_for_status()
        timings.append((time.perf_counter() - started) * 1000)
        time.sleep(interval)
    return timings


def run(base: str, args, client_id: str | None) -> tuple[list[float], harness.Timings]:
    """``/login/`` timings, with ``args.threads`` threads flooding ``client_id`` if given."""
    stop, outcome, threads = threading.Event(), harness.Timings(), []
    if client_id:
        threads = [
            threading.Thread(target=flood, args=(base, client_id, stop, outcome), daemon=True)
            for _number in range(args.threads)
        ]
        for thread in threads:
            thread.start()
        time.sleep(1)  # let the flood build up
    try:
        return time_login(base, args.requests, args.interval), outcome
    finally:
        stop.set()
        for thread in threads:
            thread.join(35)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between GETs")
    parser.add_argument("--threads", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gunicorn-threads", type=int, default=4)
    args = parser.parse_args()

    harness.configure()
    from django.core.cache import cache

    clients = make_clients()
    limit = os.environ.get("API_TOKEN_FAILURE_LIMIT", "10")
    cache_kind = "Redis" if os.environ.get("REDIS_URL") else "per process"
    print(
        f"\ngunicorn --workers {args.workers} --threads {args.gunicorn_threads}; "
        f"{args.requests} sequential GET /login/ per row, {args.interval} s apart; "
        f"flood: {args.threads} threads of wrong secrets; cache: {cache_kind}.\n"
    )
    print(
        f"{'flood':<36}{'limit':>8}{'median ms':>11}{'p95 ms':>9}"
        f"{'flood req':>11}{'401':>7}{'429':>7}"
    )
    scenarios = [("none", None, limit)] + [
        (f"wrong secrets, {label} client", clients[label], each)
        for label in ("PBKDF2", "HMAC-SHA256")
        for each in ("off", limit)
    ]
    for label, client_id, each in scenarios:
        os.environ["API_TOKEN_FAILURE_LIMIT"] = "1000000000" if each == "off" else each
        cache.clear()  # no failure counted by an earlier row
        server, base = harness.start_gunicorn(workers=args.workers, threads=args.gunicorn_threads)
        try:
            time_login(base, 5)  # warm-up
            timings, outcome = run(base, args, client_id)
        finally:
            harness.stop(server)
        print(
            f"{label:<36}{each if client_id else '-':>8}{harness.median(timings):>11.1f}"
            f"{harness.percentile(timings, 0.95):>9.1f}{len(outcome.latencies):>11}"
            f"{outcome.statuses.get(401, 0):>7}{outcome.statuses.get(429, 0):>7}"
        )


if __name__ == "__main__":
    main()
