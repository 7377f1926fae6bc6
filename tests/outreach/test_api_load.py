"""``POST /api/v1/outreach/lists/{id}/households/``: the list's loader client with scope
``outreach:write`` loads households, all or none, idempotent by source row id; another
client is answered 404, no token 401, a token without the scope 403."""

import pytest
from django.test import Client
from django.urls import reverse

from outreach.models import Household, Person
from referrals.identity import keyed_hash, normalise
from tests import factories
from tests.outreach import VALID_HKID, make_list
from tests.referrals.partners import bearer, partner_client, token_for

pytestmark = pytest.mark.django_db


def household(source_row_id, **changes) -> dict:
    body = {
        "source_row_id": source_row_id,
        "address": {"estate": "Test Estate", "block": "A", "floor": "3", "flat": "7",
                    "sub_district": "F01"},
        "reasons": ["carer"],
        "high_load_indicators": 4,
        "people": [
            {"name_zh": "李照顧", "age_band": "60-69", "role": "carer", "phone": "+852 6123 4567",
             "id_type": "hkid", "id_number": VALID_HKID},
            {"name_en": "Lee Cared", "age_band": "80+", "role": "cared_for"},
        ],
    }  # fmt: skip
    body.update(changes)
    return body


@pytest.fixture
def loader(caring_team):
    application = partner_client(factories.OrganisationFactory(), scopes=("outreach:write",))
    return application


@pytest.fixture
def visit_list(district_officer, loader):
    return make_list(district_officer, loader_client=loader.partner)


def _url(visit_list):
    return reverse("outreach-households", kwargs={"public_id": visit_list.public_id})


def _post(client, visit_list, token, households, **extra):
    return client.post(
        _url(visit_list),
        {"households": households},
        content_type="application/json",
        **bearer(token),
        **extra,
    )


def test_the_loader_loads_households_idempotently(client, visit_list, loader, caring_team):
    token = token_for(client, loader, scope="outreach:write")
    response = _post(client, visit_list, token, [household("H1"), household("H2")])
    assert response.status_code == 201, response.content
    assert response.json() == {"created": 2, "unchanged": 0}
    first = Household.objects.get(source_row_id="H1")
    assert first.team == caring_team and first.priority == 3
    carer = first.people.get(role="carer")
    assert carer.id_number_hash == keyed_hash("hkid", normalise("hkid", VALID_HKID))
    assert carer.id_number_masked == "A12****(*)"
    again = _post(client, visit_list, token, [household("H1"), household("H2"), household("H3")])
    assert again.status_code == 201 and again.json() == {"created": 1, "unchanged": 2}
    assert Household.objects.count() == 3 and Person.objects.count() == 6


def test_a_bad_household_refuses_the_whole_call_with_each_problem(client, visit_list, loader):
    token = token_for(client, loader, scope="outreach:write")
    bad_phone = household("H2")
    bad_phone["people"][1]["phone"] = "12"
    households = [
        household("H1"),
        bad_phone,
        household("H3", address={"estate": "Nowhere", "sub_district": "ZZ9"}),
    ]
    response = _post(client, visit_list, token, households)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert {(e["index"], e["field"]) for e in body["errors"]} == {
        (1, "people.1.phone"),
        (2, "address.sub_district"),
    }
    assert "households.1.people.1.phone" in body["fields"]
    assert not Household.objects.exists()


def test_the_refusal_is_in_the_callers_language(client, visit_list, loader):
    token = token_for(client, loader, scope="outreach:write")
    wrong = household("H1")
    wrong["people"][0]["id_number"] = "A1234567"
    response = _post(client, visit_list, token, [wrong], HTTP_ACCEPT_LANGUAGE="zh-hant")
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["field"] == "people.0.id_number"
    assert error["message"] == "身份證號碼無效：檢查碼不相符。"


def test_a_body_of_the_wrong_shape_is_a_400(client, visit_list, loader):
    token = token_for(client, loader, scope="outreach:write")
    response = _post(client, visit_list, token, [{"source_row_id": "H1"}])
    assert response.status_code == 400
    assert any(name.startswith("households.0") for name in response.json()["fields"])
    too_many = _post(client, visit_list, token, [household(f"H{n}") for n in range(1001)])
    assert too_many.status_code == 400
    assert not Household.objects.exists()


def test_only_the_lists_loader_client_may_load(client, visit_list, district_officer):
    other = partner_client(factories.OrganisationFactory(), scopes=("outreach:write",))
    token = token_for(client, other, scope="outreach:write")
    assert _post(client, visit_list, token, [household("H1")]).status_code == 404
    no_loader = make_list(district_officer, name="No loader")
    assert _post(client, no_loader, token, [household("H1")]).status_code == 404
    signed_in = Client()
    signed_in.force_login(district_officer)
    response = signed_in.post(
        _url(visit_list), {"households": [household("H1")]}, content_type="application/json"
    )
    assert response.status_code in (403, 404)
    assert not Household.objects.exists()


def test_no_token_is_401_and_a_token_without_the_scope_is_403(client, visit_list):
    response = client.post(
        _url(visit_list), {"households": [household("H1")]}, content_type="application/json"
    )
    assert response.status_code == 401
    reader = partner_client(factories.OrganisationFactory(), scopes=("referrals:read",))
    visit_list.loader_client = reader.partner
    visit_list.save()
    token = token_for(client, reader, scope="referrals:read")
    assert _post(client, visit_list, token, [household("H1")]).status_code == 403
    assert not Household.objects.exists()


def test_the_schema_describes_the_operation(client):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/outreach/lists/{public_id}/households/"]["post"]
    assert {"201", "400", "401", "403", "404"} <= set(operation["responses"])
    assert "HouseholdLoadIn" in str(operation["requestBody"])
    assert "ErrorOut" in str(operation["responses"]["400"])
