"""One referral, three organisations (issue 16): the PRC leads, the IFSC and the ICCMW each
serve one need. Each partner system sees the referral through its own task, acts on that
task only, and reads no other unit's case notes; the lead sees every unit's status."""

import pytest

from referrals import services
from referrals.models import Referral, Status
from tests import factories
from tests.referrals.partners import bearer, partner_client, token_for
from tests.referrals.test_tasks import submit_carer

pytestmark = pytest.mark.django_db

EVERYTHING = "referrals:read referrals:write"


@pytest.fixture
def prc_unit(ssp_area):
    return factories.ServiceUnitFactory(
        code="prc-f-01", unit_type=factories.unit_type("PRC"), catchment_sub_districts=[ssp_area]
    )


@pytest.fixture
def shared(client, referrer, caring_team, ssp_area, ifsc_unit, other_unit, prc_unit):
    referral = submit_carer(referrer, caring_team, ssp_area)
    tokens = {}
    for name, unit in (("prc", prc_unit), ("ifsc", ifsc_unit), ("iccmw", other_unit)):
        application = partner_client(unit.organisation, scopes=EVERYTHING.split())
        tokens[name] = token_for(client, application, EVERYTHING)
    return referral, tokens


def detail(client, token, referral):
    return client.get(f"/api/v1/referrals/{referral.reference}/", **bearer(token))


def test_each_organisation_sees_its_own_task_and_the_lead_sees_them_all(client, shared):
    referral, tokens = shared

    seen = {name: detail(client, token, referral) for name, token in tokens.items()}

    assert {name: answer.status_code for name, answer in seen.items()} == dict.fromkeys(tokens, 200)
    units = {name: [t["unit"] for t in answer.json()["tasks"]] for name, answer in seen.items()}
    assert sorted(units["prc"]) == ["iccmw-f-01", "ifsc-f-01", "prc-f-01"]
    assert units["ifsc"] == ["ifsc-f-01"] and units["iccmw"] == ["iccmw-f-01"]
    ifsc_task = seen["ifsc"].json()["tasks"][0]
    assert ifsc_task["needs"] == ["financial_hardship"] and ifsc_task["lead"] is False
    lead_id = next(t["id"] for t in seen["prc"].json()["tasks"] if t["lead"])
    assert ifsc_task["part_of"] == lead_id
    # The list agrees with the detail.
    listed = client.get("/api/v1/referrals/", **bearer(tokens["iccmw"])).json()["results"]
    assert [[t["unit"] for t in row["tasks"]] for row in listed] == [["iccmw-f-01"]]


def test_a_partner_acts_on_its_own_task_only(client, shared, ifsc_unit, prc_unit):
    referral, tokens = shared
    version = Referral.objects.get(pk=referral.pk).version

    answer = client.post(
        f"/api/v1/referrals/{referral.reference}/accept",
        {},
        content_type="application/json",
        HTTP_IF_MATCH=f'"{version}"',
        **bearer(tokens["ifsc"]),
    )

    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == Status.ACCEPTED  # the furthest task gives the status
    assert [(t["unit"], t["status"]) for t in answer.json()["tasks"]] == [("ifsc-f-01", "accepted")]
    assert referral.tasks.get(unit=prc_unit).status == Status.ASSIGNED
    assert answer["ETag"] == f'"{Referral.objects.get(pk=referral.pk).version}"'


def test_no_organisation_reads_another_units_case_notes(client, shared, other_unit_worker):
    referral, tokens = shared
    services.referral_decline(
        referral_id=referral.pk, actor=other_unit_worker, reason="Waiting list closed (internal)"
    )

    for name in ("prc", "ifsc"):
        timeline = detail(client, tokens[name], referral).json()["timeline"]
        declines = [e for e in timeline if e["to_status"] == Status.REJECTED]
        assert [(e["unit"], e["reason"]) for e in declines] == [("iccmw-f-01", "")], name
    # The unit that declined its part has left the referral.
    assert detail(client, tokens["iccmw"], referral).status_code == 404
