import pytest
from django.db import connections
from django.urls import reverse

from welfare_portal.health import database_status


@pytest.mark.django_db
def test_healthz_reports_database_and_broker_ok(client, settings):
    response = client.get(reverse("healthz"))
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    expected_broker = "eager" if settings.CELERY_TASK_ALWAYS_EAGER else "ok"
    assert body["checks"]["broker"] == expected_broker


@pytest.mark.django_db
def test_healthz_is_503_and_names_the_broker_when_it_is_unreachable(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["failed"] == ["broker"]
    assert response.json()["checks"]["database"] == "ok"


@pytest.mark.django_db
def test_database_status_is_unreachable_when_the_server_refuses():
    from django.db.backends.postgresql.base import DatabaseWrapper

    settings_dict = {
        **connections["default"].settings_dict,
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "127.0.0.1",
        "PORT": "1",  # nothing listens on port 1
        "NAME": "nowhere",
        "USER": "nobody",
        "OPTIONS": {"connect_timeout": 2},
    }
    unreachable = DatabaseWrapper(settings_dict, alias="unreachable")
    try:
        assert database_status(unreachable) == "unreachable"
    finally:
        unreachable.close()
