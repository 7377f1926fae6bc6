"""The worker keeps consuming after Redis restarts under a task it is running.

A PRIVATE ``redis-server`` (bench/private_services.py) is the broker here, so stopping it
disturbs no one else. The worker runs two pool processes, as production does: while one
runs a task, the worker waits on Redis for the next, and that wait is where kombu's stock
transport turned the lost connection into "Unrecoverable error" and a dead worker
(welfare_portal/broker.py).
"""

from collections.abc import Iterator

import pytest
from django.db import connection, transaction

from bench.private_services import PrivateRedis
from referrals import tasks
from referrals.models import Referral, ReferralEvent
from tests.integration.conftest import Broker, CeleryWorker, use_broker, wait_for
from tests.integration.test_worker_reliability import submitted_referral


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    redis = PrivateRedis()
    redis.start()
    yield redis
    redis.destroy()


@pytest.fixture
def worker_on_private_redis(
    private_redis, celery_worker_process, celery_app, transactional_db, tmp_path, request
) -> Iterator[CeleryWorker]:
    """A worker with two pool processes on the private Redis and the test database; the
    project's app publishes there for the test."""
    url = private_redis.url(0)
    worker = CeleryWorker(
        env={**celery_worker_process.env, "REDIS_URL": url},
        log_dir=tmp_path,
        broker=Broker(url),
        concurrency=2,
    )
    worker.start()
    use_broker(celery_app, url)
    yield worker
    report = getattr(request.node, "_integration_report_call", None)
    if report is None or report.failed:
        print(f"--- Celery worker log ---\n{worker.log()}")
    worker.stop()


def routings(referral_id: int) -> int:
    return ReferralEvent.objects.filter(
        referral_id=referral_id, kind=ReferralEvent.Kind.ROUTING
    ).count()


def a_backend_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        # Inside a transaction PostgreSQL keeps the first view of the statistics.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0] > 0


def test_the_worker_resumes_after_redis_restarts_under_a_running_task(
    worker_on_private_redis, private_redis, celery_app, referrer, caring_team, ssp_area
):
    worker = worker_on_private_redis
    first = submitted_referral(referrer, caring_team, ssp_area)
    second = submitted_referral(referrer, caring_team, ssp_area)

    # The routing task is running, held on the referral's row lock, when Redis goes away.
    with transaction.atomic():
        Referral.objects.select_for_update().get(pk=first.pk)
        tasks.route_referral.delay(first.pk)
        wait_for(a_backend_waits_for_a_lock, what="the routing task to wait for the row lock")
        private_redis.stop()
        wait_for(
            lambda: "Connection to broker lost" in worker.log(),
            what="the worker to notice that Redis is gone",
        )
    # The task finishes its work with Redis still away (only its acknowledgement is lost).
    wait_for(lambda: routings(first.pk) == 1, what="the running task to route the referral")

    private_redis.start()
    wait_for(lambda: worker.log().count("Connected to") >= 2, what="the worker to reconnect")
    use_broker(celery_app, private_redis.url(0))  # the app's pooled connections died too
    tasks.route_referral.delay(second.pk)
    wait_for(
        lambda: routings(second.pk) == 1,
        what="the worker to take the next task after Redis came back",
    )

    assert worker.running
    assert "Unrecoverable error" not in worker.log()
    assert routings(first.pk) == routings(second.pk) == 1
