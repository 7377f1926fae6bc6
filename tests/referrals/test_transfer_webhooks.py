"""The transfer webhooks (issue 17), called on real local listeners: planning a unit-to-unit
transfer tells the endpoints of both organisations ``referral.transfer_planned``, moving and
answering it ``referral.transferred``; an endpoint that asked for other events, a third
organisation and a move between workers hear nothing; the body names the units and the
plan, never the family."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Membership
from referrals import outbox
from referrals.models import (
    Delivery,
    Notification,
    OutboxMessage,
    ReferralEvent,
    Status,
    TransferCase,
    WebhookEndpoint,
)
from referrals.transfer_plans import CaseSpec, notify_transfer, plan_create
from referrals.transfers import cases_answer, plan_run
from tests import factories
from tests.referrals.test_webhooks import LOOPBACK, PartnerEndpoint, verify

pytestmark = pytest.mark.django_db

PLANNED, TRANSFERRED = "referral.transfer_planned", "referral.transferred"
NOTE = "Father drinks at weekends; the older sister is the family's contact."
WHY_NOT = "The mother is in hospital until Friday."


@pytest.fixture
def listeners(settings, ifsc_unit, other_unit):
    """A's and B's endpoints (every event, and the transfer events only); A's second
    endpoint wants assignments only; C, an outsider, has one too."""
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = LOOPBACK
    unit_b = factories.ServiceUnitFactory(
        code="ifsc-b-01", catchment_sub_districts=list(ifsc_unit.catchment_sub_districts.all())
    )
    with (
        PartnerEndpoint() as a,
        PartnerEndpoint() as a_assigned_only,
        PartnerEndpoint() as b,
        PartnerEndpoint() as c,
    ):
        endpoints = {
            "a": WebhookEndpoint.objects.create(organisation=ifsc_unit.organisation, url=a.url),
            "a_assigned_only": WebhookEndpoint.objects.create(
                organisation=ifsc_unit.organisation,
                url=a_assigned_only.url,
                events=[WebhookEndpoint.Event.ASSIGNED],
            ),
            "b": WebhookEndpoint.objects.create(
                organisation=unit_b.organisation, url=b.url, events=[PLANNED, TRANSFERRED]
            ),
            "c": WebhookEndpoint.objects.create(organisation=other_unit.organisation, url=c.url),
        }
        yield {
            "unit_b": unit_b,
            "endpoints": endpoints,
            "a": a,
            "a_assigned_only": a_assigned_only,
            "b": b,
            "c": c,
        }


@pytest.fixture
def cases(ssp_area, referrer, caring_team, ifsc_unit):
    referrals = [
        factories.ReferralFactory(
            referrer=referrer,
            referring_team=caring_team,
            sub_district=ssp_area,
            assigned_unit=ifsc_unit,
            status=Status.IN_PROGRESS,
            reference=f"SSP-2026-{n:06d}",
            address="Flat 3, 12/F, Synthetic House, Sham Shui Po",
        )
        for n in (1, 2)
    ]
    return referrals


def calls(listener) -> list[dict]:
    return [json.loads(call["body"]) for call in listener.received]


def plan(officer, from_unit, to_unit, referrals):
    return plan_create(
        actor=officer,
        kind="unit",
        title="Centre closing in Block C",
        from_unit_id=from_unit.pk,
        to_unit_id=to_unit.pk,
        effective_on=timezone.localdate(),
        cases=[
            CaseSpec(
                task_id=referrals[0].tasks.get().pk,
                handover_note=NOTE,
                family_informed_at=timezone.now() - timedelta(days=1),
            ),
            CaseSpec(
                task_id=referrals[1].tasks.get().pk, handover_note=NOTE, not_informed_reason=WHY_NOT
            ),
        ],
    )


def test_planning_tells_both_organisations_and_not_yet_the_referrer(
    listeners,
    cases,
    ifsc_unit,
    district_officer,
    referrer,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    a, b, unit_b = listeners["a"], listeners["b"], listeners["unit_b"]
    with django_capture_on_commit_callbacks(execute=True):
        transfer = plan(district_officer, ifsc_unit, unit_b, cases)

    references = [r.reference for r in cases]
    for listener in (a, b):
        assert [(c["type"], c["data"]["reference"]) for c in calls(listener)] == [
            (PLANNED, reference) for reference in references
        ]
    call = calls(b)[0]
    assert call["data"]["transfer"] == {
        "id": transfer.cases.get(referral__reference=call["data"]["reference"]).pk,
        "step": "planned",
        "plan": str(transfer.public_id),
        "effective_on": timezone.localdate().isoformat(),
        "from_unit": ifsc_unit.code,
        "to_unit": unit_b.code,
    }
    assert call["data"]["unit"] == unit_b.code  # the unit the case is going to
    assert call["data"]["public_id"] == str(cases[0].public_id)
    assert verify(listeners["endpoints"]["a"].secret, a.received[0])
    assert verify(listeners["endpoints"]["b"].secret, b.received[0])
    assert not verify(listeners["endpoints"]["a"].secret, b.received[0])
    assert listeners["a_assigned_only"].received == listeners["c"].received == []
    # The referrer hears of the move, not of the plan.
    assert not Notification.objects.filter(recipient=referrer).exists()


def test_the_move_and_each_answer_tell_both_organisations_once(
    listeners,
    cases,
    ifsc_unit,
    district_officer,
    referrer,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    a, b, unit_b = listeners["a"], listeners["b"], listeners["unit_b"]
    with django_capture_on_commit_callbacks(execute=True):
        transfer = plan(district_officer, ifsc_unit, unit_b, cases)
    with django_capture_on_commit_callbacks(execute=True):
        assert plan_run(plan_id=transfer.pk).moved == 2
    for listener in (a, b):
        assert [(c["type"], c["data"]["transfer"]["step"]) for c in calls(listener)[2:]] == [
            (TRANSFERRED, "moved")
        ] * 2
    moved = calls(a)[2]["data"]
    assert (moved["transfer"]["from_unit"], moved["unit"]) == (ifsc_unit.code, unit_b.code)
    told = Notification.objects.filter(recipient=referrer, kind=Notification.Kind.TRANSFER)
    assert told.count() == 2

    first, second = TransferCase.objects.filter(plan=transfer).order_by("pk")
    receiver = factories.MembershipFactory(
        user=factories.UserFactory(username="b-worker"),
        role=Membership.Role.UNIT_STAFF,
        service_unit=unit_b,
    ).user
    with django_capture_on_commit_callbacks(execute=True):
        cases_answer(actor=receiver, case_ids=[first.pk], accept=True)
    with django_capture_on_commit_callbacks(execute=True):
        cases_answer(actor=receiver, case_ids=[second.pk], accept=False, reason="No capacity.")
    for listener in (a, b):
        assert [(c["type"], c["data"]["transfer"]["step"]) for c in calls(listener)[4:]] == [
            (TRANSFERRED, "accepted"),
            (TRANSFERRED, "returned"),
        ]
    returned = calls(a)[5]["data"]
    assert (returned["reference"], returned["unit"]) == (cases[1].reference, ifsc_unit.code)

    # Nobody else heard anything; every call was sent once.
    assert listeners["a_assigned_only"].received == listeners["c"].received == []
    assert len(a.received) == len(b.received) == 6
    assert set(Delivery.objects.filter(channel="webhook").values_list("state", flat=True)) == {
        "sent"
    }


def test_the_body_carries_no_personal_data(
    listeners, cases, ifsc_unit, district_officer, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        transfer = plan(district_officer, ifsc_unit, listeners["unit_b"], cases)
    with django_capture_on_commit_callbacks(execute=True):
        plan_run(plan_id=transfer.pk)
    bodies = [call["body"] for name in ("a", "b") for call in listeners[name].received]
    assert len(bodies) == 8
    referral = cases[0]
    for body in bodies:
        for personal in (
            referral.subject_name_en,
            referral.subject_name_zh,
            referral.phone.as_e164,
            referral.address,
            NOTE,
            WHY_NOT,
            district_officer.username,
        ):
            assert personal not in body
        assert set(json.loads(body)["data"]) == {
            "reference",
            "public_id",
            "task",
            "status",
            "unit",
            "risk_level",
            "due_at",
            "transfer",
        }


def test_the_job_run_again_makes_no_second_delivery(
    listeners, cases, ifsc_unit, district_officer, django_capture_on_commit_callbacks
):
    """Without a worker: the outbox message written with the plan, run twice by hand (the
    sweep resending it, a duplicate from the broker)."""
    transfer = plan(district_officer, ifsc_unit, listeners["unit_b"], cases)
    [message] = OutboxMessage.objects.filter(job=notify_transfer.outbox_job)
    assert message.args["step"] == "planned" and len(message.args["event_ids"]) == 2
    notify_transfer(**message.args)
    notify_transfer(**message.args)
    deliveries = Delivery.objects.filter(channel="webhook")
    assert sorted(deliveries.values_list("endpoint__url", flat=True)) == sorted(
        [listeners["a"].url] * 2 + [listeners["b"].url] * 2
    )
    assert set(deliveries.values_list("subject", flat=True)) == {PLANNED}
    events = ReferralEvent.objects.filter(kind=ReferralEvent.Kind.TRANSFER)
    assert {e.details["plan"] for e in events} == {str(transfer.public_id)}
    assert outbox.run(message.pk) is True
    assert deliveries.count() == 4


def test_a_move_between_workers_is_told_to_nobody(
    listeners,
    cases,
    ifsc_unit,
    unit_worker,
    unit_supervisor,
    referrer,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        transfer = plan_create(
            actor=unit_supervisor,
            kind="worker",
            title="Caseload balancing",
            from_unit_id=ifsc_unit.pk,
            effective_on=timezone.localdate(),
            cases=[
                CaseSpec(
                    task_id=cases[0].tasks.get().pk,
                    to_owner_id=unit_worker.pk,
                    handover_note=NOTE,
                    not_informed_reason="Same centre, same phone number.",
                )
            ],
        )
    with django_capture_on_commit_callbacks(execute=True):
        assert plan_run(plan_id=transfer.pk).moved == 1
    assert not OutboxMessage.objects.filter(job=notify_transfer.outbox_job).exists()
    assert not Delivery.objects.filter(channel="webhook").exists()
    assert not Notification.objects.filter(recipient=referrer).exists()
    for name in ("a", "b", "c"):
        assert listeners[name].received == []
