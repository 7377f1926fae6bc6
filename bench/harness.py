"""What bench/load.py and bench/faults.py share: production-like settings, gunicorn and a
Celery worker on loopback, signed-in sessions made on the server, the referral form as a
browser fills it in, the partner API's token, and latency figures.

Call ``configure()`` before anything imports Django models.
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.private_services import free_port, port_open, wait_until  # noqa: E402

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
    # The bench's clients all come from 127.0.0.1: a per-client limit would measure itself.
    "API_RATE_LIMIT": "100000/min",
    "API_SYNC_SETTLE_SECONDS": "0",
    "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
}
DEMO_PASSWORD_CLIENT = ("demo-ifsc-ssp", "welfare-demo-client-2026")
DEMO_REFERRER = "referrer.ssp"
DEMO_OFFICER = "officer.ssp"


# What the bench measures is production: a caller's DEBUG=true (left in the shell by the
# seeding step of docs/benchmarks.md, say) is overridden, and said so, never taken.
FORCED = {"DEBUG"}


def configure(**environment: str) -> None:
    """Production-like settings (DEBUG off, sessions in the database) plus ``environment``
    (DATABASE_URL, REDIS_URL, …), then ``django.setup()``. The caller's environment may
    change any setting but ``FORCED`` ones."""
    for key in FORCED:
        if os.environ.get(key, SETTINGS[key]).lower() != SETTINGS[key]:
            print(f"bench: {key}={os.environ[key]} ignored; benchmarks run with {key}=false")
            os.environ[key] = SETTINGS[key]
    os.environ.update({key: os.environ.get(key, value) for key, value in SETTINGS.items()})
    os.environ.update(environment)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "welfare_portal.settings")
    os.environ.setdefault("STATIC_ROOT", str(Path(tempfile.gettempdir()) / "welfare-bench-static"))
    import django

    django.setup()


def vacuum_analyse() -> float:
    """``VACUUM (ANALYZE)`` the whole database; seconds taken. Autovacuum is off on the
    development machines' PostgreSQL: without fresh statistics and visibility maps a bulk
    load's plans are not production's (index-only scans read the heap, row estimates are
    off). Production runs autovacuum (README)."""
    from django.db import connection

    started = time.perf_counter()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
    return time.perf_counter() - started


def raw_connection(*, autocommit: bool = False):
    """A plain psycopg connection to the portal's database, with the portal's connection
    options (``-c jit=off``): the "raw" floor the pages and the API are compared with."""
    import psycopg
    from django.db import connection

    params = connection.settings_dict
    return psycopg.connect(
        dbname=params["NAME"], user=params["USER"], host=params["HOST"],
        port=params["PORT"] or 5432, password=params["PASSWORD"] or None,
        options=params.get("OPTIONS", {}).get("options", ""), autocommit=autocommit,
    )  # fmt: skip


# --- Sessions --------------------------------------------------------------------------------


def signed_in_session(username: str) -> str:
    """A session for ``username`` as if they had signed in, made on the server: the login
    form (with its lockout and second factor) is not what is measured. With django-otp
    installed the session also records a confirmed TOTP device, as after a checked code, so
    that people who must use two factors (district officers) pass the two-factor gate."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.models import User

    user = User.objects.get(username=username)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    try:
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.plugins.otp_totp.models import TOTPDevice
    except ImportError:
        pass
    else:
        device, _ = TOTPDevice.objects.get_or_create(
            user=user, name="bench", defaults={"confirmed": True}
        )
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.create()
    return session.session_key


def make_referrers(count: int) -> list[str]:
    """``count`` caring-team members of the demo referrer's team (``load.referrer.NNN``)."""
    from accounts.models import Membership, User

    team = Membership.objects.get(user__username=DEMO_REFERRER, role="referrer").service_unit
    names = []
    for number in range(count):
        user, _ = User.objects.get_or_create(
            username=f"load.referrer.{number:03d}", defaults={"email": ""}
        )
        Membership.objects.get_or_create(user=user, role="referrer", service_unit=team)
        names.append(user.username)
    return names


# --- Processes ---------------------------------------------------------------------------------


def start_gunicorn(*, workers: int = 3, threads: int = 4, log: Path | None = None):
    """gunicorn on a free loopback port with this process's environment; (process, base
    URL). Waits until /login/ answers."""
    from django.core.management import call_command

    call_command("collectstatic", "--noinput", verbosity=0)
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "welfare_portal.wsgi",
            f"--bind=127.0.0.1:{port}",
            f"--workers={workers}",
            f"--threads={threads}",
            "--timeout=60",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=log.open("ab") if log else subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_until(lambda: port_open(port), timeout=60, what="gunicorn")
    return process, f"http://127.0.0.1:{port}"


def worker_command(name: str, *, concurrency: int, queues: str = "celery,deliveries") -> list[str]:
    """``celery worker`` as the benches and tests/integration run it: this interpreter,
    prefork, both queues (routing and notifying; e-mails and webhooks) unless told, none of
    the cluster chatter (heartbeats, mingle, gossip) a lone worker does not need, named
    ``name@host``."""
    return [
        sys.executable, "-m", "celery", "-A", "welfare_portal", "worker", "--pool=prefork",
        f"--concurrency={concurrency}", "-Q", queues, "--without-heartbeat",
        "--without-mingle", "--without-gossip", "-l", "info", "-n", f"{name}@%h",
    ]  # fmt: skip


def start_worker(log: Path, *, concurrency: int = 2, **environment: str) -> subprocess.Popen:
    """A Celery worker on this process's broker and database; waits for its "ready" line."""
    process = subprocess.Popen(  # noqa: S603
        worker_command(f"bench-{os.getpid()}", concurrency=concurrency),
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **environment},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    ready = re.compile(r"@\S+ ready\.")
    wait_until(
        lambda: ready.search(log.read_text(errors="replace")) or process.poll() is not None,
        timeout=60,
        what="the Celery worker",
    )
    if process.poll() is not None:
        raise RuntimeError(f"the Celery worker exited:\n{log.read_text(errors='replace')}")
    return process


def stop(process: subprocess.Popen | None) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ten seconds."""
    import signal

    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


# --- The referral form, as a browser fills it in -------------------------------------------

HIDDEN = re.compile(r'<input[^>]*name="(csrfmiddlewaretoken|token)"[^>]*value="([^"]+)"')


@dataclass
class FormChoices:
    """Primary keys the form's selects and checkboxes post for the demo caring team."""

    team: int
    district: int
    sub_district: int
    need: int

    @classmethod
    def for_demo_team(cls) -> "FormChoices":
        from accounts.models import Membership
        from services.models import NeedCategory

        team = Membership.objects.get(user__username=DEMO_REFERRER, role="referrer").service_unit
        area = team.catchment_sub_districts.order_by("code").first()
        need = NeedCategory.objects.get(code="child_family")
        return cls(team=team.pk, district=area.district_id, sub_district=area.pk, need=need.pk)


def browser(base: str, session_key: str | None = None, language: str = "en") -> requests.Session:
    from django.conf import settings

    client = requests.Session()
    client.headers["Accept-Language"] = language
    if session_key:
        client.cookies.set(settings.SESSION_COOKIE_NAME, session_key, domain="127.0.0.1")
    return client


CHECK_HIDDEN = re.compile(r'<input[^>]*name="(csrfmiddlewaretoken|version)"[^>]*value="([^"]+)"')


def file_referral(client: requests.Session, base: str, data: dict, timeout: float):
    """File a referral as a browser does (issue 19): the form's POST keeps the answers as
    the draft and leads to "check your answers", whose one POST files it. The last answer
    is returned: a redirect to ``…/filed/`` when it was filed (``filed``)."""
    answer = client.post(
        f"{base}/referrals/new/", data=data, allow_redirects=False, timeout=timeout
    )
    location = answer.headers.get("Location", "")
    if answer.status_code != 302 or not location.endswith("/check/"):
        return answer
    check = location if location.startswith("http") else base + location
    page = client.get(check, timeout=timeout)
    if page.status_code != 200:
        return page
    hidden = dict(CHECK_HIDDEN.findall(page.text))
    return client.post(
        check,
        data={**hidden, "confirm_duplicates": "1", "file": "1"},
        allow_redirects=False,
        timeout=timeout,
    )


def filed(response) -> bool:
    """Whether ``file_referral``'s answer says the referral was filed."""
    return (
        response is not None
        and response.status_code == 302
        and response.headers.get("Location", "").endswith("/filed/")
    )


def referral_post_data(page: str, choices: FormChoices, label: str) -> dict:
    """The form page's CSRF token and submission token, and a complete referral: the
    subject's name carries ``label`` so the row can be found again."""
    hidden = dict(HIDDEN.findall(page))
    return {
        "csrfmiddlewaretoken": hidden["csrfmiddlewaretoken"],
        "token": hidden["token"],
        "team": choices.team,
        "district": choices.district,
        "sub_district": choices.sub_district,
        "subject_name_zh": "負載測試",
        "subject_name_en": label,
        "sex": "female",
        "age": "70",
        "address": f"Flat {label}, Synthetic Building, Sham Shui Po",
        "preferred_language": "yue",
        "household": "lives_alone",
        "needs": [choices.need],
        "situation": "Synthetic load-test referral.",
        "referrer_contact": "bench",
        "consent_basis": "consent",
        "consent_given_by": "subject",
        "consent_method": "verbal",
        "consent_given_at": time.strftime("%Y-%m-%dT%H:%M"),
        "confirm_duplicates": "1",
        "submit": "1",
    }


def new_label() -> str:
    return f"bench-{uuid.uuid4().hex[:12]}"


def use_bench_client_secret() -> None:
    """Give the demo partner client the bench's secret. ``seed_demo`` with DEBUG off (the
    bench's settings) gives every client a random secret, printed once (issue 14 item 11);
    the bench, on its own database, sets a known one instead of reading the print-out."""
    from oauth2_provider.models import Application

    client_id, secret = DEMO_PASSWORD_CLIENT
    application = Application.objects.get(client_id=client_id)
    application.client_secret = secret  # hashed on save, as any secret is
    application.save(update_fields=["client_secret"])


def partner_token(base: str, scope: str = "referrals:read") -> str:
    client_id, secret = DEMO_PASSWORD_CLIENT
    use_bench_client_secret()
    response = requests.post(
        f"{base}/o/token/",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client_id, secret),
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["access_token"]


# --- Figures -------------------------------------------------------------------------------------


@dataclass
class Timings:
    """Latencies (ms) and outcomes of one kind of request."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, status: int | None, started: float) -> None:
        self.latencies.append((time.perf_counter() - started) * 1000)
        self.statuses[status or 0] = self.statuses.get(status or 0, 0) + 1
        if status is None or status >= 400:
            self.errors += 1


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
