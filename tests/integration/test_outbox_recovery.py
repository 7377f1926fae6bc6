"""Follow-up work the broker lost is redone: a real worker, Redis emptied under it.

Before the outbox, the notify tasks Redis held when it lost its queue (killed and started
empty) were never redone: the unit was never told, nor the referrer, whatever the sweeps
did (they covered routing, overdue and deliveries only).
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from referrals import services, tasks
from referrals.models import Delivery, Notification, OutboxMessage, Referral, Status
from tests.integration.test_worker_reliability import (
    assert_one_email_per_delivery,
    submitted_referral,
    told_of_the_assignment,
    wait_until_mailed,
)


def test_notify_jobs_lost_with_the_brokers_queue_are_redone_by_the_outbox_sweep(
    referrer,
    caring_team,
    ssp_area,
    ifsc_unit,
    unit_staff,
    worker,
    broker,
    smtp_server,
):
    referral = submitted_referral(referrer, caring_team, ssp_area)
    worker.stop()  # nothing takes the jobs off the queue
    with transaction.atomic():
        services.referral_route(referral_id=referral.pk)  # publishes its follow-ups on commit
    assert Referral.objects.get(pk=referral.pk).status == Status.ASSIGNED
    assert broker.queued() >= 2, "notify_assignment and notify_referrer were published"

    broker.purge(unacked=True)  # Redis restarted empty: the published jobs are gone
    worker.start()
    worker.wait_until_idle()
    assert not Notification.objects.filter(referral=referral).exists()
    waiting = OutboxMessage.objects.filter(done_at=None)
    assert waiting.count() >= 2

    # Time passes beyond OUTBOX_SWEEP_AFTER_SECONDS; beat runs the sweep on the worker.
    waiting.update(due_at=timezone.now() - timedelta(seconds=1))
    sweep = tasks.sweep_outbox.delay()
    assert int(worker.result_of(sweep.id)) >= 2

    wait_until_mailed(smtp_server, referral, unit_staff)
    worker.wait_until_idle()
    # The unit's staff are told of the assignment, and the referrer that it was assigned.
    told = sorted(Notification.objects.filter(referral=referral).values_list("recipient", "kind"))
    assert told == told_of_the_assignment(referral, unit_staff)
    assert (referrer.pk, Notification.Kind.STATUS) in told
    assert not OutboxMessage.objects.filter(done_at=None).exists()
    assert {d.state for d in Delivery.objects.filter(notification__referral=referral)} == {
        Delivery.State.SENT
    }
    assert_one_email_per_delivery(smtp_server, referral)
