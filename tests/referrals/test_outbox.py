"""Follow-up work is never lost: jobs by reference, an outbox row per job, the sweep.

The real worker and broker (a killed worker, Redis restarted empty) are exercised in
``tests/integration``; here the publish is made to fail as a broker error would.
"""

import logging
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import OperationalError as DatabaseError
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from referrals import notifications, outbox, services, tasks
from referrals.models import Notification, OutboxMessage, Referral, Status
from services.models import NeedCategory
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down(monkeypatch):
    """Every publish fails as it does when Redis refuses the connection."""

    def refuse(*args, **kwargs):
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.run_outbox_message, "apply_async", refuse)
    return monkeypatch


def overdue(settings) -> timezone.datetime:
    return timezone.now() + timedelta(seconds=settings.OUTBOX_SWEEP_AFTER_SECONDS + 1)


def test_a_function_that_is_not_a_job_is_refused_where_it_is_queued():
    """The old ``enqueue("notify_referer", …)`` logged a misspelt name as "a sweep will
    pick it up"; a job is now the function itself, and anything else fails at once."""

    def not_a_job(*, event_id):
        return event_id

    with pytest.raises(TypeError, match="not a follow-up job"), transaction.atomic():
        outbox.enqueue(not_a_job, event_id=1)
    assert not OutboxMessage.objects.exists()


def test_the_runner_task_is_registered_under_the_name_the_outbox_publishes_to():
    from welfare_portal.celery import app

    assert app.tasks[outbox.RUN_TASK].name == tasks.run_outbox_message.name == outbox.RUN_TASK


def test_a_web_process_knows_the_runner_task_without_importing_the_tasks_itself():
    """gunicorn never imports ``referrals.tasks``; the app registry must load it, or every
    publish would fail with ``NotRegistered`` (found by bench/faults.py)."""
    probe = (
        "import django; django.setup(); "
        "from welfare_portal.celery import app; "
        f"print({outbox.RUN_TASK!r} in app.tasks)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "welfare_portal.settings", "DEBUG": "true"},
    )
    assert result.stdout.strip() == "True", result.stderr


def test_only_broker_errors_are_swallowed_at_publish(monkeypatch):
    def bug(*args, **kwargs):
        raise ValueError("a bug, not the broker")

    monkeypatch.setattr(tasks.run_outbox_message, "apply_async", bug)
    message = OutboxMessage.objects.create(job="x", args={}, queue="celery")
    with pytest.raises(ValueError, match="a bug"):
        outbox.publish(message)


def test_a_broker_error_while_the_unit_accepts_still_tells_the_referrer_after_the_sweep(
    assigned_referral,
    unit_worker,
    referrer,
    broker_down,
    settings,
    caplog,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    """Before the outbox, ``notify_referrer`` was queued with no record: a broker error at
    that moment left the referrer untold for ever (the sweeps covered only routing,
    overdue and deliveries)."""
    with (
        caplog.at_level(logging.WARNING, logger="referrals.outbox"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.referral_accept(referral_id=assigned_referral.pk, actor=unit_worker)

    assert Referral.objects.get(pk=assigned_referral.pk).status == Status.ACCEPTED
    assert "Could not queue referrals.notifications.notify_referrer" in caplog.text
    assert not Notification.objects.filter(recipient=referrer).exists()

    broker_down.undo()  # the broker is back; beat runs the sweep
    assert tasks.sweep_outbox.delay().get() == 0  # nothing is overdue yet
    with django_capture_on_commit_callbacks(execute=True):
        sent = outbox.sweep(now=overdue(settings))

    assert sent == 2  # notify_referrer, and notify_partner for the unit's webhooks
    told = Notification.objects.get(recipient=referrer)
    assert (told.kind, told.referral_id) == (Notification.Kind.STATUS, assigned_referral.pk)
    assert not OutboxMessage.objects.filter(done_at=None).exists()


def test_a_message_the_broker_lost_is_sent_again_once_overdue_and_not_before(
    assigned_referral, settings, eager_tasks, django_capture_on_commit_callbacks
):
    """Redis restarted empty, or the worker was killed mid-job: the message was published
    but never completed, so it is still undone."""
    event = assigned_referral.events.create(to_status=Status.ASSIGNED)
    message = OutboxMessage.objects.create(
        job=notifications.notify_referrer.outbox_job,
        args={"event_id": event.pk},
        queue="celery",
        due_at=timezone.now() + timedelta(seconds=settings.OUTBOX_SWEEP_AFTER_SECONDS),
    )
    done = OutboxMessage.objects.create(job="x", args={}, queue="celery", done_at=timezone.now())
    OutboxMessage.objects.filter(pk=done.pk).update(due_at=timezone.now() - timedelta(days=1))

    assert outbox.messages_waiting() == []
    assert [m.pk for m in outbox.messages_waiting(now=overdue(settings))] == [message.pk]
    with django_capture_on_commit_callbacks(execute=True):  # and its e-mail is sent
        assert outbox.sweep(now=overdue(settings)) == 1

    message.refresh_from_db()
    assert message.done_at is not None
    assert message.sends == 1
    assert Notification.objects.filter(event=event, kind=Notification.Kind.STATUS).count() == 1
    # Sent again by a second sweep (as if the first had been lost too): still one notification.
    OutboxMessage.objects.filter(pk=message.pk).update(done_at=None, due_at=timezone.now())
    assert outbox.sweep(now=overdue(settings)) == 1
    assert Notification.objects.filter(event=event, kind=Notification.Kind.STATUS).count() == 1


def test_a_sweep_while_the_broker_is_still_down_keeps_the_message_for_the_next(
    settings, broker_down
):
    message = OutboxMessage.objects.create(
        job="x", args={}, queue="celery", due_at=timezone.now() - timedelta(seconds=1)
    )
    assert outbox.sweep() == 0
    message.refresh_from_db()
    assert message.done_at is None
    assert message.sends == 1
    assert message.due_at > timezone.now()  # due again after another sweep interval


def test_a_job_that_fails_stays_undone_and_raises(assigned_referral, monkeypatch):
    def broken(*, event_id):
        raise RuntimeError("broken invariant")

    name = notifications.notify_referrer.outbox_job
    monkeypatch.setitem(outbox._JOBS, name, outbox.Job(name=name, func=broken, queue="celery"))
    message = OutboxMessage.objects.create(
        job=notifications.notify_referrer.outbox_job, args={"event_id": 1}, queue="celery"
    )
    with pytest.raises(RuntimeError):
        outbox.run(message.pk)
    assert OutboxMessage.objects.get(pk=message.pk).done_at is None


def test_the_runner_retries_a_lost_database_connection():
    """A delivery due during a PostgreSQL restart used to wait for the five-minute sweep:
    the runner retries database errors with back-off instead."""
    assert DatabaseError in tasks.run_outbox_message.autoretry_for
    assert tasks.run_outbox_message.acks_late is True


def test_done_messages_are_purged_after_a_week_and_undone_ones_never(settings):
    now = timezone.now()
    old_done = OutboxMessage.objects.create(job="x", queue="celery", done_at=now - timedelta(8))
    recent = OutboxMessage.objects.create(job="x", queue="celery", done_at=now - timedelta(6))
    undone = OutboxMessage.objects.create(job="x", queue="celery")
    OutboxMessage.objects.filter(pk=undone.pk).update(created_at=now - timedelta(days=30))

    assert outbox.purge_done(now=now) == 1
    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {recent.pk, undone.pk}
    assert not OutboxMessage.objects.filter(pk=old_done.pk).exists()


def test_every_follow_up_of_a_routed_referral_goes_through_the_outbox(
    referrer, caring_team, ssp_area, ifsc_unit, unit_worker
):
    referral = factories.ReferralFactory(
        referrer=referrer, referring_team=caring_team, sub_district=ssp_area
    )
    referral.needs.set([NeedCategory.objects.get(code="child_family")])
    with transaction.atomic():
        services.referral_route(referral_id=referral.pk)
    jobs = set(OutboxMessage.objects.values_list("job", flat=True))
    assert notifications.notify_assignment.outbox_job in jobs
    assert notifications.notify_referrer.outbox_job in jobs
