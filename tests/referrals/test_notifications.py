"""Notifications and e-mail: who is told, in which language, delivery, retries and digests."""

import logging
import socket
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from accounts.models import Membership
from referrals import deliveries, identity, notifications, outbox, services, tasks
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
from tests.referrals.conftest import file_through_page

pytestmark = pytest.mark.django_db

LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
PERSONAL = {
    "subject_name_zh": "李美華",
    "subject_name_en": "Lee Mei Wah",
    "phone": "+85269876543",
    "address": "Flat A, 1/F, Synthetic Building, Sham Shui Po",
}


def staff(username, unit, role=Membership.Role.UNIT_STAFF, **user_fields):
    user = factories.UserFactory(username=username, **user_fields)
    factories.MembershipFactory(user=user, role=role, service_unit=unit)
    return user


def officer(username, office_code, **user_fields):
    user = factories.UserFactory(username=username, **user_fields)
    factories.MembershipFactory(
        user=user,
        role=Membership.Role.DISTRICT_OFFICER,
        service_unit=None,
        welfare_office=factories.office(office_code),
    )
    return user


@pytest.fixture
def routed_referral(referrer, caring_team, ssp_area, ifsc_unit):
    """A child-and-family referral with personal data, routed to ``ifsc_unit``; its
    after-commit work (notifications) has not run."""
    protected = identity.protect("hkid", "G123456(A)")
    referral = factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        sub_district=ssp_area,
        id_type=protected.id_type,
        id_number_encrypted=protected.ciphertext,
        id_number_hash=protected.digest,
        id_number_masked=protected.masked,
        **PERSONAL,
    )
    referral.needs.set(NeedCategory.objects.filter(code="child_family"))
    return services.referral_route(referral_id=referral.pk)


def routing_event(referral):
    return ReferralEvent.objects.get(referral=referral, kind=ReferralEvent.Kind.ROUTING)


def a_delivery(**fields):
    values = {
        "key": f"test:{uuid.uuid4()}",
        "to": "someone@example.org",
        "subject": "[Welfare Portal] Test",
        "body": "Hello",
    }
    return Delivery.objects.create(**(values | fields))


@pytest.fixture
def smtp_down(settings):
    """SMTP pointed at a local port that is bound but not listening: connections are refused."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = blocker.getsockname()[1]
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_TIMEOUT = 5
        yield


# --- notify_assignment -------------------------------------------------------------------


def test_every_active_staff_member_of_the_unit_is_told_once(
    routed_referral, ifsc_unit, unit_worker, unit_supervisor, other_unit_worker, referrer
):
    staff("left-last-year", ifsc_unit, is_active=False)
    staff("no-email", ifsc_unit, email="")
    staff("unit-referrer", ifsc_unit, role=Membership.Role.REFERRER)
    event = routing_event(routed_referral)

    told = notifications.notify_assignment(event_id=event.pk)

    recipients = {n.recipient.username for n in told}
    assert recipients == {"unit-worker", "unit-supervisor", "no-email"}
    assert Notification.objects.count() == 3
    for notification in told:
        assert notification.kind == Notification.Kind.ASSIGNED
        assert (notification.referral, notification.event) == (routed_referral, event)
        assert notification.read_at is None
    deliveries = Delivery.objects.select_related("notification__recipient")
    assert sorted((d.notification.recipient.username, d.to) for d in deliveries) == [
        ("unit-supervisor", "unit-supervisor@example.org"),
        ("unit-worker", "unit-worker@example.org"),
    ]
    assert {d.state for d in deliveries} == {Delivery.State.PENDING}

    again = notifications.notify_assignment(event_id=event.pk)

    assert {n.pk for n in again} == {n.pk for n in told}
    assert Notification.objects.count() == 3
    assert Delivery.objects.count() == 2


def test_only_an_assignment_event_tells_a_unit(referrer, caring_team, ssp_area, unit_worker):
    referral = factories.ReferralFactory(
        referrer=referrer, referring_team=caring_team, sub_district=ssp_area
    )
    referral.needs.set(NeedCategory.objects.filter(code="elderly_care"))
    services.referral_route(referral_id=referral.pk)  # no elderly centre: triage
    assert notifications.notify_assignment(event_id=routing_event(referral).pk) == []
    assert not Notification.objects.exists()


def test_the_email_is_in_the_recipients_language_and_holds_no_personal_data(
    routed_referral, ifsc_unit, unit_worker, unit_supervisor
):
    unit_supervisor.preferred_language = "zh-hant"
    unit_supervisor.save()
    notifications.notify_assignment(event_id=routing_event(routed_referral).pk)
    english = Delivery.objects.get(to=unit_worker.email)
    chinese = Delivery.objects.get(to=unit_supervisor.email)

    assert ifsc_unit.name_en in english.body
    assert ifsc_unit.name_zh not in english.body
    assert ifsc_unit.name_zh in chinese.body
    assert ifsc_unit.name_en not in chinese.body
    assert english.subject.startswith("[Welfare Portal] ")
    link = reverse("referrals:detail", kwargs={"public_id": routed_referral.public_id})
    for delivery in [english, chinese]:
        assert routed_referral.reference in delivery.subject
        assert routed_referral.reference in delivery.body
        assert link in delivery.body
        text = delivery.subject + delivery.body
        for value in [
            *PERSONAL.values(),
            "李",
            "Lee",
            "69876543",
            "6987 6543",
            "Synthetic",
            "G123456",
            routed_referral.id_number_masked,
        ]:
            assert value not in text


# --- delivery_send ----------------------------------------------------------------------


def test_a_delivery_is_sent_once(settings):
    settings.EMAIL_BACKEND = LOCMEM
    delivery = a_delivery(last_error="ConnectionRefusedError: earlier", attempts=1)

    sent = deliveries.delivery_send(delivery_id=delivery.pk)

    assert sent.state == Delivery.State.SENT
    assert sent.attempts == 2
    assert sent.last_error == ""
    assert sent.sent_at is not None
    [message] = mail.outbox
    assert (message.to, message.subject, message.body) == (
        ["someone@example.org"],
        "[Welfare Portal] Test",
        "Hello",
    )

    again = deliveries.delivery_send(delivery_id=delivery.pk)

    assert len(mail.outbox) == 1
    assert (again.state, again.attempts, again.sent_at) == (Delivery.State.SENT, 2, sent.sent_at)


def test_an_smtp_failure_is_counted_and_retried_until_the_last_attempt(settings, smtp_down, caplog):
    settings.DELIVERY_MAX_ATTEMPTS = 3
    delivery = a_delivery()

    first = deliveries.delivery_send(delivery_id=delivery.pk)

    assert (first.state, first.attempts) == (Delivery.State.PENDING, 1)
    assert first.last_error.startswith("ConnectionRefusedError")
    assert first.sent_at is None
    assert Delivery.objects.get(pk=delivery.pk).attempts == 1

    deliveries.delivery_send(delivery_id=delivery.pk)
    assert Delivery.objects.get(pk=delivery.pk).state == Delivery.State.PENDING
    with caplog.at_level(logging.ERROR, logger="referrals.deliveries"):
        last = deliveries.delivery_send(delivery_id=delivery.pk)

    assert (last.state, last.attempts) == (Delivery.State.FAILED, 3)
    assert last.last_error
    assert f"Gave up on delivery {delivery.pk}" in caplog.text
    after = deliveries.delivery_send(delivery_id=delivery.pk)
    assert (after.state, after.attempts) == (Delivery.State.FAILED, 3)


def queued(delivery: Delivery) -> OutboxMessage:
    """Queue ``send_delivery`` for the delivery as the services do; not yet run."""
    with transaction.atomic():
        return outbox.enqueue(deliveries.send_delivery, delivery_id=delivery.pk)


def run(message: OutboxMessage):
    return tasks.run_outbox_message.delay(message.pk).get()


def test_the_send_job_sends_once_and_marks_its_message_done(settings, eager_tasks):
    settings.EMAIL_BACKEND = LOCMEM
    delivery = a_delivery()
    message = OutboxMessage.objects.create(
        job=deliveries.send_delivery.outbox_job, args={"delivery_id": delivery.pk}, queue="x"
    )
    assert run(message) is True
    assert run(message) is True  # a duplicate from the broker or the sweep
    assert len(mail.outbox) == 1
    assert Delivery.objects.get(pk=delivery.pk).state == Delivery.State.SENT
    assert OutboxMessage.objects.get(pk=message.pk).done_at is not None


def test_deliveries_are_sent_on_their_own_queue(settings, eager_tasks):
    message = queued(a_delivery())
    assert message.queue == outbox.DELIVERIES_QUEUE == "deliveries"
    assert outbox.job_named(notifications.notify_assignment.outbox_job).queue == "celery"


@pytest.mark.parametrize(
    ("attempts", "wait"), [(1, 30), (2, 60), (3, 120), (5, 480), (6, 600), (12, 600)]
)
def test_the_wait_before_the_next_try_doubles_up_to_ten_minutes(settings, attempts, wait):
    settings.DELIVERY_RETRY_BACKOFF = 30
    assert deliveries.retry_countdown(attempts) == wait


def test_run_eagerly_a_failed_attempt_waits_for_the_sweep_and_the_last_one_gives_up(
    settings, smtp_down, eager_tasks
):
    """In the demo (eager) a failure is not retried in-process: the message stays undone,
    due again after the back-off, for the sweep; a real worker retries it (tests/integration)."""
    settings.DELIVERY_MAX_ATTEMPTS = 3
    settings.DELIVERY_RETRY_BACKOFF = 30
    delivery = a_delivery()
    message = OutboxMessage.objects.create(
        job=deliveries.send_delivery.outbox_job, args={"delivery_id": delivery.pk}, queue="x"
    )
    for attempt in (1, 2):
        before = timezone.now()
        assert run(message) is False
        assert Delivery.objects.get(pk=delivery.pk).attempts == attempt
        waiting = OutboxMessage.objects.get(pk=message.pk)
        assert waiting.done_at is None
        wait = 30 * 2 ** (attempt - 1) + settings.OUTBOX_SWEEP_AFTER_SECONDS
        assert waiting.due_at >= before + timedelta(seconds=wait)
    assert run(message) is True
    failed = Delivery.objects.get(pk=delivery.pk)
    assert (failed.state, failed.attempts) == (Delivery.State.FAILED, 3)
    assert OutboxMessage.objects.get(pk=message.pk).done_at is not None


def test_a_failing_mail_server_does_not_stop_a_submission(
    client,
    referrer,
    referral_form,
    ifsc_unit,
    unit_worker,
    settings,
    smtp_down,
    caplog,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    settings.DELIVERY_MAX_ATTEMPTS = 2
    client.force_login(referrer)
    child_family = NeedCategory.objects.get(code="child_family").pk

    with django_capture_on_commit_callbacks(execute=True):
        response = file_through_page(client, referral_form(needs=[child_family]))

    assert response.status_code == 302
    referral = Referral.objects.get()
    assert (referral.status, referral.assigned_unit) == (Status.ASSIGNED, ifsc_unit)
    notification = Notification.objects.get(recipient=unit_worker, referral=referral)
    delivery = Delivery.objects.get(notification=notification)
    # Run eagerly, the failed attempt is recorded and the delivery waits for the sweep.
    assert (delivery.state, delivery.attempts) == (Delivery.State.PENDING, 1)
    assert delivery.last_error.startswith("ConnectionRefusedError")
    assert "Could not queue" not in caplog.text
    assert not mail.outbox


def test_a_broker_that_cannot_be_reached_is_logged_not_raised_and_swept_later(
    routed_referral,
    unit_worker,
    settings,
    monkeypatch,
    caplog,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    settings.EMAIL_BACKEND = LOCMEM

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.run_outbox_message, "apply_async", broker_down)
    with (
        caplog.at_level(logging.WARNING, logger="referrals.outbox"),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        notifications.notify_assignment(event_id=routing_event(routed_referral).pk)

    assert len(callbacks) == 1
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == (Delivery.State.PENDING, 0)
    assert "Could not queue" in caplog.text
    assert "the outbox sweep will send it" in caplog.text
    monkeypatch.undo()  # the broker is back
    # The fixture's own routing follow-ups never ran; they are not this test's.
    OutboxMessage.objects.exclude(job=deliveries.send_delivery.outbox_job).delete()
    assert outbox.sweep() == 0  # not overdue yet: it may still be on its way
    later = timezone.now() + timedelta(seconds=settings.OUTBOX_SWEEP_AFTER_SECONDS + 1)
    assert outbox.sweep(now=later) == 1
    assert Delivery.objects.get(pk=delivery.pk).state == Delivery.State.SENT
    assert [m.to for m in mail.outbox] == [[unit_worker.email]]


# --- notification_mark_read -------------------------------------------------------------


@pytest.fixture
def inbox(routed_referral, unit_worker, unit_supervisor):
    """Two unread notifications for ``unit_worker``, one for ``unit_supervisor``."""
    event = routing_event(routed_referral)
    other_event = ReferralEvent.objects.create(
        referral=routed_referral, to_status=Status.ASSIGNED, kind=ReferralEvent.Kind.OVERDUE
    )

    def notification(user, on, kind):
        return Notification.objects.create(
            recipient=user, referral=routed_referral, event=on, kind=kind
        )

    return {
        "first": notification(unit_worker, event, Notification.Kind.ASSIGNED),
        "second": notification(unit_worker, other_event, Notification.Kind.OVERDUE),
        "theirs": notification(unit_supervisor, event, Notification.Kind.ASSIGNED),
    }


def unread(user):
    return set(
        Notification.objects.filter(recipient=user, read_at__isnull=True).values_list(
            "pk", flat=True
        )
    )


def test_marking_one_notification_read(inbox, unit_worker, unit_supervisor):
    count = notifications.notification_mark_read(
        user=unit_worker, notification_id=inbox["first"].pk
    )
    assert count == 1
    assert unread(unit_worker) == {inbox["second"].pk}
    assert unread(unit_supervisor) == {inbox["theirs"].pk}
    read_at = Notification.objects.get(pk=inbox["first"].pk).read_at
    assert read_at is not None
    again = notifications.notification_mark_read(
        user=unit_worker, notification_id=inbox["first"].pk
    )
    assert again == 0
    assert Notification.objects.get(pk=inbox["first"].pk).read_at == read_at


def test_marking_all_notifications_read_touches_only_ones_own(inbox, unit_worker, unit_supervisor):
    notifications.notification_mark_read(user=unit_worker, notification_id=inbox["first"].pk)
    assert notifications.notification_mark_read(user=unit_worker) == 1
    assert unread(unit_worker) == set()
    assert unread(unit_supervisor) == {inbox["theirs"].pk}


def test_nobody_marks_another_users_notification(inbox, unit_worker, unit_supervisor):
    assert (
        notifications.notification_mark_read(user=unit_worker, notification_id=inbox["theirs"].pk)
        == 0
    )
    assert Notification.objects.get(pk=inbox["theirs"].pk).read_at is None
    assert unread(unit_worker) == {inbox["first"].pk, inbox["second"].pk}


# --- send_office_digests ----------------------------------------------------------------


@pytest.fixture
def office_figures(referrer, caring_team, ifsc_unit):
    """Sham Shui Po: 2 in triage, 1 overdue, 1 escalated, 1 received today.
    Kwun Tong: 1 in triage (received today), 1 escalated. Returns the digest time: 08:00 today,
    so that an hour later is still the same day."""
    now = timezone.localtime().replace(hour=8, minute=0, second=0, microsecond=0)
    old = now - timedelta(days=3)

    def referral(district, status, submitted_at=old, **fields):
        return factories.ReferralFactory(
            referrer=referrer,
            referring_team=caring_team,
            district=factories.district(district),
            status=status,
            submitted_at=submitted_at,
            **fields,
        )

    referral("F", Status.TRIAGE)
    referral("F", Status.TRIAGE)
    # Past its due time and not yet marked by the beat: overdue all the same (item 15).
    referral("F", Status.ASSIGNED, assigned_unit=ifsc_unit, due_at=old)
    referral("F", Status.ACCEPTED, assigned_unit=ifsc_unit, escalated_at=old)
    referral("F", Status.SUBMITTED, submitted_at=now - timedelta(hours=2))
    referral("F", Status.ASSIGNED, assigned_unit=ifsc_unit, due_at=now + timedelta(hours=1))
    # Closed: counted nowhere.
    referral("F", Status.COMPLETED, escalated_at=old, overdue_at=old)
    referral("F", Status.CANCELLED, submitted_at=now - timedelta(hours=1))
    referral("J", Status.TRIAGE, submitted_at=now - timedelta(hours=5))
    referral("J", Status.IN_PROGRESS, escalated_at=old)
    return now


def figures(triage, overdue, escalated, received) -> str:
    return (
        f"Waiting for triage: {triage}\n"
        f"Not acknowledged in time: {overdue}\n"
        f"Escalated: {escalated}\n"
        f"Received in the last day: {received}\n"
    )


def test_office_counts(office_figures):
    now = office_figures
    assert notifications.office_digest_counts(factories.office("SSP"), now=now) == {
        "triage": 2,
        "overdue": 1,
        "escalated": 1,
        "received": 1,
    }
    assert notifications.office_digest_counts(factories.office("KT"), now=now) == {
        "triage": 1,
        "overdue": 0,
        "escalated": 1,
        "received": 1,
    }


def test_each_district_officer_gets_their_own_offices_figures_once_a_day(
    office_figures,
    district_officer,
    other_district_officer,
    unit_supervisor,
    django_capture_on_commit_callbacks,
):
    now = office_figures
    officer("ssp-no-email", "SSP", email="")
    officer("ssp-retired", "SSP", is_active=False)
    colleague = officer("ssp-colleague", "SSP")

    with django_capture_on_commit_callbacks() as queued:
        deliveries = notifications.send_office_digests(now=now)

    by_recipient = {d.to: d for d in deliveries}
    assert set(by_recipient) == {
        "officer-ssp@example.org",
        "ssp-colleague@example.org",
        "officer-kt@example.org",
    }
    assert Delivery.objects.count() == 3
    assert len(queued) == 3
    date = timezone.localdate(now).isoformat()
    ssp, kt = by_recipient["officer-ssp@example.org"], by_recipient["officer-kt@example.org"]
    assert figures(triage=2, overdue=1, escalated=1, received=1) in ssp.body
    assert figures(triage=1, overdue=0, escalated=1, received=1) in kt.body
    assert (
        by_recipient["ssp-colleague@example.org"].body.replace(
            colleague.get_full_name(), district_officer.get_full_name()
        )
        == ssp.body
    )
    ssp_name = factories.office("SSP").name_en
    kt_name = factories.office("KT").name_en
    assert ssp_name in ssp.subject and date in ssp.subject
    assert kt_name in kt.subject and date in kt.subject
    assert ssp_name not in kt.subject + kt.body
    assert kt_name not in ssp.subject + ssp.body
    assert {d.notification for d in deliveries} == {None}
    assert {d.state for d in deliveries} == {Delivery.State.PENDING}

    with django_capture_on_commit_callbacks() as queued_again:
        again = notifications.send_office_digests(now=now + timedelta(hours=1))

    assert {d.pk for d in again} == {d.pk for d in deliveries}
    assert Delivery.objects.count() == 3
    assert queued_again == []

    tomorrow = notifications.send_office_digests(now=now + timedelta(days=1))
    assert len(tomorrow) == 3
    assert Delivery.objects.count() == 6


def test_no_district_officer_no_digest(office_figures, unit_worker):
    assert notifications.send_office_digests(now=office_figures) == []
    assert not Delivery.objects.exists()


# --- What a notification says (issue 19) --------------------------------------------------


def test_nobody_is_told_of_their_own_action(
    routed_referral, district_officer, eager_tasks, django_capture_on_commit_callbacks
):
    """One place (``notifications.notify``) leaves the actor out, whichever job calls it: the
    officer who escalates is not told, the office's other officer is."""
    from referrals.assignment import referral_escalate

    colleague = officer("officer-ssp-2", "SSP")
    with django_capture_on_commit_callbacks(execute=True):
        referral_escalate(referral_id=routed_referral.pk, actor=district_officer, reason="Eviction")
    told = Notification.objects.filter(kind=Notification.Kind.ESCALATED)
    assert {n.recipient for n in told} == {colleague}
    assert not Delivery.objects.filter(to=district_officer.email).exists()


def test_the_actor_is_left_out_even_when_the_job_names_them(routed_referral, unit_worker):
    event = ReferralEvent.objects.create(
        referral=routed_referral, actor=unit_worker, from_status="accepted", to_status="accepted"
    )
    assert notifications.notify(event, [unit_worker], Notification.Kind.MESSAGE) == []


def notification_for(event, kind=Notification.Kind.STATUS):
    return Notification(
        recipient=event.referral.referrer, referral=event.referral, event=event, kind=kind
    )


def a_step(referral, *, actor, from_status, to_status, **fields):
    return ReferralEvent.objects.create(
        referral=referral, actor=actor, from_status=from_status, to_status=to_status, **fields
    )


def test_a_notification_says_who_did_what_and_the_move(routed_referral, unit_worker, ifsc_unit):
    event = a_step(
        routed_referral,
        actor=unit_worker,
        from_status="assigned",
        to_status="accepted",
        unit=ifsc_unit,
    )
    assert notifications.what_changed(notification_for(event)) == (
        f"{routed_referral.reference}: {ifsc_unit.name_en} accepted it (Assigned → Accepted)"
    )


@pytest.mark.parametrize(
    ("actor", "to_status", "said"),
    [
        ("referrer", "cancelled", "The referrer withdrew it (Assigned → Cancelled)"),
        ("district_officer", "cancelled", "The district office withdrew it"),
        (
            "district_officer",
            "entered_in_error",
            "The district office marked it as entered in error",
        ),
        ("unit_worker", "rejected", "declined it (Assigned → Declined by unit)"),
        ("unit_worker", "on_hold", "put it on hold"),
        ("unit_worker", "failed", "closed it as failed"),
        (None, "triage", "The portal sent it to the district office's triage queue"),
    ],
)
def test_each_step_is_said_in_words(routed_referral, ifsc_unit, request, actor, to_status, said):
    user = request.getfixturevalue(actor) if actor else None
    event = a_step(
        routed_referral, actor=user, from_status="assigned", to_status=to_status, unit=ifsc_unit
    )
    assert said in notifications.what_changed(notification_for(event))


def test_the_reason_is_said_to_the_office_and_the_unit_not_to_the_referrer_nor_by_email(
    routed_referral, district_officer, ifsc_unit
):
    event = ReferralEvent.objects.create(
        referral=routed_referral,
        actor=district_officer,
        kind=ReferralEvent.Kind.ESCALATION,
        from_status="assigned",
        to_status="assigned",
        reason="Threatened eviction tomorrow",
    )
    to_the_office = notification_for(event, Notification.Kind.ESCALATED)
    assert notifications.what_changed(to_the_office) == (
        f"{routed_referral.reference}: The district office flagged it as escalated. "
        "Reason: Threatened eviction tomorrow"
    )
    assert "eviction" not in notifications.what_changed(to_the_office, in_email=True)
    assert "eviction" not in notifications.what_changed(notification_for(event))


def test_the_email_says_what_changed_in_its_subject_and_body(
    routed_referral, unit_worker, ifsc_unit
):
    event = a_step(
        routed_referral,
        actor=unit_worker,
        from_status="assigned",
        to_status="accepted",
        unit=ifsc_unit,
    )
    notifications.notify(event, [routed_referral.referrer], Notification.Kind.STATUS)
    delivery = Delivery.objects.get(to=routed_referral.referrer.email)
    said = f"{routed_referral.reference}: {ifsc_unit.name_en} accepted it (Assigned → Accepted)"
    assert delivery.subject == f"[Welfare Portal] {said}"
    assert said in delivery.body
