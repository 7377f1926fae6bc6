"""Fault scenarios against real processes: PostgreSQL restarted under traffic, Redis stopped
during submissions, a partner's webhook endpoint that never answers.

Usage::

    .venv/bin/python bench/faults.py                  # all three scenarios
    .venv/bin/python bench/faults.py --scenario database --json

Everything runs on a PRIVATE PostgreSQL cluster (``initdb`` in a temporary folder, a free
port) and a PRIVATE ``redis-server``, both started and removed here: the shared services
other people use are never stopped. The database is migrated and seeded with the demo
directory and users (``seed_demo --referrals 0``); gunicorn (production settings) and, for
the Redis and webhook scenarios, a Celery worker run on loopback.

Each scenario prints a table (requests, errors, time to fail, time to recover) and the
referrals lost — submissions the portal confirmed (a redirect to the referral) that are not
in the database, or were not routed exactly once. ``--json`` also prints the figures as one
``RESULT-JSON:`` line (tests/integration/test_faults.py reads it). Exits 1 if a check failed.
"""

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness  # noqa: E402
from bench.private_services import (  # noqa: E402
    PrivatePostgres,
    PrivateRedis,
    postgres_missing_reason,
    wait_until,
)

TIMEOUT = 30  # seconds any one request may take before it counts as hung


class Traffic:
    """Threads sending one kind of request each, in a loop, until stopped; every answer is
    kept with when it was sent, its status and how long it took."""

    def __init__(self, base: str, sessions: dict[str, str], token: str, choices):
        self.base, self.sessions, self.token, self.choices = base, sessions, token, choices
        self.records: list[dict] = []
        self.confirmed: list[str] = []  # labels of referrals the portal said it filed
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self, kinds=("page", "page-zh", "api", "submit")) -> None:
        for kind in kinds:
            thread = threading.Thread(target=self._loop, args=(kind,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(TIMEOUT + 5)

    def _loop(self, kind: str) -> None:
        language = "zh-hant" if kind == "page-zh" else "en"
        client = harness.browser(self.base, self.sessions.get(kind), language=language)
        while not self._stop.is_set():
            self.records.append(self.one(kind, client))
            time.sleep(0.05)

    def one(self, kind: str, client) -> dict:
        started = time.perf_counter()
        record = {"kind": kind, "at": time.monotonic(), "status": None, "shape": None}
        try:
            if kind == "api":
                response = client.get(
                    f"{self.base}/api/v1/referrals/?page_size=20",
                    headers={"Authorization": f"Bearer {self.token}"},
                    timeout=TIMEOUT,
                )
            elif kind == "submit":
                response = self._submit(client)
            else:
                response = client.get(f"{self.base}/referrals/", timeout=TIMEOUT)
            record["status"] = response.status_code
            if response.status_code == 503:
                record["shape"] = unavailable_shape_ok(response, kind)
        except Exception as error:  # noqa: BLE001 - a refused or hung request is a figure
            record["error"] = type(error).__name__
        record["ms"] = (time.perf_counter() - started) * 1000
        return record

    def _submit(self, client):
        page = client.get(f"{self.base}/referrals/new/", timeout=TIMEOUT)
        if page.status_code != 200:
            return page
        label = harness.new_label()
        data = harness.referral_post_data(page.text, self.choices, label)
        response = harness.file_referral(client, self.base, data, TIMEOUT)
        if harness.filed(response):
            with self._lock:
                self.confirmed.append(label)
        return response


def unavailable_shape_ok(response, kind: str) -> bool:
    """A 503 must say when to come back, and be the API's JSON error under /api/ or the
    translated page for people."""
    if not response.headers.get("Retry-After"):
        return False
    if kind == "api":
        body = response.json()
        return body.get("error") == "unavailable" and set(body) == {"error", "message", "fields"}
    # The page is in the language asked for (its lang attribute), with a heading.
    lang = 'lang="zh-Hant-HK"' if kind == "page-zh" else 'lang="en-HK"'
    html = response.headers.get("Content-Type", "").startswith("text/html")
    return html and lang in response.text and "<h1>" in response.text


def ok(record: dict) -> bool:
    return record["status"] is not None and record["status"] < 400


def lost_referrals(labels: list[str], *, routed: bool) -> dict:
    """Confirmed submissions missing from the database, and (``routed``) those without
    exactly one routing event."""
    from django.db import connection
    from django.db.models import Count, Q

    from referrals.models import Referral

    connection.close()  # the bench's own connection may predate a restart
    found = Referral.objects.filter(subject_name_en__in=labels).annotate(
        routings=Count("events", filter=Q(events__kind="routing"))
    )
    by_label = {row.subject_name_en: row.routings for row in found}
    missing = [label for label in labels if label not in by_label]
    figures = {"confirmed": len(labels), "in_database": len(by_label), "lost": len(missing)}
    if routed:
        figures["routed_once"] = sum(1 for n in by_label.values() if n == 1)
        figures["routed_twice_or_more"] = sum(1 for n in by_label.values() if n > 1)
        figures["not_routed"] = sum(1 for n in by_label.values() if n == 0)
    return figures


def all_routed(labels: list[str]) -> bool:
    figures = lost_referrals(labels, routed=True)
    return figures["routed_once"] + figures["routed_twice_or_more"] == figures["confirmed"]


def table(title: str, rows: list[tuple[str, object]]) -> None:
    print(f"\n{title}")
    for name, value in rows:
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        print(f"  {name:<44}{shown:>14}")


# --- Scenario (a): PostgreSQL restarted under traffic -------------------------------------------


def scenario_database(env, postgres: PrivatePostgres, down_seconds: float) -> dict:
    traffic = Traffic(env.base, env.sessions, env.token, env.choices)
    traffic.start()
    time.sleep(2)
    stopped_at = time.monotonic()
    postgres.stop("fast")
    time.sleep(down_seconds)
    postgres.start()
    started_at = time.monotonic()
    # Each kind must succeed again; then a little more traffic on the recovered database.
    recovered = {}
    for kind in ("page", "page-zh", "api", "submit"):

        def with_kind(k=kind):
            return [r for r in traffic.records if r["kind"] == k and r["at"] >= started_at]

        try:
            wait_until(lambda k=with_kind: any(ok(r) for r in k()), timeout=30, what=kind)
            recovered[kind] = min(r["at"] for r in with_kind() if ok(r)) - started_at
        except TimeoutError:
            recovered[kind] = float("inf")
    time.sleep(2)
    traffic.stop()

    down = [r for r in traffic.records if stopped_at + 0.5 <= r["at"] < started_at - 0.2]
    after = [r for r in traffic.records if r["at"] >= started_at + max(recovered.values()) + 0.5]
    statuses = Counter(r["status"] or r.get("error") for r in down)
    figures = {
        "requests": len(traffic.records),
        "requests_while_down": len(down),
        "statuses_while_down": {str(k): v for k, v in statuses.items()},
        "503_with_retry_after_and_shape": sum(1 for r in down if r["shape"]),
        "503_wrong_shape_by_kind": dict(Counter(r["kind"] for r in down if not r["shape"])),
        "500s": sum(1 for r in traffic.records if r["status"] == 500),
        "time_to_fail_p95_s": harness.percentile([r["ms"] for r in down], 0.95) / 1000,
        "time_to_fail_max_s": max((r["ms"] for r in down), default=0) / 1000,
        "time_to_recover_s": max(recovered.values()),
        "errors_after_recovery": sum(1 for r in after if not ok(r)),
        **lost_referrals(traffic.confirmed, routed=False),
    }
    figures["passed"] = (
        figures["requests_while_down"] > 0
        and figures["503_with_retry_after_and_shape"] == figures["requests_while_down"]
        and figures["500s"] == 0
        and figures["time_to_fail_max_s"] < 3
        and figures["time_to_recover_s"] < 10
        and figures["errors_after_recovery"] == 0
        and figures["lost"] == 0
    )
    return figures


# --- Scenario (b): Redis stopped during submissions --------------------------------------------


def submit_many(env, count: int) -> tuple[list[dict], list[str]]:
    traffic = Traffic(env.base, env.sessions, env.token, env.choices)
    client = harness.browser(env.base, env.sessions["submit"])
    records = [traffic.one("submit", client) for _ in range(count)]
    return records, traffic.confirmed


def scenario_redis(env, redis: PrivateRedis, count: int) -> dict:
    from referrals import tasks

    before, before_labels = submit_many(env, count)
    wait_until(lambda: all_routed(before_labels), timeout=60, what="routing before the fault")
    redis.stop()
    down, down_labels = submit_many(env, count)
    probe = Traffic(env.base, env.sessions, env.token, env.choices)
    client = harness.browser(env.base, env.sessions["page"])
    pages_down = [probe.one("page", client) for _ in range(3)]
    redis.start()
    back_at = time.monotonic()
    # Celery beat's job, once a minute in production: queue what was never routed.
    wait_until(lambda: _sweep(tasks), timeout=30, what="the broker to take the sweep")
    try:
        caught_up = wait_until(lambda: all_routed(down_labels), timeout=90, what="routing")
    except TimeoutError:
        caught_up = float("inf")
    figures = {
        "submissions_with_redis_up": len(before),
        "submissions_with_redis_down": len(down),
        "errors_while_down": sum(1 for r in down if not ok(r)),
        "pages_while_down_errors": sum(1 for r in pages_down if not ok(r)),
        "submit_latency_while_down_max_s": max(r["ms"] for r in down) / 1000,
        "submit_latency_with_redis_up_p50_s": harness.median([r["ms"] for r in before]) / 1000,
        "time_to_catch_up_s": caught_up,
        "since_redis_back_s": time.monotonic() - back_at,
        # The same worker process, reconnected: not one that died and was replaced.
        "worker_alive": env.worker.poll() is None,
        "worker_unrecoverable_errors": env.worker_log.read_text(errors="replace").count(
            "Unrecoverable error"
        ),
        **lost_referrals(before_labels + down_labels, routed=True),
    }
    figures["passed"] = (
        figures["worker_alive"]
        and figures["worker_unrecoverable_errors"] == 0
        and figures["errors_while_down"] == 0
        and figures["submit_latency_while_down_max_s"] < 5
        and figures["lost"] == 0
        and figures["routed_once"] == figures["confirmed"]
    )
    return figures


def _sweep(tasks) -> bool:
    try:
        tasks.sweep_unrouted()
    except Exception:  # noqa: BLE001 - the broker may still be reconnecting
        return False
    return True


# --- Scenario (c): a webhook endpoint that never answers ---------------------------------------


class SilentEndpoint:
    """Accepts connections and never answers: a partner's server that hangs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        self.sock.close()
        for connection in self.held:
            connection.close()


def scenario_webhook(env, count: int) -> dict:
    from django.db import connection
    from django.db.models import Q

    from referrals.models import Delivery, Referral, WebhookEndpoint
    from services.models import Organisation

    silent = SilentEndpoint()
    connection.close()
    for organisation in Organisation.objects.all():
        WebhookEndpoint.objects.create(
            organisation=organisation, url=f"http://127.0.0.1:{silent.port}/hook", events=[]
        )
    started = time.monotonic()
    records, labels = submit_many(env, count)
    wait_until(lambda: all_routed(labels), timeout=60, what="routing")

    # Only this scenario's referrals: tasks of earlier scenarios still running when the
    # endpoints were registered would call them too.
    assigned = Referral.objects.filter(subject_name_en__in=labels, status="assigned")
    references = list(assigned.values_list("reference", flat=True))
    theirs = Q()
    for reference in references:
        theirs |= Q(body__contains=f'"reference": "{reference}"')

    def webhooks():
        connection.close()
        return list(
            Delivery.objects.filter(
                theirs, channel=Delivery.Channel.WEBHOOK, body__contains='"referral.assigned"'
            ).values_list("state", "attempts")
        )

    try:
        settled = wait_until(
            lambda: (rows := webhooks()) and all(state == "failed" for state, _ in rows),
            timeout=120,
            what="the webhook deliveries to give up",
        )
    except TimeoutError:
        settled = float("inf")
    rows = webhooks()
    silent.close()
    figures = {
        "submissions": len(records),
        "submit_errors": sum(1 for r in records if not ok(r)),
        "submit_latency_p95_s": harness.percentile([r["ms"] for r in records], 0.95) / 1000,
        "submit_latency_max_s": max(r["ms"] for r in records) / 1000,
        "assigned_to_a_unit": len(references),
        "webhook_deliveries": len(rows),
        "delivery_states": dict(Counter(state for state, _ in rows)),
        "attempts_min": min((a for _, a in rows), default=0),
        "attempts_max": max((a for _, a in rows), default=0),
        "seconds_until_all_gave_up": settled,
        "since_first_submission_s": time.monotonic() - started,
        **lost_referrals(labels, routed=True),
    }
    figures["passed"] = (
        figures["submit_errors"] == 0
        and figures["submit_latency_max_s"] < 3
        and figures["webhook_deliveries"] == figures["assigned_to_a_unit"] > 0
        and figures["attempts_min"] >= int(env.max_attempts)
        and figures["delivery_states"] == {"failed": len(rows)}
        and figures["lost"] == 0
    )
    return figures


# --- Set-up ----------------------------------------------------------------------------------


class Environment:
    base: str
    sessions: dict[str, str]
    token: str
    choices: object
    worker: object = None  # the Celery worker's process
    worker_log: Path
    max_attempts = "3"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scenario", choices=["database", "redis", "webhook", "all"], default="all"
    )
    parser.add_argument("--down-seconds", type=float, default=4.0)
    parser.add_argument("--submissions", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if reason := postgres_missing_reason():
        print(f"SKIP: {reason}")
        return 2

    scenarios = ["database", "redis", "webhook"] if args.scenario == "all" else [args.scenario]
    logs = Path(tempfile.mkdtemp(prefix="welfare-faults-logs-"))
    postgres, redis = PrivatePostgres(), PrivateRedis()
    gunicorn = worker = None
    results = {}
    try:
        postgres.start()
        postgres.createdb("welfare_faults")
        redis.start()
        env = Environment()
        harness.configure(
            DATABASE_URL=postgres.url("welfare_faults"),
            REDIS_URL=redis.url(0),
            CONN_MAX_AGE="60",
            CELERY_BROKER_SOCKET_TIMEOUT="2",
            ROUTING_SWEEP_AFTER_SECONDS="0",
            WEBHOOK_TIMEOUT="2",
            # The silent endpoint listens on loopback, which webhooks may not call otherwise.
            WEBHOOK_ALLOWED_PRIVATE_NETWORKS="127.0.0.1/32",
            DELIVERY_RETRY_BACKOFF="1",
            DELIVERY_MAX_ATTEMPTS=env.max_attempts,
        )
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("seed_demo", "--referrals", "0", "--allow-production", verbosity=0)
        env.choices = harness.FormChoices.for_demo_team()
        referrer = harness.signed_in_session(harness.DEMO_REFERRER)
        env.sessions = {"page": referrer, "page-zh": referrer, "submit": referrer}
        gunicorn, env.base = harness.start_gunicorn(workers=2, threads=4, log=logs / "web.log")
        env.token = harness.partner_token(env.base)
        if {"redis", "webhook"} & set(scenarios):
            env.worker_log = logs / "worker.log"
            worker = env.worker = harness.start_worker(env.worker_log)

        if "database" in scenarios:
            results["database"] = scenario_database(env, postgres, args.down_seconds)
            table("(a) PostgreSQL stopped and started under traffic", results["database"].items())
        if "redis" in scenarios:
            results["redis"] = scenario_redis(env, redis, args.submissions)
            table("(b) Redis stopped during submissions", results["redis"].items())
        if "webhook" in scenarios:
            results["webhook"] = scenario_webhook(env, max(3, args.submissions // 2))
            table("(c) A webhook endpoint that never answers", results["webhook"].items())
    finally:
        harness.stop(worker)
        harness.stop(gunicorn)
        redis.destroy()
        postgres.destroy()
    print(f"\nlogs: {logs}")
    lost = sum(result.get("lost", 0) for result in results.values())
    print(f"lost: {lost}")
    if args.json:
        print("RESULT-JSON: " + json.dumps(results, default=str))
    return 0 if all(result["passed"] for result in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
