"""``/healthz``: is the database reachable, and the Celery broker? And is work silently
piling up (checks the apps register: routing backlog, stopped sweeps, failing deliveries)?

The database and the broker are what the web process needs to serve: either unreachable is
a 503 (``failed``). A registered check answering anything but ``ok`` is reported as
``degraded`` with a 200: the process can serve, but something behind it is broken and an
operator must look, without a container orchestrator restarting the web for it.
"""

from collections.abc import Callable

import redis
from django.conf import settings
from django.db import DatabaseError, connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

BROKER_TIMEOUT_SECONDS = 2


def database_status(connection=None) -> str:
    connection = connection or connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return "unreachable"
    return "ok"


def broker_status(broker_url: str | None = None) -> str:
    """``ok``, ``unreachable``, or ``eager`` when tasks run in-process (demo mode)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager"
    url = broker_url or settings.CELERY_BROKER_URL
    try:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
            socket_timeout=BROKER_TIMEOUT_SECONDS,
        )
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError:
        return "unreachable"
    return "ok"


# name -> a function answering "ok" or what is wrong ("backlog", "stale", "failing"); the
# apps above this base register theirs (their AppConfig.ready).
_registered: dict[str, Callable[[], str]] = {}


def register(name: str, check: Callable[[], str]) -> None:
    _registered[name] = check


@never_cache
@require_GET
def healthz(request):
    checks = {"database": database_status(), "broker": broker_status()}
    failed = sorted(name for name, state in checks.items() if state == "unreachable")
    if not failed:  # the registered checks read the database
        checks.update({name: check() for name, check in sorted(_registered.items())})
    degraded = sorted(name for name in _registered if checks.get(name) not in ("ok", "eager"))
    status = "fail" if failed else "degraded" if degraded else "ok"
    body = {"status": status, "checks": checks, "failed": failed, "degraded": degraded}
    return JsonResponse(body, status=503 if failed else 200)
