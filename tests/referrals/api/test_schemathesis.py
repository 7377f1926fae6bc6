"""schemathesis against the live test server: every operation of the OpenAPI schema, fed
generated input by a partner client holding every scope, answers without a server error and
exactly as the schema says (status code, content type, headers, body)."""

import json

import pytest
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from referrals.models import Referral, Status
from tests import factories
from tests.referrals.partners import partner_client, token_for

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    # Not ``negative_data_rejection``: as DRF and django-filter do by convention, an empty
    # filter or a page size that is not a number is ignored rather than refused.
]
ALL_SCOPES = ("referrals:read", "referrals:write", "directory:read", "referrals:identity")


@pytest.fixture
def partner_api(live_server, settings, ssp_area, referrer, caring_team, ifsc_unit, other_unit):
    """Referrals in every open status for the partner's unit and for another organisation's,
    and a token with every scope."""
    settings.API_RATE_LIMIT = "100000/min"
    for number, status in enumerate([Status.ASSIGNED, Status.ACCEPTED, Status.IN_PROGRESS]):
        for unit in (ifsc_unit, other_unit):
            factories.ReferralFactory(
                referrer=referrer,
                referring_team=caring_team,
                assigned_unit=unit,
                status=status,
                reference=f"{unit.code.upper()}-2026-{number:06d}",
            )
    team = factories.ServiceUnitFactory(code="liaison", organisation=ifsc_unit.organisation)
    application = partner_client(ifsc_unit.organisation, scopes=ALL_SCOPES, intake_team=team)
    token = token_for(Client(), application, scope=" ".join(ALL_SCOPES))
    return {"token": token, "base_url": live_server.url}


def _served_schema() -> dict:
    """The schema ``/api/schema/`` serves (the live server's copy is compared in the test)."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(public=True)))


schema = schemathesis.openapi.from_dict(_served_schema())
# One test per operation, with its own id ("GET /api/v1/referrals/"), so a failure can be
# rerun alone; schemathesis' own ``parametrize`` collects them all under one id.
OPERATIONS = {result.ok().label: result.ok() for result in schema.get_all_operations()}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_every_operation_answers_as_the_schema_says(label, partner_api, other_unit):
    operation = OPERATIONS[label]
    valid_then_invalid = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=valid_then_invalid)
    def answers_as_documented(case):
        case.call_and_validate(
            base_url=partner_api["base_url"],
            headers={"Authorization": f"Bearer {partner_api['token']}"},
            checks=CHECKS,
        )
        # Whatever was sent, the other organisation's referrals are untouched.
        assert set(
            Referral.objects.filter(assigned_unit=other_unit).values_list("version", flat=True)
        ) == {1}

    answers_as_documented()


@pytest.mark.django_db
def test_the_schema_tested_is_the_schema_served(client):
    served = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert served.status_code == 200
    assert json.loads(served.content) == _served_schema()


def test_every_operation_documents_its_errors_in_the_one_shape():
    document = _served_schema()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"401", "403", "429"} <= codes, (method, path)
            for code in codes - {"200", "201", "204", "304"}:  # 304: no body
                body = operation["responses"][code]["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, code)
