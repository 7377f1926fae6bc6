"""Every speed figure of issue 20 in one command, at a chosen volume, in one table.

Usage (PostgreSQL and Redis running)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/welfare_bench \\
    REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/run.py --volume 1000000

It creates and migrates the database when needed, tops it up to ``--volume`` synthetic
referrals (``seed_demo``, COPY; a million take about eight minutes on the 2-core machine),
then ``VACUUM (ANALYZE)``s it: autovacuum is off on the development machines, and without
fresh statistics and visibility maps the plans measured would not be production's. Then, with
production settings (bench/harness.py):

- the work pages through gunicorn (2 workers, one request at a time): bench/pages.py, with
  the queue's default page replayed as raw SQL by psycopg beside each request;
- the web workers' resident memory after the pages;
- the cold dashboard, for one office and for all districts: bench/dashboard.py;
- the partner API's sync pages, a full sync of one organisation, raw beside them:
  bench/api.py;
- routing decisions in process, and a burst of submissions through a real Celery worker:
  bench/routing.py.

It prints one table: each figure, the figure issue 20 was opened with ("before"), its
target and whether it is met, and where a raw floor is measured, the ratio to it; and the
load average during the run. ``--only pages,api`` runs a part.
"""

import argparse
import os
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

PARTS = ("pages", "dashboard", "api", "routing")

# key: (before, as issue 20 measured it; target median, target p95; unit)
TARGETS = {
    "form": ("88 / 130, 54.7 KB", 20, 30, "ms"),
    "mine_officer": ("381 / 442", 40, 60, "ms"),
    "mine_referrer": ("40", None, None, "ms"),
    "mine_worker": ("484 in process", None, None, "ms"),
    "queue": ("44 / 56", 25, 40, "ms"),
    "queue_filtered": ("70 / 86", 30, 45, "ms"),
    "queue_page_200": ("60 / 77", 30, 45, "ms"),
    "inbox_new": ("35–40 / 54", 20, 30, "ms"),
    "inbox_open": ("35–40 / 54", 20, 30, "ms"),
    "detail": ("25 / 33", 20, 30, "ms"),
    "dashboard_warm": ("17", None, None, "ms"),
    "dashboard_office": ("199 / 251", 60, 90, "ms"),
    "dashboard_all": ("–", 200, None, "ms"),
    "rss": ("134–138", 150, None, "MiB"),
    "api_page": ("540 / 763", 60, 100, "ms"),
    "api_page_first": ("540 / 763", 60, 100, "ms"),
    "api_page_middle": ("540 / 763", 60, 100, "ms"),
    "api_page_last": ("540 / 763", 60, 100, "ms"),
    "api_full_sync": ("782 /s", 8000, None, "/s"),
    "routing_decision": ("12–16 /s", 500, None, "/s"),
    "burst": ("2.8 /s, median 34.6 s", 40, None, "/s"),
    "burst_notified": ("34,600 (median)", None, 2000, "ms"),
}
FORM_MAX_KB = 15


class LoadAverage(threading.Thread):
    """The one-minute load average, sampled every five seconds while the bench runs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(5):
            self.samples.append(os.getloadavg()[0])

    def summary(self) -> str:
        if not self.samples:
            return "–"
        mean = sum(self.samples) / len(self.samples)
        return f"mean {mean:.2f}, max {max(self.samples):.2f} ({os.cpu_count()} cores)"


def ensure_database() -> None:
    """Create the database ``DATABASE_URL`` names when it is missing, and migrate it."""
    import psycopg
    from django.core.management import call_command
    from django.db import connection

    params = connection.settings_dict
    server = {"host": params["HOST"], "port": params["PORT"] or 5432, "user": params["USER"]}
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [params["NAME"]]
        ).fetchone()
        if not exists:
            print(f"bench: creating the database {params['NAME']}", flush=True)
            admin.execute(f'CREATE DATABASE "{params["NAME"]}"')
    call_command("migrate", verbosity=0)


def top_up(volume: int) -> int:
    from referrals.models import Referral

    have = Referral.objects.count()
    if have < volume:
        print(f"bench: {have:,} referrals, seeding up to {volume:,} (seed_demo)", flush=True)
        subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", "seed_demo", "--referrals", str(volume)],
            cwd=ROOT,
            env={**os.environ, "DEBUG": "true"},
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return Referral.objects.count()


def worker_rss_mib(server) -> float:
    """The largest resident set of gunicorn's worker processes (children of the arbiter)."""
    largest = 0.0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(server.pid) and "VmRSS" in fields:
            largest = max(largest, int(fields["VmRSS"].split()[0]) / 1024)
    return largest


def met(row: dict) -> str:
    target = TARGETS.get(row.get("key", ""))
    if target is None or target[1:3] == (None, None):
        return ""
    _before, median_target, p95_target, unit = target
    checks = []
    if "value" in row:
        checks.append(row["value"] <= median_target)
    elif unit == "/s" and median_target is not None:
        checks.append(row.get("per_s", 0) >= median_target)
    elif median_target is not None:
        checks.append(row.get("median_ms", float("inf")) <= median_target)
    if p95_target is not None:
        checks.append(row.get("p95_ms", float("inf")) <= p95_target)
    if row.get("key") == "form":
        checks.append(row.get("kb", float("inf")) <= FORM_MAX_KB)
    if row.get("key") == "queue" and "ratio" in row:
        checks.append(row["ratio"] <= 3)
    return "yes" if all(checks) else "NO"


def target_text(key: str) -> str:
    target = TARGETS.get(key)
    if target is None or target[1:3] == (None, None):
        return ""
    _before, median_target, p95_target, unit = target
    if unit == "/s":
        return f"≥ {median_target:,} /s"
    if median_target is None:
        text = f"p95 ≤ {p95_target} {unit}"
    elif p95_target is None:
        text = f"≤ {median_target} {unit}"
    else:
        text = f"≤ {median_target} / {p95_target} {unit}"
    return text + (f", ≤ {FORM_MAX_KB} KB" if key == "form" else "")


def figure(row: dict) -> str:
    if "value" in row:
        return f"{row['value']:.0f} {TARGETS[row['key']][3]}"
    if "per_s" in row and "median_ms" not in row:
        return f"{row['per_s']:,.0f} /s"
    if "median_ms" not in row:
        return f"status {row.get('status', '?')}"
    text = f"{row['median_ms']:.1f} / {row.get('p95_ms', float('nan')):.1f}"
    if "per_s" in row:
        text += f", {row['per_s']:,.0f} /s"
    if row.get("kb"):
        text += f", {row['kb']:.1f} KB"
    return text


def print_table(rows: list[dict], load: LoadAverage, count: int) -> None:
    print(f"\n{count:,} referrals; load average during the run: {load.summary()}\n")
    header = ("what", "before (issue 20)", "now: median / p95", "target", "raw", "ratio", "met")
    widths = (48, 22, 26, 22, 8, 7, 4)
    print("".join(f"{text:<{width}}" for text, width in zip(header, widths, strict=True)))
    for row in rows:
        key = row.get("key", "")
        raw = f"{row['raw_ms']:.1f}" if "raw_ms" in row else (row.get("raw", "") or "")
        ratio = f"{row['ratio']:.2f}" if "ratio" in row else ""
        cells = (
            row["what"], TARGETS.get(key, ("",))[0], figure(row), target_text(key),
            str(raw), ratio, met(row),
        )  # fmt: skip
        print("".join(f"{text:<{width}}" for text, width in zip(cells, widths, strict=True)))
        if row.get("note"):
            print(f"{'':<4}{row['note']}")


def run_web_parts(parts: set[str], args, rows: list[dict]) -> None:
    from bench import pages

    users = pages.sessions()
    server, base = harness.start_gunicorn(workers=2, threads=1)
    try:
        if "pages" in parts:
            rows += pages.measure(base, users, requests=args.requests, warmup=args.warmup)
            rss = worker_rss_mib(server)
            what = "web worker resident memory (largest)"
            rows.append({"key": "rss", "what": what, "value": rss})
        if "dashboard" in parts:
            from bench import dashboard

            scopes = {
                "office": users["officer"],
                "all districts": harness.signed_in_session(dashboard.HEADQUARTERS),
            }
            measured = dashboard.measure(base, scopes, args.requests)
            for row, key in zip(measured, ("dashboard_office", "dashboard_all"), strict=True):
                row["key"] = key
            rows += measured
        if "api" in parts:
            from bench import api

            rows += api.measure(base, harness.partner_token(base))
    finally:
        harness.stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--volume", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--only", default=",".join(PARTS), help="any of " + ", ".join(PARTS))
    parser.add_argument("--no-vacuum", action="store_true", help="skip VACUUM (ANALYZE)")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    unknown = parts - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    if "routing" in parts and not os.environ.get("REDIS_URL"):
        parser.error("routing needs REDIS_URL (a Redis database of its own)")

    harness.configure()
    ensure_database()
    count = top_up(args.volume)
    if not args.no_vacuum:
        print(f"bench: VACUUM (ANALYZE) took {harness.vacuum_analyse():.0f} s", flush=True)
    load = LoadAverage()
    load.start()
    rows: list[dict] = []
    try:
        if parts & {"pages", "dashboard", "api"}:
            run_web_parts(parts, args, rows)
        if "routing" in parts:
            from bench import routing

            rows += routing.measure()
    finally:  # what was measured is printed, even when a later part fails
        load.done.set()
        print_table(rows, load, count)


if __name__ == "__main__":
    main()
