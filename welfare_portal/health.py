"""``/healthz``: is the database reachable, and the Celery broker?"""

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


@never_cache
@require_GET
def healthz(request):
    checks = {"database": database_status(), "broker": broker_status()}
    failed = sorted(name for name, state in checks.items() if state == "unreachable")
    body = {"status": "fail" if failed else "ok", "checks": checks, "failed": failed}
    return JsonResponse(body, status=503 if failed else 200)
