"""Reliability tests against a real Celery worker process, real Redis and real PostgreSQL.

Every test under tests/integration is marked ``integration`` and runs on a transactional
database with ``serialized_rollback``, as tests/e2e does: the worker is another process, so it
only sees committed rows, and the reference data the migrations load (districts, unit types,
need categories, routing rules) is restored before each test, because a transactional test
empties every table when it ends.

Services
    PostgreSQL (``DATABASE_URL``) and Redis (``REDIS_URL``) must be reachable. Without them
    the tests are skipped, with the reason, except on CI (``CI=true``): there it is a failure.

Broker
    The worker and the in-test Celery app use a Redis database of their own on the server
    ``REDIS_URL`` names: the database number one lower (``/15``, what scripts/test.sh uses,
    gives ``/14``; ``/0`` gives ``/1``). ``REDIS_URL``'s own database stays the cache, which
    the suite clears before every test (that would also delete the broker's bindings). The
    queue is purged before each test, and so are the unacknowledged messages of a worker that
    was killed.

Worker
    ``bench/harness.py``'s ``worker_command``: ``python -m celery -A welfare_portal worker
    --pool=prefork --concurrency=1 -Q celery --without-heartbeat --without-mingle
    --without-gossip -l info`` (a test may ask for more pool processes; ``python`` being the
    interpreter running pytest, i.e. .venv/bin/python: the same program as .venv/bin/celery),
    run from the project root in a session (process group) of its own, so that the main
    process and its pool process can be killed together. Each start waits for the worker's
    "ready" log line. The first test starts it and it is kept while it is idle after a test;
    a test that fails or leaves work in the broker has it killed (its log is printed), and
    the next test starts a new one. The session ends with a warm shutdown (SIGTERM), then
    SIGKILL for whatever is left of its process group; an ``atexit`` hook kills it too if
    the session is interrupted.

    Its environment is the test process's (pytest-env's SECRET_KEY, ALLOWED_HOSTS and
    identity keys) with: ``DATABASE_URL`` = the test database pytest-django created,
    ``REDIS_URL`` = the integration broker, ``CACHE_URL`` = the test process's cache,
    ``CELERY_VISIBILITY_TIMEOUT=5`` (a killed worker's task goes back to the queue after 5 s),
    ``ROUTING_SWEEP_AFTER_SECONDS=0``, ``DELIVERY_RETRY_BACKOFF=1`` and the SMTP backend aimed
    at 127.0.0.1:``smtp_port``, where a test starts an aiosmtpd listener (``smtp_server``)
    when mail should get through.

    One session at a time uses an integration broker: a Redis lock in its database makes a
    second session (someone else running the suite on the same Redis) wait, instead of both
    purging and consuming each other's messages.
"""

import atexit
import email
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from email import policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import redis
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection
from kombu.utils.url import maybe_sanitize_url

from bench.harness import worker_command
from referrals import outbox
from tests.referrals.conftest import form_data

INTEGRATION_DIR = Path(__file__).resolve().parent
PROJECT_DIR = INTEGRATION_DIR.parents[1]
QUEUES = (outbox.DEFAULT_QUEUE, outbox.DELIVERIES_QUEUE)  # the worker consumes both
VISIBILITY_TIMEOUT = 5
WAIT_TIMEOUT = 30
UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"
# One session at a time per integration broker; the lock expires if a session dies, and each
# test renews it.
SESSION_LOCK = "tests.integration:session"
SESSION_LOCK_TTL = 120
SESSION_LOCK_WAIT = 600
READY = re.compile(r"@\S+ ready\.")


def pytest_collection_modifyitems(config, items):
    # This hook sees the whole session's items, not only this folder's.
    for item in items:
        if INTEGRATION_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.django_db(transaction=True, serialized_rollback=True))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"_integration_report_{report.when}", report)
    return report


# --- Waiting ------------------------------------------------------------------------------


def wait_for(
    condition: Callable[[], object],
    *,
    timeout: float = WAIT_TIMEOUT,
    interval: float = 0.2,
    what: str = "the condition",
):
    """Poll ``condition`` (typically a query: the worker commits asynchronously) until it
    returns something truthy, and return that; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Gave up after {timeout:g} s waiting for {what}; got {value!r}")
        time.sleep(interval)


@pytest.fixture
def referral_form(ssp_area, caring_team):
    """A complete referral form as a browser posts it (tests/referrals' fixture)."""

    def build(**overrides):
        return form_data(ssp_area, caring_team, **overrides)

    return build


@pytest.fixture
def unit_staff(unit_worker, unit_supervisor):
    """Everyone ``ifsc_unit`` notifies about a new referral (each has an e-mail address)."""
    return [unit_worker, unit_supervisor]


# --- Services -------------------------------------------------------------------------------


def integration_broker_url(redis_url: str) -> str:
    """The broker for these tests: ``redis_url``'s server, the database number one lower
    (``0`` gives ``1``), so it is never the database the suite uses as its cache."""
    parts = urlsplit(redis_url)
    number = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{number - 1 if number > 0 else 1}"))


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the integration tests.", pytrace=False)
    pytest.skip(reason)


class Broker:
    """The integration Redis database, as the Redis transport lays it out: the queue is a
    list named after it, messages a worker holds and has not acknowledged (``acks_late``:
    until the task ends, or until their ETA) are in the ``unacked`` hash and the
    ``unacked_index`` sorted set, scored by when they were handed out."""

    def __init__(self, url: str):
        self.url = url
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10)
        self.session_lock: redis.lock.Lock | None = None

    def _queue_keys(self) -> list[bytes]:
        # The queues, and their priority sub-queues ("celery\x06\x163", …).
        keys = [key for queue in QUEUES for key in self.redis.scan_iter(match=f"{queue}*")]
        return [key for key in keys if self.redis.type(key) == b"list"]

    def queued(self) -> int:
        return sum(self.redis.llen(key) for key in self._queue_keys())

    def unacked(self) -> int:
        return self.redis.hlen("unacked")

    def idle(self) -> bool:
        return self.queued() == 0 and self.unacked() == 0

    def unacked_age(self) -> float:
        """Seconds since the newest unacknowledged message was handed to a worker."""
        newest = self.redis.zrange("unacked_index", -1, -1, withscores=True)
        return time.time() - newest[0][1] if newest else 0.0

    def hold_session_lock(self) -> None:
        """Take the session lock, or renew it (each test does): a second session waits."""
        with suppress(redis.exceptions.LockError):
            self.session_lock.reacquire()
            return
        if not self.session_lock.acquire():
            pytest.fail(
                f"Another test session kept the integration broker "
                f"{maybe_sanitize_url(self.url)} for {SESSION_LOCK_WAIT} s",
                pytrace=False,
            )

    def purge(self, *, unacked: bool) -> None:
        """Empty the queue; with ``unacked``, also forget what a killed worker held (only
        when no worker runs). The exchange bindings stay: publishing needs them."""
        keys = self._queue_keys()
        if unacked:
            keys += [b"unacked", b"unacked_index", b"unacked_mutex"]
        if keys:
            self.redis.delete(*keys)


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    """The integration broker, for this session alone: a second session using the same
    Redis database (someone else running the suite) waits here until this one is done."""
    if connection.vendor != "postgresql":
        _unavailable(
            f"The integration tests need PostgreSQL (set DATABASE_URL); "
            f"the database is {connection.vendor}"
        )
    if not settings.REDIS_URL:
        _unavailable("The integration tests need Redis (set REDIS_URL)")
    broker = Broker(integration_broker_url(settings.REDIS_URL))
    try:
        broker.redis.ping()
    except redis.RedisError as error:
        _unavailable(
            f"The integration tests need Redis; {maybe_sanitize_url(broker.url)} does not "
            f"answer: {error}"
        )
    broker.session_lock = broker.redis.lock(
        SESSION_LOCK, timeout=SESSION_LOCK_TTL, blocking_timeout=SESSION_LOCK_WAIT
    )
    broker.hold_session_lock()
    yield broker
    with suppress(redis.exceptions.LockError):
        broker.session_lock.release()


def use_broker(app, url: str) -> None:
    """Make ``app`` publish to ``url`` from now on. The app keeps a connection pool and a
    producer pool made from the broker URL the first time it published; both are dropped
    so that the next ``.delay()`` opens a connection to ``url``."""
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def celery_app(broker):
    """The project's Celery app, publishing to the integration broker for this test."""
    from welfare_portal.celery import app

    saved = app.conf.broker_url, app.conf.task_always_eager
    app.conf.task_always_eager = False
    use_broker(app, broker.url)
    yield app
    app.conf.task_always_eager = saved[1]
    use_broker(app, saved[0])


@contextmanager
def broker_unreachable(app) -> Iterator[None]:
    """Nothing listens on port 1: ``.delay()`` fails after Celery's publish retries
    (well under a second) with ``kombu.exceptions.OperationalError``."""
    url = app.conf.broker_url
    use_broker(app, UNREACHABLE_BROKER)
    try:
        yield
    finally:
        use_broker(app, url)


@contextmanager
def broker_silent(app) -> Iterator[None]:
    """A broker that accepts the connection and never answers (hung Redis, a stuck proxy):
    ``.delay()`` must fail after the transport's ``socket_timeout``, not hang the request."""
    url = app.conf.broker_url
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        use_broker(app, f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
        try:
            yield
        finally:
            use_broker(app, url)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- SMTP -----------------------------------------------------------------------------------


class SmtpSink:
    """A real SMTP server (aiosmtpd, in a thread) on 127.0.0.1:``port``, keeping every
    message it accepts. Created stopped: until ``start()``, connections are refused."""

    def __init__(self, port: int):
        self.port = port
        self.messages: list[tuple[tuple[str, ...], EmailMessage]] = []
        self._controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((tuple(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture(scope="session")
def smtp_port() -> int:
    """The port the worker sends mail to; free when the session starts."""
    return _free_port()


@pytest.fixture
def smtp_sink(smtp_port) -> Iterator[SmtpSink]:
    """The SMTP listener for the worker's mail, not started yet."""
    sink = SmtpSink(smtp_port)
    yield sink
    sink.stop()


@pytest.fixture
def smtp_server(smtp_sink) -> SmtpSink:
    """The SMTP listener for the worker's mail, accepting."""
    smtp_sink.start()
    return smtp_sink


# --- The worker -----------------------------------------------------------------------------


def _processes() -> Iterator[tuple[int, int, int, str]]:
    """(pid, parent pid, process group, state) of every process, from /proc."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        yield int(stat.parent.name), int(ppid), int(pgrp), state


class CeleryWorker:
    """A ``celery worker`` subprocess (prefork, one pool process unless told otherwise),
    restartable."""

    def __init__(self, *, env: dict[str, str], log_dir: Path, broker: Broker, concurrency: int = 1):
        self.env = env
        self.command = worker_command(f"integration-{os.getpid()}", concurrency=concurrency)
        self.log_dir = log_dir
        self.broker = broker
        self.process: subprocess.Popen | None = None
        self.logs: list[Path] = []  # one per start, oldest first
        self._mark = (0, 0)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60) -> None:
        assert not self.running, "the worker is already running"
        log_path = self.log_dir / f"worker-{len(self.logs) + 1}.log"
        self.logs.append(log_path)
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=PROJECT_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed as a whole
            )
        deadline = time.monotonic() + timeout
        while not READY.search(log_path.read_text(errors="replace")):
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"The Celery worker exited with {self.process.returncode} before it was "
                    f"ready:\n{log_path.read_text(errors='replace')}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(
                    f"The Celery worker was not ready after {timeout:g} s:\n"
                    f"{log_path.read_text(errors='replace')}"
                )
            time.sleep(0.1)

    def pool_pids(self) -> list[int]:
        """The pool (child) processes that run the tasks."""
        if not self.running:
            return []
        main = self.process.pid
        return [pid for pid, ppid, _, state in _processes() if ppid == main and state != "Z"]

    def _group_alive(self, pgid: int) -> bool:
        return any(pgrp == pgid and state != "Z" for _, _, pgrp, state in _processes())

    def kill(self) -> None:
        """SIGKILL the main process and its pool processes at once (a crash, an OOM kill):
        nothing is acknowledged or handed back to the broker."""
        if self.process is None:
            return
        pgid = self.process.pid
        with suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        self.process.wait()
        wait_for(lambda: not self._group_alive(pgid), timeout=10, what="the worker's processes")

    def stop(self, timeout: float = 15) -> None:
        """Warm shutdown (SIGTERM to the main process), then SIGKILL for anything left."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        self.kill()

    def wait_until_idle(self, timeout: float = WAIT_TIMEOUT) -> None:
        """Until nothing is queued or unacknowledged, twice in a row: every task published
        so far has ended (with ``acks_late`` a task is acknowledged after it returns, and
        what it queues is published before that)."""
        seen = []

        def idle_twice():
            seen.append(self.broker.idle())
            return seen[-2:] == [True, True]

        wait_for(idle_twice, timeout=timeout, interval=0.1, what="the worker to be idle")

    def mark(self) -> None:
        """From now on, ``log()`` shows what the worker writes."""
        last = self.logs[-1] if self.logs else None
        self._mark = (len(self.logs), last.stat().st_size if last else 0)

    def log(self) -> str:
        """What the worker(s) wrote since ``mark()``."""
        count, offset = self._mark
        parts = []
        for index, path in enumerate(self.logs):
            if index + 1 < count:
                continue
            with path.open("rb") as file:
                if index + 1 == count:
                    file.seek(offset)
                parts.append(file.read().decode(errors="replace"))
        return "".join(parts)

    def result_of(self, task_id: str, timeout: float = WAIT_TIMEOUT) -> str:
        """The return value (its repr) the worker logged for ``task_id``."""
        succeeded = re.compile(rf"\[{re.escape(task_id)}\] succeeded in \S+s: (.*)$", re.M)
        found = wait_for(
            lambda: succeeded.search(self.log()), timeout=timeout, what=f"task {task_id} to end"
        )
        return found.group(1)


def _database_url(database: dict) -> str:
    host = database["HOST"] or "localhost"
    netloc = quote(host, safe="") if host.startswith("/") else host
    if database["PORT"]:
        netloc += f":{database['PORT']}"
    if database["USER"]:
        auth = quote(database["USER"], safe="")
        if database["PASSWORD"]:
            auth += f":{quote(database['PASSWORD'], safe='')}"
        netloc = f"{auth}@{netloc}"
    return f"postgres://{netloc}/{quote(database['NAME'], safe='')}"


@pytest.fixture(scope="session")
def celery_worker_process(broker, smtp_port, django_db_setup, tmp_path_factory):
    """The session's worker, on the test database (the name pytest-django gave it)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "welfare_portal.settings",
        "DATABASE_URL": _database_url(connection.settings_dict),
        "REDIS_URL": broker.url,
        "CACHE_URL": settings.CACHES["default"]["LOCATION"],
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "ROUTING_SWEEP_AFTER_SECONDS": "0",
        "DELIVERY_RETRY_BACKOFF": "1",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "EMAIL_HOST_USER": "",
        "EMAIL_HOST_PASSWORD": "",
        "EMAIL_USE_TLS": "false",
        "EMAIL_TIMEOUT": "5",
        "PYTHONUNBUFFERED": "1",
    }
    worker = CeleryWorker(env=env, log_dir=tmp_path_factory.mktemp("celery"), broker=broker)
    atexit.register(worker.kill)  # also when the session is interrupted
    yield worker
    worker.stop()


@pytest.fixture
def worker(
    celery_worker_process, broker, celery_app, transactional_db, request
) -> Iterator[CeleryWorker]:
    """A running, idle worker with an empty queue; killed after a test that failed or left
    work behind, so that the next test starts from a clean one.

    ``transactional_db`` is requested here, not only through the marker: pytest-django
    orders the tests (plain ``db`` ones first, transactional ones after, as Django does)
    before this folder's hook adds the marker, and a transactional test run among the
    plain ones would leave them an empty database."""
    broker.hold_session_lock()
    worker = celery_worker_process
    if worker.running:
        broker.purge(unacked=False)
    else:
        broker.purge(unacked=True)
        worker.start()
    worker.mark()
    yield worker
    report = getattr(request.node, "_integration_report_call", None)
    failed = report is None or report.failed
    leftover = ""
    if not failed and worker.running:
        try:
            worker.wait_until_idle(timeout=5)
        except AssertionError as error:
            leftover = str(error)
    if failed or leftover:
        print(f"--- Celery worker log of {request.node.nodeid} ---\n{worker.log()}")
        worker.kill()
    assert not leftover, f"The test left work in the broker: {leftover}"
