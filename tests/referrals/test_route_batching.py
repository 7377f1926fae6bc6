"""A routing job routes the other routing jobs waiting with it (issue 20,
``referrals/route_batches.py``), and carries out the batch's follow-ups in one transaction
(``outbox._run_together``). Committed for real (transactional tests): the locks, the
commits and the follow-ups run on commit are what is tested."""

import threading
from datetime import timedelta
from itertools import count

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from referrals import outbox, route_batches, services
from referrals.models import Notification, OutboxMessage, Referral, ReferralEvent, Status
from referrals.notifications import notify_assignment, notify_referrer
from services.models import NeedCategory, ServiceUnit
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PHONES = count(1)
ROUTE = services.referral_route.outbox_job


@pytest.fixture
def published(monkeypatch):
    """The jobs handed to the broker (none is: no worker here)."""
    jobs = []
    monkeypatch.setattr(outbox, "publish", lambda message, **kw: jobs.append(message.job))
    return jobs


@pytest.fixture
def batches(monkeypatch):
    """The referral ids of each ``services.referrals_route`` call."""
    calls = []
    original = services.referrals_route

    def recording(ids):
        calls.append(list(ids))
        return original(ids)

    monkeypatch.setattr(services, "referrals_route", recording)
    return calls


def submitted(referrer, team, area, *, needs=("child_family",), phone=None) -> Referral:
    referral = factories.ReferralFactory(
        referrer=referrer,
        referring_team=team,
        district=area.district,
        sub_district=area,
        status=Status.SUBMITTED,
        phone=phone or f"+8528{next(PHONES):07d}",
    )
    referral.needs.set(NeedCategory.objects.filter(code__in=needs))
    return referral


def waiting_burst(referrer, team, area, shapes) -> tuple[list[int], list[OutboxMessage]]:
    """Submitted referrals of these (needs, phone) shapes, each with its route message
    waiting, as a burst of submissions leaves them."""
    ids = [submitted(referrer, team, area, needs=needs, phone=phone).pk for needs, phone in shapes]
    messages = [outbox.enqueue(services.referral_route, referral_id=pk) for pk in ids]
    return ids, messages


def outcome(ids) -> list:
    """What routing did: each referral's status, lead unit, tasks, routing events and the
    people told of it, and the units' loads."""
    rows = []
    for referral in Referral.objects.filter(pk__in=ids).order_by("pk"):
        tasks = [
            (t.unit.code, t.is_lead, sorted(n.code for n in t.needs.all()), t.status)
            for t in referral.tasks.order_by("pk")
        ]
        events = [
            (e.to_status, e.unit_id, e.details)
            for e in referral.events.filter(kind=ReferralEvent.Kind.ROUTING).order_by("pk")
        ]
        told = sorted(
            Notification.objects.filter(referral=referral).values_list("recipient_id", "kind")
        )
        rows.append((referral.status, referral.assigned_unit_id, tasks, events, told))
    return [rows, dict(ServiceUnit.objects.values_list("code", "current_load"))]


SHAPES = [
    (["financial_hardship"], "+85291234567"),
    (["financial_hardship", "mental_health"], None),  # two units: a lead and a part
    (["child_family"], "+85291234567"),  # the first's household
    (["mental_health"], None),
    (["financial_hardship"], None),
]


class Undo(Exception):
    pass


def test_a_burst_is_routed_by_one_job_in_one_batch_as_each_alone_would_be(
    referrer,
    caring_team,
    ssp_area,
    ifsc_unit,
    other_unit,
    unit_worker,
    published,
    batches,
    monkeypatch,
):
    ids, messages = waiting_burst(referrer, caring_team, ssp_area, SHAPES)
    published.clear()
    try:
        with transaction.atomic(), monkeypatch.context() as alone_only:
            alone_only.setattr(route_batches, "BATCH_SIZE", 1)  # no other claimed
            for message in messages:
                services.referral_route(referral_id=message.args["referral_id"])
            alone = outcome(ids)
            raise Undo
    except Undo:
        pass
    assert batches == [[pk] for pk in ids]
    batches.clear()
    routed = [rows[4] for rows in alone[0]]
    assert all(told == [] for told in routed)  # rolled back before any follow-up ran

    assert outbox.run(messages[0].pk)

    assert batches == [ids]  # one batch, the running job's referral first
    together = outcome(ids)
    assert [row[:4] for row in together[0]] == [row[:4] for row in alone[0]]
    assert together[1] == alone[1]
    for referral_id, (_status, unit_id, _tasks, _events, told) in zip(
        ids, together[0], strict=True
    ):
        assert (referrer.pk, Notification.Kind.STATUS) in told, referral_id
        if unit_id == ifsc_unit.pk:
            assert (unit_worker.pk, Notification.Kind.ASSIGNED) in told
    # Every follow-up was carried out here (the e-mails go to their own queue).
    assert not outbox.pending_for([services.referral_route, notify_assignment, notify_referrer])
    assert set(published) == {"referrals.deliveries.send_delivery"}


def test_the_claimed_messages_are_done_and_their_own_delivery_is_a_no_op(
    referrer, caring_team, ssp_area, ifsc_unit, published, django_assert_num_queries
):
    ids, messages = waiting_burst(referrer, caring_team, ssp_area, SHAPES[:3])
    assert outbox.run(messages[0].pk)
    assert not OutboxMessage.objects.filter(job=ROUTE, done_at=None).exists()
    events = ReferralEvent.objects.filter(referral_id__in=ids).count()

    with django_assert_num_queries(1):  # finds it done
        assert outbox.run(messages[2].pk)
    services.referral_route(referral_id=ids[2])  # the job itself, run again: nothing to do
    assert ReferralEvent.objects.filter(referral_id__in=ids).count() == events


def test_route_messages_of_referrals_no_longer_submitted_are_not_claimed(
    referrer, caring_team, ssp_area, ifsc_unit, published, batches
):
    ids, messages = waiting_burst(referrer, caring_team, ssp_area, SHAPES[:3])
    Referral.objects.filter(pk=ids[1]).update(status=Status.TRIAGE)

    assert outbox.run(messages[0].pk)

    assert batches == [[ids[0], ids[2]]]
    assert OutboxMessage.objects.get(pk=messages[1].pk).done_at is None  # left to its delivery


def holding(lock) -> tuple[threading.Thread, threading.Event]:
    """Another connection holds ``lock()``'s row locks until the returned event is set."""
    held, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                lock()
                held.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(10)
    return thread, release


@pytest.mark.parametrize("held", ["referral", "message"])
def test_a_message_whose_referral_or_row_another_transaction_holds_is_left_undone(
    held, referrer, caring_team, ssp_area, ifsc_unit, published, batches
):
    ids, messages = waiting_burst(referrer, caring_team, ssp_area, SHAPES[:3])
    if held == "referral":  # another step (or another worker's job) on it
        rows = Referral.objects.filter(pk=ids[1])
    else:  # claimed by another worker's batch
        rows = OutboxMessage.objects.filter(pk=messages[1].pk)
    thread, release = holding(lambda: list(rows.select_for_update()))
    try:
        assert outbox.run(messages[0].pk)  # SKIP LOCKED: no waiting on the other
    finally:
        release.set()
        thread.join(10)

    assert batches == [[ids[0], ids[2]]] if held == "message" else [ids]
    statuses = dict(Referral.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert statuses[ids[1]] == Status.SUBMITTED
    assert {statuses[ids[0]], statuses[ids[2]]} == {Status.ASSIGNED}
    assert OutboxMessage.objects.get(pk=messages[1].pk).done_at is None
    assert OutboxMessage.objects.get(pk=messages[2].pk).done_at is not None

    assert outbox.run(messages[1].pk)  # its own delivery routes it
    assert Referral.objects.get(pk=ids[1]).status == Status.ASSIGNED


def test_a_batch_that_fails_marks_nothing_done(
    referrer, caring_team, ssp_area, ifsc_unit, published, monkeypatch
):
    ids, messages = waiting_burst(referrer, caring_team, ssp_area, SHAPES[:3])

    def broken(referral, plan):
        raise RuntimeError("a bug")

    monkeypatch.setattr(services, "apply_plan", broken)
    with pytest.raises(RuntimeError):
        outbox.run(messages[0].pk)

    assert OutboxMessage.objects.filter(job=ROUTE, done_at=None).count() == 3
    assert set(Referral.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        Status.SUBMITTED
    }


def test_a_follow_up_that_fails_in_the_batch_is_queued_and_the_others_are_done(
    referrer, caring_team, ssp_area, ifsc_unit, unit_worker, published, monkeypatch
):
    ids, messages = waiting_burst(referrer, caring_team, ssp_area, SHAPES[:3])
    job = outbox.job_named(notify_referrer.outbox_job)
    first_event = []

    def fails_once(*, event_id):
        if not first_event:
            first_event.append(event_id)
            Notification.objects.create(  # written, then rolled back with the job
                recipient=referrer, event_id=event_id, kind="status", referral_id=ids[0]
            )
            raise RuntimeError("a bug")
        return job.func(event_id=event_id)

    monkeypatch.setitem(outbox._JOBS, job.name, outbox.Job(job.name, fails_once, job.queue))
    published.clear()

    assert outbox.run(messages[0].pk)

    assert outbox.pending_for([notify_referrer]) == 1  # the failed one, published
    assert published.count(notify_referrer.outbox_job) == 1
    assert not Notification.objects.filter(event_id=first_event[0], recipient=referrer).exists()
    assert not outbox.pending_for([notify_assignment])
    told = Notification.objects.filter(referral_id__in=ids, kind=Notification.Kind.STATUS)
    assert told.count() == len(ids) - 1


# Queries of a route job run, per referral of its batch: routing (its task, event, load and
# household's units, 16), its follow-ups (the unit's staff and the referrer told: 2
# notifications, 2 e-mails and their outbox rows, 12) and 10 savepoints (each follow-up's
# own, the e-mails' and webhooks'). One at a time it was 57.9 on the bench database.
PER_REFERRAL = 38


def test_a_batch_costs_a_fixed_number_of_queries_per_referral(
    referrer, caring_team, ssp_area, ifsc_unit, unit_worker, published
):
    costs = []
    for size in (1, 3, 6):  # the first reads the routing directory, kept for the others
        _ids, messages = waiting_burst(
            referrer, caring_team, ssp_area, [(["child_family"], None)] * size
        )
        with CaptureQueriesContext(connection) as queries:
            assert outbox.run(messages[0].pk)
        costs.append(len(queries.captured_queries))
    assert (costs[2] - costs[1]) / 3 == PER_REFERRAL, costs


def test_a_follow_up_that_must_wait_keeps_its_work_and_its_due_time_moves_on(
    referrer, caring_team, ssp_area, ifsc_unit, unit_worker, published, monkeypatch, settings
):
    _ids, messages = waiting_burst(referrer, caring_team, ssp_area, SHAPES[:2])
    job = outbox.job_named(notify_assignment.outbox_job)

    def waits(*, event_id):
        job.func(event_id=event_id)
        raise outbox.TryLater(300)

    monkeypatch.setitem(outbox._JOBS, job.name, outbox.Job(job.name, waits, job.queue))
    published.clear()
    started = timezone.now()

    assert outbox.run(messages[0].pk)

    waiting = OutboxMessage.objects.filter(job=job.name, done_at=None)
    assert waiting.count() == 2 == published.count(job.name)
    later = started + timedelta(seconds=300 + settings.OUTBOX_SWEEP_AFTER_SECONDS)
    assert all(message.due_at >= later for message in waiting)
    assert Notification.objects.filter(recipient=unit_worker).count() == 2  # kept
    assert not outbox.pending_for([notify_referrer])


def test_a_job_whose_referral_a_batch_routed_meanwhile_routes_the_others_waiting(
    referrer, caring_team, ssp_area, ifsc_unit, published, batches
):
    """The duplicate that waited on its referral's lock while another worker's batch routed
    it starts the next batch at once, instead of leaving it to the messages behind it."""
    ids, messages = waiting_burst(referrer, caring_team, ssp_area, SHAPES[:3])
    services.referrals_route([ids[0]])  # the batch it waited for (its message not claimed)
    batches.clear()

    assert outbox.run(messages[0].pk)

    assert batches == [ids[1:]]
    assert not OutboxMessage.objects.filter(job=ROUTE, done_at=None).exists()
    assert set(Referral.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        Status.ASSIGNED
    }
