"""Operations (issue 15): request ids, JSON log lines and Sentry error reports without
personal data (welfare_portal/observability.py, the LOGGING and SENTRY settings).

The outside world here is Sentry: its events go through the real sentry-sdk, to a transport
that keeps them in the process, or over HTTP to a listener on 127.0.0.1."""

import gzip
import http.server
import io
import json
import logging
import logging.config
import os
import subprocess
import sys
import threading
import uuid
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sentry_sdk
from celery import shared_task
from django.conf import settings as django_settings
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import include, path, reverse
from django.views.decorators.csrf import csrf_exempt
from sentry_sdk.transport import Transport

from tests.test_settings import IDENTITY_KEYS, SETTINGS_FROM_ENV, STRONG_KEY
from welfare_portal import observability

PROJECT = Path(__file__).resolve().parent.parent
logger = logging.getLogger("tests.observability")

# What a client's referral carries: none of it may reach a log line or an error report.
CLIENT_NAME = "Chan Tai Man"
CLIENT_PHONE = "91234567"
CLIENT_ID_NUMBER = "A1234563"
COOKIE_VALUE = "cookie-value-9f2c"
BEARER = "bearer-token-77d1"
PERSONAL = (CLIENT_NAME, CLIENT_PHONE, CLIENT_ID_NUMBER, COOKIE_VALUE, BEARER)


# --- Views of this module's URLconf -----------------------------------------------------------


def logging_view(request):
    logger.warning("handled %s", 7)
    return HttpResponse("ok")


@csrf_exempt  # posted straight to the WSGI application, without a CSRF cookie
def failing_view(request):
    """Reads the posted form (as a referral view would) and fails."""
    client_name = request.POST["client_name"]  # a local variable Sentry must not send
    sentry_sdk.set_user({"id": 5, "username": "chan.tm", "email": "chan@example.org"})
    raise RuntimeError(f"failed for referral {len(client_name)}")


# The project's pages too: its middleware (the two-factor gate) reverses their names.
urlpatterns = [
    path("logs/", logging_view),
    path("crash/", failing_view),
    path("", include("portal.urls")),
]


@shared_task(name="tests.observability.log_in_a_task")
def log_in_a_task():
    logger.warning("in a task")


@shared_task(name="tests.observability.fail_in_a_task")
def fail_in_a_task(phone):
    raise RuntimeError("task failed")


# --- Fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def own_urls(settings):
    settings.ROOT_URLCONF = __name__


@pytest.fixture
def console_lines():
    """The real console handler of ``LOGGING`` (its filters, the JSON formatter) writing into
    a buffer; returns a function giving the JSON lines written so far."""
    config = json.loads(json.dumps(django_settings.LOGGING))
    config["handlers"]["console"]["formatter"] = "json"
    logging.config.dictConfig(config)
    [console] = [h for h in logging.getLogger().handlers if h.name == "console"]
    buffer = io.StringIO()
    console.setStream(buffer)

    def lines():
        return [json.loads(line) for line in buffer.getvalue().splitlines()]

    yield lines
    logging.config.dictConfig(django_settings.LOGGING)


class KeepingTransport(Transport):
    """Sentry's way out of the process, replaced by a list."""

    def __init__(self, options=None):
        super().__init__(options)
        self.events = []

    def capture_envelope(self, envelope):
        self.events += [item.payload.json for item in envelope.items if item.type == "event"]


def start_sentry(**options):
    observability.init_sentry(
        dsn=options.pop("dsn", "http://key@127.0.0.1:9/1"),
        environment="test",
        traces_sample_rate=0.0,
        **options,
    )
    return sentry_sdk.get_client()


@pytest.fixture
def sentry():
    """sentry-sdk started as the settings start it, keeping its events; stopped after."""
    transport = KeepingTransport()
    start_sentry(transport=transport)
    yield transport
    stop_sentry()


def stop_sentry():
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


def a_uuid(value: str) -> uuid.UUID:
    return uuid.UUID(value)  # raises ValueError if it is not one


# --- Request ids --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_request_without_an_id_is_given_a_new_uuid_in_the_answer(client):
    first = client.get(reverse("healthz"))["X-Request-ID"]
    second = client.get(reverse("healthz"))["X-Request-ID"]
    assert a_uuid(first) != a_uuid(second)
    assert a_uuid(first).hex == first  # 32 hex digits, as the ids of tasks started by beat


@pytest.mark.django_db
def test_a_valid_incoming_request_id_is_kept(client):
    sent = str(uuid.uuid4())
    assert client.get(reverse("healthz"), headers={"X-Request-ID": sent})["X-Request-ID"] == sent


@pytest.mark.django_db
@pytest.mark.parametrize("sent", ["1234", "not-a-uuid", "<script>alert(1)</script>", "a" * 200])
def test_an_invalid_incoming_request_id_is_replaced(client, sent):
    answered = client.get(reverse("healthz"), headers={"X-Request-ID": sent})["X-Request-ID"]
    assert answered != sent
    a_uuid(answered)


# --- Log lines ----------------------------------------------------------------------------------


def test_a_log_line_written_during_a_request_is_json_with_the_request_id(own_urls, console_lines):
    sent = str(uuid.uuid4())
    response = Client().get("/logs/", headers={"X-Request-ID": sent})
    assert response["X-Request-ID"] == sent
    logger.warning("after the request")

    handled, after = [line for line in console_lines() if line["logger"] == logger.name]
    assert list(handled) == [
        "timestamp",
        "level",
        "logger",
        "message",
        "request_id",
        "task_name",
        "task_id",
    ]
    assert handled["message"] == "handled 7" and handled["level"] == "WARNING"
    assert handled["request_id"] == sent
    assert after["request_id"] is None  # the id ends with its request
    stamp = datetime.fromisoformat(handled["timestamp"])
    assert handled["timestamp"].endswith("Z") and stamp.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60


def test_a_log_line_carries_no_extra_a_library_attaches(console_lines):
    """django.request logs ``request`` (its repr has the query string) as an extra."""
    logger.warning("not found", extra={"request": f"GET /?phone={CLIENT_PHONE}"})
    [line] = [line for line in console_lines() if line["logger"] == logger.name]
    assert CLIENT_PHONE not in json.dumps(line)


def test_an_exception_is_logged_with_its_traceback_in_the_line(console_lines):
    try:
        raise ValueError("broken")
    except ValueError:
        logger.exception("it failed")
    [line] = [line for line in console_lines() if line["logger"] == logger.name]
    assert "ValueError: broken" in line["exc_info"]


def test_a_task_outside_a_request_logs_its_own_id_and_its_name(console_lines):
    """A task beat starts has no request: django-guid's Celery integration gives it an id."""
    result = log_in_a_task.apply()
    [line] = [line for line in console_lines() if line["message"] == "in a task"]
    assert line["task_name"] == "tests.observability.log_in_a_task"
    assert line["task_id"] == result.id
    assert line["request_id"]
    [outside] = [line for line in console_lines() if line["logger"] == "celery.app.trace"][-1:]
    assert outside["task_id"] == result.id


def run_settings(code: str, **env_overrides) -> subprocess.CompletedProcess:
    """``code`` in a new interpreter after ``django.setup()``, with DEBUG off and nothing of
    this test run's log or Sentry settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in SETTINGS_FROM_ENV and not key.startswith(("LOG_", "SENTRY_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="welfare_portal.settings",
        DEBUG="false",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="portal.example.org",
        **IDENTITY_KEYS,
    )
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


LOG_ONE = "import logging; logging.getLogger('referrals.tasks').warning('one line')"


def test_log_lines_are_json_when_debug_is_off():
    result = run_settings(LOG_ONE)
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["logger"] == "referrals.tasks" and line["message"] == "one line"
    assert line["request_id"] is None


@pytest.mark.parametrize("env", [{"DEBUG": "true"}, {"LOG_FORMAT": "text"}], ids=["debug", "text"])
def test_log_lines_are_text_in_debug_mode_or_when_asked(env):
    result = run_settings(LOG_ONE, **env)
    assert result.returncode == 0, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.endswith("WARNING [None] referrals.tasks: one line")


def test_an_unknown_log_format_stops_start_up():
    result = run_settings("", LOG_FORMAT="xml")
    assert result.returncode != 0
    assert "LOG_FORMAT must be json or text" in result.stderr


# --- Sentry -------------------------------------------------------------------------------------

SENTRY_STATE = (
    "import sentry_sdk, json; client = sentry_sdk.get_client(); o = client.options; "
    "print(json.dumps([client.is_active(), o.get('dsn'), o.get('environment'), "
    "o.get('traces_sample_rate'), client.should_send_default_pii(), "
    "o.get('include_local_variables'), "
    "o.get('max_request_body_size'), getattr(o.get('before_send'), '__qualname__', None), "
    "sorted(client.integrations)]))"
)


def test_without_a_dsn_sentry_is_not_started():
    result = run_settings(SENTRY_STATE)
    assert result.returncode == 0, result.stderr
    active, *_ = json.loads(result.stdout)
    assert active is False


def test_a_dsn_starts_sentry_with_django_celery_and_no_personal_data():
    dsn = "http://key@127.0.0.1:9/1"
    result = run_settings(
        SENTRY_STATE,
        SENTRY_DSN=dsn,
        SENTRY_ENVIRONMENT="staging",
        SENTRY_TRACES_SAMPLE_RATE="0.25",
    )
    assert result.returncode == 0, result.stderr
    active, sent_dsn, environment, rate, pii, local_vars, bodies, before_send, integrations = (
        json.loads(result.stdout)
    )
    assert (active, sent_dsn, environment, rate) == (True, dsn, "staging", 0.25)
    assert (pii, local_vars, bodies, before_send) == (False, False, "never", "scrub_event")
    assert {"django", "celery"} <= set(integrations)


def assert_no_personal_data(event: dict) -> None:
    text = json.dumps(event)
    for value in PERSONAL:
        assert value not in text, value


FAILING_URL = f"/crash/?phone={CLIENT_PHONE}&q={CLIENT_NAME}"
FORM = {"client_name": CLIENT_NAME, "phone": CLIENT_PHONE, "id_number": CLIENT_ID_NUMBER}


def request_headers(request_id: str) -> dict[str, str]:
    return {
        "X-Request-ID": request_id,
        "Authorization": f"Bearer {BEARER}",
        "Referer": f"https://portal.example.org/referrals/?phone={CLIENT_PHONE}",
        "User-Agent": "pytest",
    }


def post_through_wsgi(request_id: str) -> tuple[str, dict[str, str]]:
    """The failing form post as gunicorn hands it over: to Django's WSGI application, where
    sentry-sdk also reads the URL, query string and headers (the test client skips it)."""
    factory = RequestFactory()
    factory.cookies["tracking"] = COOKIE_VALUE  # not the session's: no database is needed
    environ = factory.post(FAILING_URL, FORM, headers=request_headers(request_id)).environ
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer.update(status=status, headers=dict(headers))

    # As Django's test client does: the test's database connection stays open.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        b"".join(WSGIHandler()(environ, start_response))
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    return answer["status"], answer["headers"]


@pytest.mark.django_db  # the session cookie is looked up
def test_an_error_report_keeps_no_body_cookie_user_or_variables(own_urls, sentry):
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = COOKIE_VALUE
    request_id = str(uuid.uuid4())
    response = client.post(FAILING_URL, FORM, headers=request_headers(request_id))
    assert response.status_code == 500
    sentry_sdk.flush()

    [event] = sentry.events
    exception = event["exception"]["values"][-1]  # the one raised last
    assert exception["type"] == "RuntimeError"
    assert event["tags"]["request_id"] == request_id
    assert not {"data", "cookies"} & set(event.get("request", {}))
    assert event["user"] == {"id": 5}
    frames = exception["stacktrace"]["frames"]
    assert any(frame["function"] == "failing_view" for frame in frames)
    assert not any("vars" in frame for frame in frames)
    assert_no_personal_data(event)


def test_an_error_report_keeps_only_harmless_headers_and_no_query_string(own_urls, sentry):
    request_id = str(uuid.uuid4())
    status, headers = post_through_wsgi(request_id)
    assert status.startswith("500") and headers["X-Request-ID"] == request_id
    sentry_sdk.flush()

    [event] = sentry.events
    request = event["request"]
    assert request["method"] == "POST" and request["url"].endswith("/crash/")
    assert not {"data", "cookies", "query_string", "env"} & set(request)
    assert {key.lower() for key in request["headers"]} <= observability.HEADERS_KEPT
    assert request["headers"]["X-Request-Id"] == request_id
    assert event["tags"]["request_id"] == request_id
    assert_no_personal_data(event)


def test_a_failing_task_is_reported_without_its_arguments(sentry):
    with pytest.raises(RuntimeError):  # CELERY_TASK_EAGER_PROPAGATES
        fail_in_a_task.apply(args=[CLIENT_PHONE])
    sentry_sdk.flush()
    [event] = sentry.events
    assert event["extra"]["celery-job"] == {"task_name": "tests.observability.fail_in_a_task"}
    assert event["tags"]["request_id"]  # the task's own id, as in its log lines
    assert_no_personal_data(event)


def test_the_denylist_scrubs_personal_keys_sentry_does_not_know(sentry):
    sentry_sdk.set_extra("referral", {"client_name": CLIENT_NAME, "id_number": CLIENT_ID_NUMBER})
    sentry_sdk.add_breadcrumb(message="form", data={"phone": CLIENT_PHONE})
    sentry_sdk.capture_message("something odd")
    sentry_sdk.flush()
    [event] = sentry.events
    assert event["extra"]["referral"] == {"client_name": "[Filtered]", "id_number": "[Filtered]"}
    assert_no_personal_data(event)


class EnvelopeSink(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, dict, bytes]] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        self.received.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def envelope_sink():
    EnvelopeSink.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EnvelopeSink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_an_error_report_reaches_a_real_sentry_endpoint_without_personal_data(
    own_urls, envelope_sink
):
    port = envelope_sink.server_address[1]
    start_sentry(dsn=f"http://key@127.0.0.1:{port}/1")
    try:
        request_id = str(uuid.uuid4())
        status, _ = post_through_wsgi(request_id)
        assert status.startswith("500")
        sentry_sdk.flush(timeout=10)
    finally:
        stop_sentry()

    assert EnvelopeSink.received, "no envelope reached the listener"
    events = []
    for url_path, headers, body in EnvelopeSink.received:  # the event; sessions, reports
        assert url_path == "/api/1/envelope/"
        assert "sentry_key=key" in headers["X-Sentry-Auth"]
        text = body.decode()
        for value in PERSONAL:
            assert value not in text, value
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
        events += [item for item in items if "exception" in item]
    [event] = events
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["tags"]["request_id"] == request_id
