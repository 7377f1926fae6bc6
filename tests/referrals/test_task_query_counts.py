"""Query counts with referrals several units share (issue 16): the inbox, the queue and the
partner API cost the same for a few rows as for a full page, however many tasks each row
has. The counts are pinned; latency at a million referrals is ``bench/``'s."""

import pytest
from django.urls import reverse

from referrals.models import ReferralTask, Status
from services.models import NeedCategory
from tests import factories
from tests.referrals.partners import bearer, partner_client, token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def prc_unit(ssp_area):
    return factories.ServiceUnitFactory(
        code="prc-f-01", unit_type=factories.unit_type("PRC"), catchment_sub_districts=[ssp_area]
    )


@pytest.fixture
def shared(referrer, caring_team, ssp_area, ifsc_unit, other_unit, prc_unit):
    """``shared(n)``: n referrals led by the IFSC, with a part for the ICCMW and the PRC."""
    needs = NeedCategory.objects.filter(code__in=["mental_health", "carer_support"])

    def make(count):
        for referral in factories.ReferralFactory.create_batch(
            count,
            referrer=referrer,
            referring_team=caring_team,
            sub_district=ssp_area,
            status=Status.ASSIGNED,
            assigned_unit=ifsc_unit,
        ):
            lead = referral.tasks.get()
            for unit, need in zip((other_unit, prc_unit), needs, strict=True):
                part = ReferralTask.objects.create(referral=referral, unit=unit, part_of=lead)
                part.needs.set([need])

    return make


def test_a_part_units_inbox_costs_the_same_for_few_or_many_shared_referrals(
    client, other_unit_worker, shared, django_assert_num_queries
):
    client.force_login(other_unit_worker)
    shared(2)
    # As for one-unit referrals (test_queues.py): 7 + two-factor device + the tabs' counts (one
    # aggregate, queues.inbox_tab_counts) + the needs column (one prefetch).
    with django_assert_num_queries(10) as few:
        client.get(reverse("inbox:index"))
    shared(25)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(reverse("inbox:index"))
    assert len(response.context["rows"]) == 25
    assert {row["task_status"] for row in response.context["rows"]} == {Status.ASSIGNED}


def test_the_queue_costs_the_same_for_few_or_many_shared_referrals(
    client, district_officer, shared, django_assert_num_queries
):
    client.force_login(district_officer)
    shared(2)
    # As for one-unit referrals (test_queues.py), + the result count capped at 1,000
    # (queues.capped_count: one COUNT over a LIMIT 1001 subquery).
    with django_assert_num_queries(16) as few:
        client.get(reverse("queue:index"), {"view": "all"})
    shared(25)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(reverse("queue:index"), {"view": "all"})
    assert len(response.context["rows"]) == 25


def test_the_partner_list_and_detail_cost_the_same_whatever_the_tasks(
    client, shared, other_unit, django_assert_num_queries
):
    token = token_for(client, partner_client(other_unit.organisation))
    shared(2)
    client.get("/api/v1/referrals/", **bearer(token))  # the token's first use is counted apart
    # The token with its client, the page of referrals, their tasks (with units,
    # organisations and need codes: one query), the access log.
    with django_assert_num_queries(5) as few:
        client.get("/api/v1/referrals/", **bearer(token))
    shared(25)
    with django_assert_num_queries(len(few.captured_queries)):
        rows = client.get("/api/v1/referrals/?page_size=100", **bearer(token)).json()["results"]
    assert len(rows) == 27 and all(len(row["tasks"]) == 1 for row in rows)
    reference = rows[0]["reference"]
    with django_assert_num_queries(7):
        detail = client.get(f"/api/v1/referrals/{reference}/", **bearer(token)).json()
    assert [t["unit"] for t in detail["tasks"]] == [other_unit.code]
