"""Logs and error reports an operator can follow: request ids, JSON log lines, Sentry.

Request ids come from django-guid (settings ``DJANGO_GUID``): its middleware takes a valid
UUID from the request's ``X-Request-ID`` header or makes one, sends it back in the answer's
``X-Request-ID``, and its Celery integration carries it into the tasks the request queues
(in the message headers); a task queued outside a request (by beat) gets an id of its own.
Its log filter puts the id on every record as ``request_id``; ``TaskContext`` below adds the
running Celery task's name and id, and ``JsonFormatter`` writes one JSON object a line.

Error reports go to Sentry only when ``SENTRY_DSN`` is set (``init_sentry``, called by the
settings), with personal data removed before an event leaves the process
(``scrub_event``): no request bodies, cookies, query strings, local variables, user fields
but the id, nor headers outside ``HEADERS_KEPT``.
"""

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from celery import current_task
from django_guid import get_guid
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

# --- Log lines ------------------------------------------------------------------------------

# What a JSON line holds, in this order, as record attribute -> key in the line; an
# exception's traceback is added as "exc_info". Nothing else from the record is written: an
# ``extra`` some library adds (django.request's ``request``, whose repr has the query string)
# stays out of the logs.
JSON_FIELDS = {
    "levelname": "level",
    "name": "logger",
    "message": "message",
    "request_id": "request_id",
    "task_name": "task_name",
    "task_id": "task_id",
}
TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


def request_id_settings() -> dict[str, Any]:
    """``DJANGO_GUID``: ids from a valid ``X-Request-ID`` or new, sent back, into Celery."""
    from django_guid.integrations import CeleryIntegration

    return {
        "GUID_HEADER_NAME": "X-Request-ID",
        "VALIDATE_GUID": True,
        "UUID_FORMAT": "hex",  # 32 hex digits, as the ids django-guid makes for Celery tasks
        "RETURN_HEADER": True,
        "EXPOSE_HEADER": False,
        "INTEGRATIONS": [CeleryIntegration()],
    }


def logging_settings(log_format: str, level: str) -> dict[str, Any]:
    """``LOGGING``: one console handler, every record with its request id and Celery task,
    written as ``log_format`` ("json" or "text"). The Celery worker and beat apply it too
    (welfare_portal/celery.py)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {
                "()": "django_guid.log_filters.CorrelationId",
                "correlation_id_field": "request_id",
            },
            "task": {"()": "welfare_portal.observability.TaskContext"},
        },
        "formatters": {
            "json": {"()": "welfare_portal.observability.JsonFormatter"},
            "text": {"format": TEXT_FORMAT},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "filters": ["request_id", "task"],
                "formatter": log_format,
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # httpx logs every webhook URL it calls at INFO; a partner's URL may carry a token.
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
            # django-guid says at INFO, on every request, whether the id was sent or made.
            "django_guid": {"level": "WARNING"},
        },
    }


class TaskContext(logging.Filter):
    """Adds ``task_name`` and ``task_id`` of the Celery task being run (``None`` outside a
    task), as Celery's own task log format does."""

    def filter(self, record: logging.LogRecord) -> bool:
        task = current_task
        running = bool(task) and getattr(task.request, "id", None) is not None
        record.task_name = task.name if running else None
        record.task_id = task.request.id if running else None
        return True


class JsonFormatter(BaseJsonFormatter):
    """One JSON object a line: ``timestamp`` (ISO 8601, UTC, milliseconds), then
    ``JSON_FIELDS``; ``request_id`` is null outside a request or task."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(list(JSON_FIELDS), rename_fields=JSON_FIELDS, **kwargs)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        created = datetime.fromtimestamp(record.created, tz=UTC)
        log_data["timestamp"] = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        for attribute, key in JSON_FIELDS.items():
            log_data[key] = getattr(record, attribute, None)
        for key in ("exc_info", "stack_info"):
            if message_dict.get(key):
                log_data[key] = message_dict[key]


# --- Error reports (Sentry) ---------------------------------------------------------------

# Keys whose values are replaced by "[Filtered]" wherever they appear in an event (request
# data, extra, breadcrumbs, spans), on top of sentry-sdk's own list (passwords, tokens,
# cookies, CSRF, sessions): the names the portal's forms and models give personal data.
PERSONAL_KEYS = [
    "name",
    "client_name",
    "full_name",
    "first_name",
    "last_name",
    "name_en",
    "name_zh",
    "identity",
    "identity_number",
    "id_number",
    "hkid",
    "phone",
    "phone_number",
    "mobile",
    "contact_phone",
    "email",
    "address",
    "date_of_birth",
    "birth_date",
    "dob",
    "notes",
    "description",
]
# Request headers an event keeps (lower case); every other one (cookies, authorisation,
# forwarded addresses, referer with its query string) is dropped.
HEADERS_KEPT = {
    "accept",
    "accept-language",
    "content-length",
    "content-type",
    "host",
    "user-agent",
    "x-request-id",
}


def _without_query(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(query="", fragment=""))


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry's ``before_send`` (and ``before_send_transaction``): what is left of personal
    data after ``send_default_pii=False`` and the event scrubber goes, and the event is
    tagged with the request id (the one in the log lines)."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("data", "cookies", "query_string", "env"):
            request.pop(key, None)
        if isinstance(request.get("url"), str):
            request["url"] = _without_query(request["url"])
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                key: value for key, value in headers.items() if key.lower() in HEADERS_KEPT
            }
    user = event.get("user")
    if isinstance(user, dict):
        if user.get("id") is not None:
            event["user"] = {"id": user["id"]}
        else:
            event.pop("user")
    for values in _exception_and_thread_values(event):
        frames = (values.get("stacktrace") or {}).get("frames") or []
        for frame in frames:
            if isinstance(frame, dict):
                frame.pop("vars", None)
    breadcrumbs = event.get("breadcrumbs")
    if isinstance(breadcrumbs, dict):
        for crumb in breadcrumbs.get("values") or []:
            if isinstance(crumb, dict):
                crumb.pop("data", None)  # an HTTP call's URL and query, a log record's extras
    for span in event.get("spans") or []:
        if isinstance(span, dict) and isinstance(span.get("data"), dict):
            for key in ("http.query", "http.fragment", "url"):
                span["data"].pop(key, None)
    extra = event.get("extra")
    if isinstance(extra, dict) and isinstance(extra.get("celery-job"), dict):
        extra["celery-job"] = {"task_name": extra["celery-job"].get("task_name")}
    request_id = get_guid()
    if request_id:
        tags = event.get("tags")
        if not isinstance(tags, dict):
            tags = event["tags"] = {}
        tags["request_id"] = request_id
    return event


def _exception_and_thread_values(event: dict[str, Any]) -> list[dict[str, Any]]:
    values = []
    for key in ("exception", "threads"):
        container = event.get(key)
        if isinstance(container, dict):
            values += [value for value in container.get("values") or [] if isinstance(value, dict)]
    return values


def init_sentry(*, dsn: str, environment: str, traces_sample_rate: float, **options: Any) -> None:
    """Start sentry-sdk with its Django and Celery integrations (the settings call this only
    when ``SENTRY_DSN`` is set). ``options`` go to ``sentry_sdk.init`` too (a test's
    ``transport``)."""
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        traces_sample_rate=traces_sample_rate,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        # ``send_default_pii`` is left unset, which is False: sentry-sdk 2.75 deprecates the
        # option (its successor, ``data_collection``, would switch the event scrubber off).
        include_local_variables=False,
        max_request_body_size="never",
        event_scrubber=EventScrubber(denylist=DEFAULT_DENYLIST + PERSONAL_KEYS, recursive=True),
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        **options,
    )
