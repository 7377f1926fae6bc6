"""Routing at speed (issue 20): the directory read once and kept until it changes, the
referral's own reads in a fixed few queries, a batch routed as one by one would route it,
and the follow-ups of a routing job carried out right after it."""

from itertools import count

import pytest
from django.db import transaction

from referrals import outbox, routing_directory, services
from referrals.models import (
    Notification,
    OfficeClosure,
    Referral,
    ReferralEvent,
    RoutingRule,
    Status,
)
from referrals.routing_directory import current_version
from referrals.routing_inputs import RoutingBatch, routing_decision_for
from services.models import NeedCategory, ServiceUnit
from tests import factories

pytestmark = pytest.mark.django_db

PHONES = count(1)


def as_if_committed() -> None:
    """What the setup changed in the directory counts as committed (the test's transaction
    never commits): the version moves on and the kept copy may be used again."""
    for on_commit in routing_directory._pending():
        on_commit()


def make_referral(referrer, team, area, *, needs=("child_family",), phone=None, **fields):
    referral = factories.ReferralFactory(
        referrer=referrer,
        referring_team=team,
        district=area.district,
        sub_district=area,
        status=Status.SUBMITTED,
        phone=phone or f"+8528{next(PHONES):07d}",
        **fields,
    )
    referral.needs.set(NeedCategory.objects.filter(code__in=needs))
    return Referral.objects.select_related("district", "sub_district").get(pk=referral.pk)


@pytest.fixture
def reads(monkeypatch):
    """How many times the directory is read from the database."""
    calls = []
    original = routing_directory.read_directory

    def counting(**kwargs):
        calls.append(1)
        return original(**kwargs)

    monkeypatch.setattr(routing_directory, "read_directory", counting)
    return calls


@pytest.fixture
def two_ifscs(ssp_area):
    return [
        factories.ServiceUnitFactory(
            code=f"ifsc-f-0{n}", catchment_sub_districts=[ssp_area], capacity=100, current_load=5
        )
        for n in (8, 9)
    ]


def test_a_decision_with_the_directory_kept_costs_four_queries(
    referrer, caring_team, ssp_area, ifsc_unit, django_assert_num_queries
):
    referral = make_referral(referrer, caring_team, ssp_area)
    as_if_committed()
    routing_decision_for(referral)  # reads the directory and keeps it
    # The referral's needs, the units it released, the household's units, the loads (before
    # issue 20: ten, seven of them the directory's).
    with django_assert_num_queries(4):
        decision = routing_decision_for(referral)
    assert decision.unit.code == ifsc_unit.code


def test_in_a_batch_a_decision_costs_one_query(
    referrer, caring_team, ssp_area, ifsc_unit, django_assert_num_queries
):
    ids = [make_referral(referrer, caring_team, ssp_area).pk for _ in range(3)]
    as_if_committed()
    batch = RoutingBatch(ids)  # locks them; the directory, loads, needs, released units
    assert [referral.pk for referral in batch.referrals] == ids
    for referral in batch.referrals:
        with django_assert_num_queries(1):  # the household's units
            assert batch.plan(referral).lead.decision.unit.code == ifsc_unit.code


def test_the_kept_directory_is_read_again_only_when_its_version_moves(
    referrer, caring_team, ssp_area, ifsc_unit, reads
):
    referral = make_referral(referrer, caring_team, ssp_area)
    as_if_committed()
    for _ in range(3):
        routing_decision_for(referral)
    assert len(reads) == 1
    before = current_version()

    ifsc_unit.capacity = 50
    ifsc_unit.save()
    as_if_committed()

    assert current_version() != before
    routing_decision_for(referral)
    routing_decision_for(referral)
    assert len(reads) == 2


def test_a_change_is_seen_by_the_next_decision(
    referrer, caring_team, ssp_area, ifsc_unit, two_ifscs
):
    first, second = two_ifscs
    referral = make_referral(referrer, caring_team, ssp_area, needs=["financial_hardship"])
    as_if_committed()
    ServiceUnit.objects.filter(pk=ifsc_unit.pk).update(current_load=90)  # loads: always read
    assert routing_decision_for(referral).unit.code == first.code

    first.is_active = False  # a unit closes (its own transaction, not committed yet)
    first.save()
    assert routing_decision_for(referral).unit.code == second.code
    as_if_committed()
    assert routing_decision_for(referral).unit.code == second.code

    second.catchment_sub_districts.clear()  # a catchment changes: the district fallback
    as_if_committed()
    decision = routing_decision_for(referral)
    assert decision.unit.code == ifsc_unit.code

    hardship = RoutingRule.objects.get(code="financial-hardship")
    hardship.is_active = False  # a rule is switched off
    hardship.save()
    as_if_committed()
    decision = routing_decision_for(referral)
    assert decision.rule is None or decision.rule.code != "financial-hardship"


def test_a_new_closure_is_seen_by_the_next_deadline(referrer, caring_team, ssp_area, ifsc_unit):
    from datetime import timedelta

    from django.utils import timezone

    as_if_committed()
    now = timezone.now()
    plain = services.due_at(None, now, "routine")
    OfficeClosure.objects.create(
        starts_at=now - timedelta(hours=1), ends_at=plain + timedelta(days=3), reason="other"
    )
    as_if_committed()
    assert services.due_at(None, now, "routine") > plain + timedelta(days=3)


def test_with_the_cache_unreachable_every_decision_reads_the_directory(
    referrer, caring_team, ssp_area, ifsc_unit, reads, monkeypatch
):
    referral = make_referral(referrer, caring_team, ssp_area)
    as_if_committed()
    monkeypatch.setattr(routing_directory.cache, "get", lambda *a, **k: None)
    monkeypatch.setattr(routing_directory.cache, "add", lambda *a, **k: False)
    routing_decision_for(referral)
    routing_decision_for(referral)
    assert len(reads) == 2


def outcome(ids) -> list:
    """What routing did to each referral: its status, lead unit, tasks and their needs,
    the routing events' details, and the units' loads."""
    rows = []
    for referral in Referral.objects.filter(pk__in=ids).order_by("pk"):
        tasks = [
            (t.unit.code, t.is_lead, sorted(n.code for n in t.needs.all()), t.status)
            for t in referral.tasks.order_by("pk")
        ]
        events = [
            e.details
            for e in referral.events.filter(kind=ReferralEvent.Kind.ROUTING).order_by("pk")
        ]
        rows.append((referral.status, referral.assigned_unit_id, tasks, events))
    loads = dict(ServiceUnit.objects.values_list("code", "current_load"))
    return [rows, loads]


class Undo(Exception):
    pass


def test_a_batch_routes_as_one_by_one_would(
    referrer, caring_team, ssp_area, ifsc_unit, other_unit, two_ifscs
):
    household = "+85291234567"
    ids = [
        make_referral(referrer, caring_team, ssp_area, needs=needs, phone=phone).pk
        for needs, phone in [
            (["financial_hardship"], household),
            (["financial_hardship", "mental_health"], None),
            (["child_family"], household),  # the same household: continuity with the first
            (["mental_health"], None),
            (["financial_hardship"], None),
            (["elderly_care"], None),
        ]
    ]
    as_if_committed()
    try:
        with transaction.atomic():
            assert services.referrals_route(ids) == ids
            batch = outcome(ids)
            raise Undo
    except Undo:
        pass
    assert set(Referral.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        Status.SUBMITTED
    }

    for pk in ids:
        services.referral_route(referral_id=pk)

    assert outcome(ids) == batch
    continuity = [r for r in batch[0][2][3] if "continuity" in str(r)]
    assert continuity  # the third saw the first's unit as the household's


def test_the_decisions_in_a_batch_see_the_loads_the_earlier_ones_added(
    referrer, caring_team, ssp_area, two_ifscs
):
    first, second = two_ifscs  # 5 of 100 each
    ids = [
        make_referral(referrer, caring_team, ssp_area, needs=["financial_hardship"]).pk
        for _ in range(5)
    ]
    as_if_committed()

    services.referrals_route(ids)

    units = [Referral.objects.get(pk=pk).assigned_unit.code for pk in ids]
    # Equal loads go to the first by code, which then carries one more: turn and turn about.
    assert units == [first.code, second.code, first.code, second.code, first.code]
    loads = dict(
        ServiceUnit.objects.filter(pk__in=[first.pk, second.pk]).values_list("code", "current_load")
    )
    assert loads == {first.code: 8, second.code: 7}


def test_a_batch_leaves_referrals_no_longer_waiting_alone(
    referrer, caring_team, ssp_area, ifsc_unit
):
    waiting = make_referral(referrer, caring_team, ssp_area)
    done = make_referral(referrer, caring_team, ssp_area)
    services.referral_route(referral_id=done.pk)
    events = ReferralEvent.objects.filter(referral=done).count()

    assert services.referrals_route([done.pk, waiting.pk]) == [waiting.pk]
    assert ReferralEvent.objects.filter(referral=done).count() == events


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_routing_jobs_follow_ups_are_carried_out_right_after_it(
    referrer, caring_team, ssp_area, ifsc_unit, unit_worker, monkeypatch
):
    """Committed for real: the route job's "tell the unit" and "tell the referrer" run in
    the same process once it is done, instead of queueing behind other routing jobs; the
    e-mails (another queue) are published."""
    published = []
    monkeypatch.setattr(outbox, "publish", lambda message, **kw: published.append(message.job))
    referral = make_referral(referrer, caring_team, ssp_area)
    message = outbox.enqueue(services.referral_route, referral_id=referral.pk)
    assert published == [services.referral_route.outbox_job]  # autocommit: published at once
    published.clear()

    assert outbox.run(message.pk)

    assert Referral.objects.get(pk=referral.pk).status == Status.ASSIGNED
    assert not outbox.pending_for([services.referral_route])
    from referrals.notifications import notify_assignment, notify_referrer

    assert not outbox.pending_for([notify_assignment, notify_referrer])  # done here
    assert Notification.objects.filter(recipient=unit_worker, referral=referral).exists()
    assert set(published) <= {"referrals.deliveries.send_delivery"}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_follow_up_that_fails_here_is_queued(
    referrer, caring_team, ssp_area, ifsc_unit, monkeypatch
):
    from referrals import notifications

    published = []
    monkeypatch.setattr(outbox, "publish", lambda message, **kw: published.append(message.job))
    broken = outbox.job_named(notifications.notify_assignment.outbox_job)

    def fails(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setitem(outbox._JOBS, broken.name, outbox.Job(broken.name, fails, broken.queue))
    referral = make_referral(referrer, caring_team, ssp_area)
    message = outbox.enqueue(services.referral_route, referral_id=referral.pk)

    assert outbox.run(message.pk)

    assert Referral.objects.get(pk=referral.pk).status == Status.ASSIGNED
    assert broken.name in published  # the worker's retries and the sweep take it over
    assert outbox.pending_for([notifications.notify_assignment]) == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_committed_change_moves_the_version_other_processes_read(ssp_area, ifsc_unit):
    before = current_version()
    with transaction.atomic():
        ifsc_unit.capacity = 7
        ifsc_unit.save()
        assert current_version() == before  # not before the commit
    assert current_version() != before
