"""The partner API's transfers (issue 17): each organisation sees the planned transfers of
its own cases, incoming and outgoing, with the handover note once a case is its own; a third
organisation sees nothing; moves between workers inside a unit never appear."""

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from referrals.models import AccessLog, Status, TransferCase
from referrals.transfer_plans import CaseSpec, plan_create
from referrals.transfers import cases_answer, plan_run
from tests import factories
from tests.referrals.partners import bearer, partner_client, token_for

pytestmark = pytest.mark.django_db

LIST = "api:transfer-list"
NOTE = "Mother works night shifts: visit after 4 pm. Weekly tutoring at the centre."
FIELDS = {
    "id",
    "plan",
    "referral",
    "direction",
    "from_unit",
    "to_unit",
    "state",
    "handover_note",
    "family_informed_at",
    "not_informed_reason",
    "moved_at",
    "answered_at",
    "answer_reason",
}


@dataclass
class Transfers:
    """Organisation A's unit (``ifsc_unit``) sends cases to B's (``unit_b``); C is an
    outsider. ``plan``'s cases go A → B; ``worker_plan`` moves one of A's cases between two
    of A's workers."""

    unit_b: object
    officer: object
    b_worker: object
    referrals: list
    plan: object = None
    worker_plan: object = None
    tokens: dict = field(default_factory=dict)

    def cases(self):
        return list(TransferCase.objects.filter(plan=self.plan).order_by("pk"))


def open_referral(unit, sub_district, referrer, team, number, prefix="SSP"):
    return factories.ReferralFactory(
        referrer=referrer,
        referring_team=team,
        sub_district=sub_district,
        assigned_unit=unit,
        status=Status.IN_PROGRESS,
        reference=f"{prefix}-2026-{number:06d}",
    )


def unit_plan(officer, from_unit, to_unit, referrals, *, title="Centre closing in Block C"):
    informed = timezone.now() - timedelta(hours=2)
    return plan_create(
        actor=officer,
        kind="unit",
        title=title,
        from_unit_id=from_unit.pk,
        to_unit_id=to_unit.pk,
        effective_on=timezone.localdate(),
        reason="reorganisation",
        cases=[
            CaseSpec(task_id=r.tasks.get().pk, handover_note=NOTE, family_informed_at=informed)
            for r in referrals
        ],
    )


@pytest.fixture
def world(
    client, ssp_area, referrer, caring_team, ifsc_unit, other_unit, district_officer, unit_worker
):
    unit_b = factories.ServiceUnitFactory(code="ifsc-b-01", catchment_sub_districts=[ssp_area])
    b_worker = factories.MembershipFactory(
        user=factories.UserFactory(username="b-worker"),
        role=Membership.Role.UNIT_STAFF,
        service_unit=unit_b,
    ).user
    referrals = [open_referral(ifsc_unit, ssp_area, referrer, caring_team, n) for n in range(1, 4)]
    world = Transfers(unit_b, district_officer, b_worker, referrals)
    world.plan = unit_plan(district_officer, ifsc_unit, unit_b, referrals[:2])
    supervisor = factories.MembershipFactory(
        user=factories.UserFactory(username="a-supervisor"),
        role=Membership.Role.UNIT_SUPERVISOR,
        service_unit=ifsc_unit,
    ).user
    world.worker_plan = plan_create(
        actor=supervisor,
        kind="worker",
        title="Caseload balancing",
        from_unit_id=ifsc_unit.pk,
        effective_on=timezone.localdate(),
        reason="caseload",
        cases=[
            CaseSpec(
                task_id=referrals[2].tasks.get().pk,
                to_owner_id=unit_worker.pk,
                handover_note=NOTE,
                not_informed_reason="The same centre: nothing changes for the family.",
            )
        ],
    )
    for name, unit in (("a", ifsc_unit), ("b", unit_b), ("c", other_unit)):
        world.tokens[name] = bearer(token_for(client, partner_client(unit.organisation)))
    return world


def listed(client, auth, **query) -> list[dict]:
    response = client.get(reverse(LIST), query, **auth)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def detail_url(case) -> str:
    return reverse("api:transfer-detail", args=[case.pk])


def test_before_the_move_both_sides_see_the_plan_and_only_the_sender_its_handover(
    client, world, ifsc_unit
):
    sent = listed(client, world.tokens["a"])
    received = listed(client, world.tokens["b"])
    assert [row["referral"]["reference"] for row in sent] == [
        r.reference for r in world.referrals[:2]
    ]
    assert [row["id"] for row in received] == [row["id"] for row in sent]
    row = sent[0]
    assert set(row) == FIELDS
    assert row["direction"] == "outgoing" and row["state"] == "planned"
    assert (row["from_unit"], row["to_unit"]) == (ifsc_unit.code, "ifsc-b-01")
    assert row["plan"] == {
        "id": str(world.plan.public_id),
        "title": "Centre closing in Block C",
        "reason": "reorganisation",
        "effective_on": timezone.localdate().isoformat(),
        "state": "planned",
    }
    assert row["referral"]["public_id"] == str(world.referrals[0].public_id)
    assert row["handover_note"] == NOTE and row["family_informed_at"] is not None
    # The receiving organisation does not hold the case yet: no handover note to read.
    assert {(r["direction"], r["handover_note"], r["not_informed_reason"]) for r in received} == {
        ("incoming", None, None)
    }
    # Only the sender read a handover note: one access-log row per case it was shown.
    assert (
        AccessLog.objects.filter(channel="api", detail__endswith="transfer handover").count() == 2
    )


def test_after_the_move_the_receiver_reads_the_handover_and_no_worker_is_named(
    client, world, ifsc_unit, unit_worker
):
    assert plan_run(plan_id=world.plan.pk).moved == 2
    received = listed(client, world.tokens["b"])
    assert [(r["state"], r["direction"], r["handover_note"]) for r in received] == [
        ("moved", "incoming", NOTE)
    ] * 2
    assert received[0]["moved_at"] is not None and received[0]["answered_at"] is None
    detail = client.get(detail_url(world.cases()[0]), **world.tokens["b"])
    assert detail.status_code == 200
    assert detail.json() == received[0]
    # No worker's name or account, from either side.
    text = client.get(reverse(LIST), **world.tokens["a"]).content.decode() + detail.content.decode()
    for person in (unit_worker, world.b_worker, world.officer):
        assert person.username not in text
    assert "owner" not in text and "created_by" not in text and "answered_by" not in text


def test_a_declined_case_shows_the_reason_to_both_and_the_note_to_the_sender_only(client, world):
    plan_run(plan_id=world.plan.pk)
    declined, accepted = world.cases()
    cases_answer(actor=world.b_worker, case_ids=[accepted.pk], accept=True)
    cases_answer(
        actor=world.b_worker, case_ids=[declined.pk], accept=False, reason="Outside our catchment."
    )
    sent = {row["id"]: row for row in listed(client, world.tokens["a"])}
    received = {row["id"]: row for row in listed(client, world.tokens["b"])}
    assert sent[declined.pk]["state"] == received[declined.pk]["state"] == "returned"
    assert sent[declined.pk]["answer_reason"] == "Outside our catchment."
    assert received[declined.pk]["answer_reason"] == "Outside our catchment."
    assert sent[declined.pk]["handover_note"] == NOTE
    assert received[declined.pk]["handover_note"] is None  # no longer B's case
    assert received[accepted.pk]["state"] == "accepted"
    assert received[accepted.pk]["handover_note"] == NOTE


def test_a_third_organisation_sees_nothing(client, world):
    plan_run(plan_id=world.plan.pk)
    AccessLog.objects.all().delete()
    assert listed(client, world.tokens["c"]) == []
    response = client.get(detail_url(world.cases()[0]), **world.tokens["c"])
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert not AccessLog.objects.exists()


def test_a_token_without_referrals_read_is_403(client, world, ifsc_unit):
    application = partner_client(ifsc_unit.organisation, scopes=("directory:read",))
    auth = bearer(token_for(client, application, scope="directory:read"))
    for url in (reverse(LIST), detail_url(world.cases()[0])):
        response = client.get(url, **auth)
        assert response.status_code == 403
        assert response.json()["error"] == "permission_denied"
    assert client.get(reverse(LIST)).status_code == 401


def test_signed_in_people_use_the_pages_not_this_endpoint(client, world, unit_worker):
    client.force_login(unit_worker)
    assert client.get(reverse(LIST)).status_code == 403
    assert client.get(detail_url(world.cases()[0])).status_code == 403


def test_moves_between_workers_never_appear(client, world):
    plan_run(plan_id=world.worker_plan.pk)
    moved = TransferCase.objects.get(plan=world.worker_plan)
    assert moved.state == "accepted"
    assert moved.pk not in {row["id"] for row in listed(client, world.tokens["a"])}
    assert client.get(detail_url(moved), **world.tokens["a"]).status_code == 404


def test_direction_and_state_filters(client, world, ssp_area, referrer, caring_team, ifsc_unit):
    # B sends a case of its own to A; A moves another between two of its own units.
    theirs = open_referral(world.unit_b, ssp_area, referrer, caring_team, 10, prefix="BBB")
    incoming = unit_plan(world.officer, world.unit_b, ifsc_unit, [theirs], title="B to A")
    sibling = factories.ServiceUnitFactory(
        code="ifsc-a-02", organisation=ifsc_unit.organisation, catchment_sub_districts=[ssp_area]
    )
    ours = open_referral(ifsc_unit, ssp_area, referrer, caring_team, 11)
    internal = unit_plan(world.officer, ifsc_unit, sibling, [ours], title="A to A")
    plan_run(plan_id=world.plan.pk)
    auth = world.tokens["a"]

    def references(**query):
        return [row["referral"]["reference"] for row in listed(client, auth, **query)]

    sent = [r.reference for r in world.referrals[:2]]
    assert references(direction="outgoing") == sent
    assert references(direction="incoming") == [theirs.reference]
    assert references(direction="internal") == [ours.reference]
    assert references(state="moved") == sent
    assert references(state=["planned"], direction="incoming") == [theirs.reference]
    assert references(plan=str(internal.public_id)) == [ours.reference]
    assert references(plan=str(incoming.public_id), direction="outgoing") == []
    assert references(reference=theirs.reference) == [theirs.reference]
    # B sees its own side of the same rows.
    b_rows = listed(client, world.tokens["b"])
    assert {(r["referral"]["reference"], r["direction"]) for r in b_rows} == {
        *((reference, "incoming") for reference in sent),
        (theirs.reference, "outgoing"),
    }
    bad = client.get(reverse(LIST), {"direction": "sideways"}, **auth)
    assert bad.status_code == 400 and "direction" in bad.json()["fields"]


def test_modified_after_brings_the_cases_moved_or_answered_since(client, world):
    auth = world.tokens["a"]
    before_the_move = timezone.now()
    assert listed(client, auth, modified_after=before_the_move.isoformat()) == []
    plan_run(plan_id=world.plan.pk)
    first, second = world.cases()
    assert [r["id"] for r in listed(client, auth, modified_after=before_the_move.isoformat())] == [
        first.pk,
        second.pk,
    ]
    after_the_move = timezone.now()
    cases_answer(actor=world.b_worker, case_ids=[second.pk], accept=True)
    assert [r["id"] for r in listed(client, auth, modified_after=after_the_move.isoformat())] == [
        second.pk
    ]


def test_pages_follow_the_cursor_and_a_forged_one_is_a_404(client, world):
    import base64

    auth = world.tokens["a"]
    page = client.get(reverse(LIST), {"page_size": 1}, **auth).json()
    assert len(page["results"]) == 1 and page["next"]
    rest = client.get(page["next"], **auth).json()
    assert [row["id"] for row in page["results"] + rest["results"]] == [c.pk for c in world.cases()]
    assert rest["next"] is None
    forged = base64.b64encode(b"p=garbage").decode()
    response = client.get(reverse(LIST), {"cursor": forged}, **auth)
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_the_list_costs_the_same_queries_for_two_cases_or_twenty(
    client, world, ssp_area, referrer, caring_team, ifsc_unit, django_assert_num_queries
):
    auth = world.tokens["a"]
    url = reverse(LIST)
    client.get(url, **auth)
    # The token (with its application and partner), the organisation's units, the page of
    # cases with their plans, referrals and units, the access log's one INSERT.
    with django_assert_num_queries(5) as few:
        assert len(client.get(url, **auth).json()["results"]) == 2
    more = [open_referral(ifsc_unit, ssp_area, referrer, caring_team, n) for n in range(20, 38)]
    unit_plan(world.officer, ifsc_unit, world.unit_b, more, title="Second wave")
    with django_assert_num_queries(len(few.captured_queries)):
        assert len(client.get(url, **auth).json()["results"]) == 20
    detail = detail_url(world.cases()[0])
    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get(detail, **auth).status_code == 200


def test_the_schema_describes_the_transfers(client):
    schema = client.get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = schema.json()["paths"]
    assert "/api/v1/transfers/" in paths and "/api/v1/transfers/{id}/" in paths
    parameters = {p["name"] for p in paths["/api/v1/transfers/"]["get"]["parameters"]}
    assert {"direction", "state", "modified_after", "cursor"} <= parameters
