from datetime import timedelta

import pytest
from django.db import connections
from django.urls import reverse
from django.utils import timezone

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


# --- Work silently piling up (issue 15): reported as degraded, still a 200 ---------------


def health(client):
    response = client.get(reverse("healthz"))
    return response.status_code, response.json()


@pytest.mark.django_db
def test_a_clean_system_reports_every_registered_check_ok(client, settings):
    status, body = health(client)
    assert status == 200 and body["status"] == "ok", body
    assert body["checks"]["deliveries"] == "ok"
    expected = "eager" if settings.CELERY_TASK_ALWAYS_EAGER else "ok"
    assert body["checks"]["routing"] == body["checks"]["sweeps"] == expected
    assert body["degraded"] == []


@pytest.mark.django_db
def test_referrals_left_unrouted_are_a_routing_backlog(client, settings):
    """A backlog is reported by /healthz where tasks go to workers; asked of the check itself
    with workers assumed, since a laptop without Redis runs tasks in-process."""
    from referrals.health import routing_backlog
    from tests import factories

    factories.ReferralFactory(
        status="submitted", submitted_at=timezone.now() - timedelta(minutes=10)
    )
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        status, body = health(client)
        assert status == 200
        assert body["checks"]["routing"] == "backlog"
        assert "routing" in body["degraded"] and body["status"] in ("degraded", "fail")
    settings.CELERY_TASK_ALWAYS_EAGER = False  # as in production: workers should be routing
    assert routing_backlog() == "backlog"
    # The embedded demo routes inside the request: a referral left "submitted" there is no
    # sign of a stopped worker, and /healthz does not cry wolf.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert health(client)[1]["checks"]["routing"] == "eager"


@pytest.mark.django_db
def test_outbox_jobs_overdue_past_the_sweep_mean_the_sweeps_stopped(settings):
    """Asked of the check itself: where tasks run in-process (a laptop without Redis) there
    is no beat, and /healthz says "eager" for it."""
    from referrals.health import sweeps
    from referrals.models import OutboxMessage

    settings.CELERY_TASK_ALWAYS_EAGER = False  # as in production: beat should be sweeping
    late = OutboxMessage.objects.create(
        job="referrals.services.referral_route",
        args={"referral_id": 1},
        queue="celery",
        due_at=timezone.now() - timedelta(minutes=20),
    )
    assert sweeps() == "stale"
    OutboxMessage.objects.filter(pk=late.pk).update(done_at=timezone.now())
    assert sweeps() == "ok"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert sweeps() == "eager"


@pytest.mark.django_db
def test_deliveries_retried_for_over_an_hour_are_failing(client):
    from referrals.models import Delivery

    Delivery.objects.create(
        key="health-test",
        channel=Delivery.Channel.EMAIL,
        to="someone@example.org",
        subject="s",
        body="b",
        attempts=4,
        last_error="connection refused",
        created_at=timezone.now() - timedelta(hours=2),
    )
    _status, body = health(client)
    assert body["checks"]["deliveries"] == "failing"
    assert "deliveries" in body["degraded"]
