"""Latency of the work pages at realistic volume, through gunicorn on loopback.

Usage (a PostgreSQL database seeded with ``seed_demo --referrals 1000000``, see README)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/welfare_bench \\
        .venv/bin/python bench/pages.py --requests 50

It collects the static files, starts gunicorn (``--workers``, production settings: DEBUG off,
WhiteNoise, sessions in the database) on a free loopback port, signs the demo users in by
creating their sessions, then requests each page ``--requests`` times one after another
(after a few warm-up requests) and prints median and p95 latency in milliseconds, the
response size and the status. Pages answering anything but 200 are reported, not timed.
Requests write access-log rows, as real page views do.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SETTINGS = {
    "DEBUG": "false",
    "SECRET_KEY": "bench-only-secret-key-0123456789abcdef-not-for-production",
    "ALLOWED_HOSTS": "127.0.0.1",
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    "IDENTITY_ENCRYPTION_KEYS": "Zi2vQ1m3mUjC0pR4cT9hY2c8r3N3a0xXb1FtZ0dWc2c=",
    "IDENTITY_HASH_KEY": "bench-only-hmac-key-0123456789abcdef",
    "LOG_LEVEL": "WARNING",
}
os.environ.update({key: os.environ.get(key, value) for key, value in SETTINGS.items()})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "welfare_portal.settings")
os.environ.setdefault("STATIC_ROOT", str(Path(tempfile.gettempdir()) / "welfare-bench-static"))

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402

from accounts.models import User  # noqa: E402
from referrals.models import Referral  # noqa: E402
from services.models import NeedCategory  # noqa: E402


def session_for(username: str) -> str:
    user = User.objects.get(username=username)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str, session_key: str) -> tuple[int, int, float]:
    request = urllib.request.Request(  # noqa: S310 - loopback http only
        url, headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}"}
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        return error.code, 0, 0.0
    return status, len(body), (time.perf_counter() - started) * 1000


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    call_command("collectstatic", "--noinput", verbosity=0)
    officer, worker_user = session_for("officer.ssp"), session_for("worker.ifsc.ssp")
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
    ]

    port = free_port()
    server = subprocess.Popen(  # noqa: S603
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "welfare_portal.wsgi",
            f"--bind=127.0.0.1:{port}",
            f"--workers={args.workers}",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _attempt in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).close()  # noqa: S310
                break
            except OSError:
                time.sleep(0.2)
        print(
            f"\n{Referral.objects.count():,} referrals; gunicorn --workers {args.workers}; "
            f"{args.requests} sequential requests per page after {args.warmup} warm-up.\n"
        )
        print(f"{'page':<50}{'median ms':>10}{'p95 ms':>10}{'KB':>8}{'status':>8}")
        for label, path, session_key in pages:
            timings, size, status = [], 0, 0
            for number in range(args.warmup + args.requests):
                status, size, took = fetch(base + path, session_key)
                if status != 200:
                    break
                if number >= args.warmup:
                    timings.append(took)
            if status != 200:
                print(f"{label:<50}{'-':>10}{'-':>10}{'-':>8}{status:>8}")
                continue
            print(
                f"{label:<50}{statistics.median(timings):>10.1f}"
                f"{percentile(timings, 0.95):>10.1f}{size / 1024:>8.1f}{status:>8}"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
