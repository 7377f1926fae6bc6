"""Routing and notification survive a real worker's failures: each task is delivered at least
once, and the services it calls make a second run change nothing.

The worker, broker and SMTP listener are real processes and sockets (see conftest.py); the
tests wait for the outcome in the database, the broker and the SMTP listener's mailbox.
"""

import logging
import os
import signal
import time

import psycopg
import pytest
from django.db import connection
from django.urls import reverse

from referrals import tasks
from referrals.models import (
    Delivery,
    Notification,
    OutboxMessage,
    Referral,
    ReferralEvent,
    Status,
)
from services.models import NeedCategory
from tests import factories
from tests.integration.conftest import (
    VISIBILITY_TIMEOUT,
    broker_silent,
    broker_unreachable,
    wait_for,
)
from tests.referrals.conftest import file_through_page

NEW = reverse("referrals:new")


def child_family_form(referral_form) -> dict:
    """A Sham Shui Po (F01) referral for child and family support: the "child-family" rule
    sends it to an IFSC whose catchment covers F01, which is ``ifsc_unit``. No risk sign
    ticked: a carer admitted to hospital would make it urgent, with the hotline's rule
    alerting the office on arrival."""
    return referral_form(
        needs=[NeedCategory.objects.get(code="child_family").pk], risk_factors=["unsafe_home"]
    )


def submitted_referral(referrer, caring_team, ssp_area) -> Referral:
    """A committed, submitted and not yet routed referral, as the form leaves it."""
    referral = factories.ReferralFactory(
        referrer=referrer, referring_team=caring_team, sub_district=ssp_area
    )
    referral.needs.set([NeedCategory.objects.get(code="child_family")])
    return referral


def submit_through_the_page(client, referrer, referral_form) -> Referral:
    """The referrer files a child-and-family referral; the page answers at once, and the
    worker assigns it."""
    client.force_login(referrer)
    response = file_through_page(client, child_family_form(referral_form))  # and its check page
    assert response.status_code == 302
    referral = Referral.objects.get()
    wait_until_assigned(referral.pk)
    return referral


def wait_until_assigned(referral_id: int) -> None:
    wait_for(
        lambda: Referral.objects.filter(pk=referral_id, status=Status.ASSIGNED).exists(),
        what=f"referral {referral_id} to be assigned",
    )


def told_of_the_assignment(referral: Referral, staff) -> list[tuple[int, str]]:
    """(recipient, kind) of every notification one assignment makes: each of the unit's
    staff hears of a new referral, the referrer that theirs moved on."""
    return sorted(
        [(user.pk, Notification.Kind.ASSIGNED) for user in staff]
        + [(referral.referrer_id, Notification.Kind.STATUS)]
    )


def assert_routed_once(referral_id: int, unit, staff, *, load_before: int) -> ReferralEvent:
    """One assignment to ``unit`` with its reasons, the unit's load raised once, one in-app
    notification per person told and one e-mail delivery per notification."""
    referral = Referral.objects.get(pk=referral_id)
    assert referral.status == Status.ASSIGNED
    assert referral.assigned_unit_id == unit.pk
    assert referral.routing_rule.code == "child-family"
    [event] = ReferralEvent.objects.filter(referral=referral, kind=ReferralEvent.Kind.ROUTING)
    assert (event.from_status, event.to_status, event.unit_id) == (
        Status.SUBMITTED,
        Status.ASSIGNED,
        unit.pk,
    )
    codes = [reason["code"] for reason in event.details["reasons"]]
    assert "rule_matched" in codes, codes
    assert ReferralEvent.objects.filter(referral=referral, to_status=Status.ASSIGNED).count() == 1
    unit.refresh_from_db()
    assert unit.current_load == load_before + 1
    notifications = Notification.objects.filter(referral=referral)
    assert sorted((n.recipient_id, n.kind) for n in notifications) == told_of_the_assignment(
        referral, staff
    )
    assert {n.event_id for n in notifications} == {event.pk}
    deliveries = Delivery.objects.filter(notification__referral=referral)
    assert sorted(d.notification_id for d in deliveries) == sorted(n.pk for n in notifications)
    assert {d.channel for d in deliveries} == {Delivery.Channel.EMAIL}
    assert sorted(d.to for d in deliveries) == sorted(n.recipient.email for n in notifications)
    return event


def footprint(referral_id: int, unit) -> dict:
    """Everything a repeated task could add or change."""
    referral = Referral.objects.get(pk=referral_id)
    unit.refresh_from_db()
    return {
        "status": referral.status,
        "version": referral.version,
        "events": list(referral.events.values_list("pk", flat=True).order_by("pk")),
        "notifications": sorted(
            Notification.objects.filter(referral=referral).values_list("pk", flat=True)
        ),
        "deliveries": sorted(
            Delivery.objects.filter(notification__referral=referral).values_list(
                "pk", "state", "attempts"
            )
        ),
        "load": unit.current_load,
    }


def wait_until_mailed(smtp, referral: Referral, staff) -> None:
    expected = len(told_of_the_assignment(referral, staff))
    wait_for(lambda: len(smtp.messages) >= expected, what=f"{expected} e-mails")


def assert_one_email_per_delivery(smtp, referral: Referral) -> None:
    referral.refresh_from_db()
    deliveries = Delivery.objects.filter(notification__referral=referral)
    assert {d.state for d in deliveries} == {Delivery.State.SENT}
    received = sorted(recipients for recipients, _message in smtp.messages)
    assert received == sorted((d.to,) for d in deliveries)
    for _recipients, message in smtp.messages:
        assert referral.reference in message["Subject"]


# --- 1. The happy path ------------------------------------------------------------------


def test_the_worker_routes_a_submitted_referral_and_mails_the_unit(
    client, referrer, referral_form, ifsc_unit, unit_staff, worker, smtp_server
):
    load_before = ifsc_unit.current_load
    referral = submit_through_the_page(client, referrer, referral_form)
    wait_until_mailed(smtp_server, referral, unit_staff)
    worker.wait_until_idle()
    assert_routed_once(referral.pk, ifsc_unit, unit_staff, load_before=load_before)
    assert_one_email_per_delivery(smtp_server, referral)


# --- 2. The broker is down when the referral is submitted ------------------------------------


@pytest.mark.parametrize(
    "broker_down", [broker_unreachable, broker_silent], ids=["refused", "silent"]
)
def test_a_referral_submitted_while_the_broker_is_down_is_routed_once_by_the_sweep(
    broker_down,
    client,
    referrer,
    referral_form,
    ifsc_unit,
    unit_staff,
    worker,
    broker,
    celery_app,
    smtp_server,
    caplog,
):
    load_before = ifsc_unit.current_load
    client.force_login(referrer)

    with broker_down(celery_app), caplog.at_level(logging.WARNING, "referrals.outbox"):
        started = time.monotonic()
        response = file_through_page(client, child_family_form(referral_form))
        took = time.monotonic() - started

    assert response.status_code == 302, "the referrer must not see the broker's failure"
    assert took < 10, f"submitting waited {took:.1f} s for the broker"
    assert "Could not queue referrals.services.referral_route" in caplog.text
    referral = Referral.objects.get()
    assert referral.status == Status.SUBMITTED
    assert broker.idle(), "nothing reached the broker"
    time.sleep(1)  # a routing task that did get through would have run by now
    assert Referral.objects.get(pk=referral.pk).status == Status.SUBMITTED
    assert not ReferralEvent.objects.filter(kind=ReferralEvent.Kind.ROUTING).exists()

    # The broker is back (the fixture's app publishes to it again): the beat's sweep runs.
    first_sweep = tasks.sweep_unrouted.delay()
    assert worker.result_of(first_sweep.id) == "1"
    wait_until_assigned(referral.pk)
    wait_until_mailed(smtp_server, referral, unit_staff)
    worker.wait_until_idle()
    assert_routed_once(referral.pk, ifsc_unit, unit_staff, load_before=load_before)
    before = footprint(referral.pk, ifsc_unit)

    second_sweep = tasks.sweep_unrouted.delay()
    assert worker.result_of(second_sweep.id) == "0"
    worker.wait_until_idle()
    assert footprint(referral.pk, ifsc_unit) == before
    assert_one_email_per_delivery(smtp_server, referral)


# --- 3. The worker is killed in the middle of route_referral --------------------------------


class RowLock:
    """Another transaction, on a connection of its own, holding a referral's row lock."""

    def __init__(self):
        database = connection.settings_dict
        params = {
            "dbname": database["NAME"],
            "user": database["USER"],
            "password": database["PASSWORD"],
            "host": database["HOST"],
            "port": database["PORT"],
        }
        self.connection = psycopg.connect(
            **{key: value for key, value in params.items() if value}, connect_timeout=5
        )

    def lock(self, referral_id: int) -> None:
        self.connection.execute(
            "SELECT id FROM referrals_referral WHERE id = %s FOR UPDATE", [referral_id]
        )

    def release(self) -> None:
        self.connection.rollback()

    def waiters(self) -> list[int]:
        """Backends of this database waiting for a lock (the worker's ``SELECT … FOR
        UPDATE``; after a kill, also the dead client's backend until the lock is free)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> %s",
                [self.connection.info.backend_pid],
            )
            return [pid for (pid,) in cursor.fetchall()]

    def close(self) -> None:
        self.connection.rollback()
        self.connection.close()


@pytest.fixture
def row_lock():
    lock = RowLock()
    yield lock
    lock.close()


@pytest.mark.parametrize("killed", ["pool_process", "whole_worker"])
def test_a_worker_killed_in_the_middle_of_routing_leaves_the_referral_routed_once(
    killed,
    referrer,
    caring_team,
    ssp_area,
    ifsc_unit,
    unit_staff,
    worker,
    broker,
    row_lock,
    smtp_server,
):
    load_before = ifsc_unit.current_load
    referral = submitted_referral(referrer, caring_team, ssp_area)
    row_lock.lock(referral.pk)

    routing = tasks.route_referral.delay(referral.pk)

    wait_for(row_lock.waiters, what="route_referral to wait for the referral's row lock")
    if killed == "pool_process":
        [pool_process] = worker.pool_pids()
        os.kill(pool_process, signal.SIGKILL)
        # The main process sees its pool process die and hands the task back to the broker
        # (acks_late with task_reject_on_worker_lost), then runs it in a new pool process.
        wait_for(lambda: "WorkerLostError" in worker.log(), what="the worker to notice")
        assert worker.running
        wait_for(
            lambda: worker.log().count(f"route_referral[{routing.id}] received") == 2,
            what="route_referral to be received again",
        )
        row_lock.release()
    else:
        worker.kill()
        row_lock.release()
        # Nothing acknowledged the task: Redis keeps it until the visibility timeout.
        assert broker.unacked() == 1
        assert Referral.objects.get(pk=referral.pk).status == Status.SUBMITTED
        wait_for(
            lambda: broker.unacked_age() > VISIBILITY_TIMEOUT + 0.5,
            timeout=VISIBILITY_TIMEOUT + 5,
            what="the visibility timeout to pass",
        )
        worker.start()  # a new worker restores the abandoned task when it starts

    assert worker.result_of(routing.id) == "'assigned'"
    wait_until_assigned(referral.pk)
    wait_until_mailed(smtp_server, referral, unit_staff)
    worker.wait_until_idle()
    assert_routed_once(referral.pk, ifsc_unit, unit_staff, load_before=load_before)
    assert_one_email_per_delivery(smtp_server, referral)


# --- 4. The same task delivered twice -------------------------------------------------------


def test_tasks_delivered_twice_assign_notify_and_mail_once(
    referrer, caring_team, ssp_area, ifsc_unit, unit_staff, worker, smtp_server
):
    load_before = ifsc_unit.current_load
    referral = submitted_referral(referrer, caring_team, ssp_area)

    routings = [tasks.route_referral.delay(referral.pk) for _ in range(2)]

    assert [worker.result_of(r.id) for r in routings] == ["'assigned'", "'assigned'"]
    wait_until_mailed(smtp_server, referral, unit_staff)
    worker.wait_until_idle()
    assert_routed_once(referral.pk, ifsc_unit, unit_staff, load_before=load_before)
    before = footprint(referral.pk, ifsc_unit)

    # Every follow-up job (notify the unit, tell the referrer, send each e-mail) arrives
    # twice more, as if the broker had redelivered it and the sweep had resent it.
    messages = list(OutboxMessage.objects.values_list("pk", flat=True))
    assert len(messages) >= 2 + len(before["deliveries"])
    OutboxMessage.objects.update(done_at=None)
    again = [tasks.run_outbox_message.delay(pk) for pk in messages for _twice in range(2)]

    assert {worker.result_of(r.id) for r in again} == {"True"}
    worker.wait_until_idle()
    assert footprint(referral.pk, ifsc_unit) == before
    assert_routed_once(referral.pk, ifsc_unit, unit_staff, load_before=load_before)
    assert_one_email_per_delivery(smtp_server, referral)


# --- 5. The SMTP server is down -------------------------------------------------------------


def test_mail_the_smtp_server_refused_is_retried_until_it_is_sent_once(
    client, referrer, referral_form, ifsc_unit, unit_staff, worker, smtp_sink
):
    load_before = ifsc_unit.current_load
    referral = submit_through_the_page(client, referrer, referral_form)
    told = len(told_of_the_assignment(referral, unit_staff))

    def deliveries():
        return list(Delivery.objects.filter(notification__referral=referral))

    wait_for(
        lambda: len(deliveries()) == told and all(d.attempts >= 1 for d in deliveries()),
        what="a first, failed attempt at each e-mail",
    )
    for delivery in deliveries():
        assert delivery.state == Delivery.State.PENDING
        assert "Connection refused" in delivery.last_error, delivery.last_error
    assert_routed_once(referral.pk, ifsc_unit, unit_staff, load_before=load_before)
    assert "Retry in" in worker.log()

    smtp_sink.start()

    wait_for(
        lambda: {d.state for d in deliveries()} == {Delivery.State.SENT},
        what="the retries to send the e-mails",
    )
    worker.wait_until_idle()
    for delivery in deliveries():
        assert delivery.attempts >= 2
        assert delivery.last_error == ""
        assert delivery.sent_at is not None
    assert_one_email_per_delivery(smtp_sink, referral)
