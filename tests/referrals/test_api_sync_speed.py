"""Issue 20: the partner API's sync read in index order, each source of the partner's
visibility on its own index with the cursor inside the scan (``selectors.
partner_sync_sources``, ``api/pagination.SourcesQuerySet``), the lead unit's organisation kept
on the referral (``models/lead_organisation.py``), and the summary built without DRF's
generic path. The rows, their order and the answer stay what they were."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers

from accounts.models import PartnerClient
from referrals import assignment, services, transfers
from referrals.api.serializers import ReferralSummaryOut
from referrals.api.views import with_api_relations
from referrals.models import Referral, ReferralTask, Status
from referrals.models.lead_organisation import fill_lead_organisations, lead_unit_columns
from referrals.selectors import referrals_visible_to_partner, referrals_with_organisation_drift
from tests import factories
from tests.referrals.partners import bearer, partner_client, token_for

pytestmark = pytest.mark.django_db
URL = "/api/v1/referrals/"
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the plans are PostgreSQL's (CI has it)"
)


@pytest.fixture
def world(ssp_area, referrer, caring_team):
    """Organisation X (units a, b) and Y (unit c): every way X sees a referral, and ways it
    does not, with several rows sharing one update time (the cursor's offset)."""
    a = factories.ServiceUnitFactory(code="x-a", catchment_sub_districts=[ssp_area])
    b = factories.ServiceUnitFactory(
        code="x-b", organisation=a.organisation, catchment_sub_districts=[ssp_area]
    )
    c = factories.ServiceUnitFactory(code="y-c", catchment_sub_districts=[ssp_area])
    application = partner_client(a.organisation)
    partner = PartnerClient.objects.get(application=application)
    filer = partner.referrer_account()

    def referral(unit, status=Status.ASSIGNED, **kwargs):
        kwargs.setdefault("referrer", referrer)
        return factories.ReferralFactory(
            referring_team=caring_team, assigned_unit=unit, status=status, **kwargs
        )

    seen = [referral(a) for _ in range(5)] + [referral(b, Status.COMPLETED)]
    shared = referral(c)  # a part of X's unit b on Y's lead
    ReferralTask.objects.create(referral=shared, unit=b, is_lead=False)
    left = referral(c)  # X's unit declined its part: no longer X's
    ReferralTask.objects.create(referral=left, unit=b, is_lead=False, status=Status.REJECTED)
    moved = referral(a, Status.COMPLETED)  # X led and closed its task; the lead went to Y
    moved.assigned_unit = c
    moved.save()
    filed = referral(c, referrer=filer)  # the client filed it
    draft = referral(a, Status.DRAFT, reference=None, submitted_at=None)
    others = [referral(c) for _ in range(3)]
    tie = timezone.now() - timezone.timedelta(hours=1)
    Referral.objects.filter(pk__in=[r.pk for r in seen[:4]] + [shared.pk]).update(updated_at=tie)
    return {
        "partner": partner,
        "application": application,
        "visible": {r.reference for r in [*seen, shared, moved, filed]},
        "hidden": {r.reference for r in [left, draft, *others]},
    }


def sync_pass(client, token, **params) -> list[str]:
    references, response = [], client.get(URL, {"page_size": 2, **params}, **bearer(token))
    while True:
        assert response.status_code == 200, response.content
        references += [row["reference"] for row in response.json()["results"]]
        if not response.json()["next"]:
            return references
        response = client.get(response.json()["next"], **bearer(token))


def test_a_pass_is_the_visible_set_in_order_each_once(client, world):
    token = token_for(client, world["application"])
    expected = list(
        referrals_visible_to_partner(world["partner"])
        .order_by("updated_at", "id")
        .values_list("reference", flat=True)
    )
    assert set(expected) == world["visible"]
    assert sync_pass(client, token) == expected
    # The filters apply to every source alike.
    completed = sync_pass(client, token, status="completed")
    assert set(completed) == {
        r for r in expected if Referral.objects.get(reference=r).status == "completed"
    }
    assert len(completed) == 2


def test_the_summary_is_what_drfs_generic_path_gives(world):
    partner = world["partner"]
    rows = with_api_relations(referrals_visible_to_partner(partner)).order_by("pk")
    context = {"task_reader": lambda r: (set(), frozenset(t.unit_id for t in r.tasks.all()))}
    for referral in rows:
        fast = ReferralSummaryOut(referral, context=context).data
        generic = serializers.ModelSerializer.to_representation(
            ReferralSummaryOut(context=context), referral
        )
        assert json.dumps(fast) == json.dumps(generic)
        assert fast["tasks"] and fast["updated_at"]  # the parts compared are there


@on_postgresql
def test_the_sync_reads_the_organisation_in_index_order_with_the_cursor_in_the_scan(client, world):
    token = token_for(client, world["application"])
    second = client.get(URL, {"page_size": 2}, **bearer(token)).json()["next"]
    with CaptureQueriesContext(connection) as captured:
        assert client.get(second, **bearer(token)).status_code == 200
    page = next(q["sql"] for q in captured.captured_queries if "UNION" in q["sql"])
    with connection.cursor() as cursor:
        # A few rows make a sequential scan cheapest; at a million the index is the plan.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN (FORMAT JSON) " + page)
        plan = cursor.fetchone()[0][0]["Plan"]
    nodes = list(walk(plan))
    by_org = [n for n in nodes if n.get("Index Name") == "referral_partner_sync"]
    assert len(by_org) == 1
    assert "updated_at" in by_org[0]["Index Cond"]  # the cursor inside the index scan
    # No sort of the organisation's rows: its branch is a Limit straight over the index.
    limit = next(n for n in nodes if by_org[0] in n.get("Plans", []))
    assert limit["Node Type"] == "Limit"
    # The one sort over the organisation's rows is the page's own, of the union of at
    # most a page + 1 from each source, above the union (the top of the plan).
    assert plan["Node Type"] == "Limit" and plan["Plans"][0]["Node Type"] == "Sort"


def walk(node):
    yield node
    for child in node.get("Plans", []):
        yield from walk(child)


def test_a_sync_page_costs_the_queries_it_did(client, world, django_assert_num_queries):
    token = token_for(client, world["application"])
    client.get(URL, **bearer(token))
    # The token with its client, the page, its tasks, the access log (and its transaction).
    with django_assert_num_queries(5):
        assert len(client.get(URL, **bearer(token)).json()["results"]) == 9


def test_the_organisation_follows_the_lead_unit_however_it_is_set(world, ssp_area):
    x_a = Referral.objects.filter(assigned_unit__code="x-a").first()
    organisation_x = x_a.assigned_unit.organisation_id
    y_unit = factories.ServiceUnitFactory(code="y-d", catchment_sub_districts=[ssp_area])
    # By id only (one query finds the unit's organisation), then to none (triage).
    again = Referral.objects.get(pk=x_a.pk)
    again.assigned_unit_id = y_unit.pk
    again.save(update_fields=["assigned_unit"])
    again.refresh_from_db()
    assert (again.organisation_id, again.lead_moved) == (y_unit.organisation_id, True)
    again.assigned_unit = None
    again.save()
    assert Referral.objects.get(pk=x_a.pk).organisation_id is None
    # A transfer's batch update keeps it in the same statement.
    Referral.objects.filter(pk=x_a.pk).update(
        assigned_unit_id=x_a.assigned_unit_id, **lead_unit_columns(x_a.assigned_unit_id)
    )
    assert Referral.objects.get(pk=x_a.pk).organisation_id == organisation_x
    assert not referrals_with_organisation_drift().exists()
    # A write round both is found, and a bulk load's rows are filled in one statement.
    Referral.objects.filter(pk=x_a.pk).update(assigned_unit_id=y_unit.pk)
    assert list(referrals_with_organisation_drift()) == [x_a]
    Referral.objects.filter(pk=x_a.pk).update(organisation=None)
    assert fill_lead_organisations(Referral.objects.all()) == 1
    assert not referrals_with_organisation_drift().exists()


def test_a_unit_moved_to_another_organisation_takes_its_referrals_along(client, world):
    """The admin moves unit x-b (one of X's) to organisation Y: the referrals it leads are
    Y's from then on, in Y's partner sync and out of X's, and nothing drifts."""
    unit = factories.ServiceUnitFactory._meta.model.objects.get(code="x-b")
    led = set(Referral.objects.filter(assigned_unit=unit).values_list("reference", flat=True))
    assert led
    organisation_y = factories.ServiceUnitFactory._meta.model.objects.get(code="y-c").organisation
    unit.organisation = organisation_y
    unit.save()
    assert not referrals_with_organisation_drift().exists()
    assert (
        set(
            Referral.objects.filter(organisation=organisation_y, reference__in=led).values_list(
                "reference", flat=True
            )
        )
        == led
    )
    token = token_for(client, world["application"])
    assert not led & set(sync_pass(client, token))  # X's sync no longer lists them
    theirs = partner_client(organisation_y)
    assert led <= set(sync_pass(client, token_for(client, theirs)))


def test_routing_set_lead_decline_and_transfer_keep_the_organisation(
    referrer, caring_team, ssp_area, ifsc_unit, other_unit, district_officer, unit_worker
):
    from tests.referrals.test_tasks import submit_carer

    referral = submit_carer(referrer, caring_team, ssp_area)  # routed: a lead and a part
    assert referral.tasks.count() >= 2
    assert not referrals_with_organisation_drift().exists()
    part = referral.tasks.filter(is_lead=False).select_related("unit").first()
    assignment.referral_set_lead(
        referral_id=referral.pk, actor=district_officer, task_public_id=part.public_id,
        reason="The main need",
    )  # fmt: skip
    referral.refresh_from_db()
    assert referral.organisation_id == part.unit.organisation_id
    assert not referrals_with_organisation_drift().exists()
    lead = referral.tasks.get(is_lead=True, status=Status.ASSIGNED)
    services.referral_decline(
        referral_id=referral.pk,
        actor=factories.MembershipFactory(
            user=factories.UserFactory(username="lead-staff"), service_unit=lead.unit
        ).user,
        reason="Full",
    )
    services.referral_route(referral_id=referral.pk)
    assert not referrals_with_organisation_drift().exists()
    services.referral_send_to_triage(referral_id=referral.pk, actor=district_officer, reason="x")
    referral.refresh_from_db()
    assert referral.assigned_unit_id is None and referral.organisation_id is None
    assert not referrals_with_organisation_drift().exists()


def test_a_transfer_to_another_organisation_and_its_return_keep_the_organisation(
    client, ifsc_unit, district_officer, ssp_area
):
    from tests.referrals.test_transfers import in_progress, member, plan_of

    elsewhere = factories.ServiceUnitFactory(
        code="ifsc-f-09", unit_type=factories.unit_type("IFSC"), catchment_sub_districts=[ssp_area]
    )
    assert elsewhere.organisation_id != ifsc_unit.organisation_id
    tasks = in_progress(ifsc_unit, 2)
    plan = plan_of(district_officer, ifsc_unit, elsewhere, tasks)
    transfers.plan_run(plan_id=plan.pk)
    moved = Referral.objects.filter(pk__in=[t.referral_id for t in tasks])
    assert {r.organisation_id for r in moved} == {elsewhere.organisation_id}
    assert all(r.lead_moved for r in moved)
    # The sending organisation still sees them in the overlap window, through the sync.
    application = partner_client(ifsc_unit.organisation)
    partner = PartnerClient.objects.get(application=application)
    assert set(referrals_visible_to_partner(partner)) == set(moved)
    assert set(sync_pass(client, token_for(client, application))) == {r.reference for r in moved}
    case = plan.cases.order_by("pk").first()
    worker = member(elsewhere, "worker-elsewhere")
    transfers.cases_answer(actor=worker, case_ids=[case.pk], accept=False, reason="Not ours")
    back = Referral.objects.get(pk=case.referral_id)
    assert back.organisation_id == ifsc_unit.organisation_id
    assert not referrals_with_organisation_drift().exists()
