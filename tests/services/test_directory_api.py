"""The directory through the partner API, and its HSDS-shaped export."""

import pytest
from django.urls import reverse

from tests import factories
from tests.referrals.partners import bearer, partner_client, token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client):
    application = partner_client(factories.OrganisationFactory(), scopes=("directory:read",))
    return bearer(token_for(client, application, scope="directory:read"))


def test_districts_with_their_offices(client, reader):
    body = client.get(reverse("directory-api:districts"), **reader).json()
    assert len(body) == 18
    assert {"code": "F", "welfare_office": "SSP"}.items() <= next(
        d for d in body if d["code"] == "F"
    ).items()


def test_units_filter_like_the_directory_page(client, reader, ssp_area, ifsc_unit, other_unit):
    inactive = factories.ServiceUnitFactory(
        code="ifsc-closed", is_active=False, catchment_sub_districts=[ssp_area]
    )
    body = client.get(reverse("directory-api:units"), {"type": "IFSC"}, **reader).json()
    codes = [unit["code"] for unit in body["results"]]
    assert "ifsc-f-01" in codes and "iccmw-f-01" not in codes and inactive.code not in codes
    body = client.get(
        reverse("directory-api:units"), {"type": "IFSC", "include_inactive": "true"}, **reader
    ).json()
    assert inactive.code in [unit["code"] for unit in body["results"]]
    unit = next(u for u in body["results"] if u["code"] == "ifsc-f-01")
    assert unit["catchment_sub_districts"] == ["F01"]


def test_the_hsds_export_has_organisations_services_locations_and_areas(client, reader, ifsc_unit):
    body = client.get(reverse("directory-api:hsds"), **reader).json()
    service = next(s for s in body["services"] if s["id"] == "ifsc-f-01")
    assert service["organization_id"] in {o["id"] for o in body["organizations"]}
    assert service["alternate_name"] == ifsc_unit.name_zh
    assert {"id": "ifsc-f-01:F01", "extent_type": "sub_district"}.items() <= service[
        "service_areas"
    ][0].items()
    assert any(loc["id"] == "ifsc-f-01:location" for loc in body["locations"])


def test_the_directory_needs_its_scope(client):
    application = partner_client(factories.OrganisationFactory(), scopes=("referrals:read",))
    token = token_for(client, application)
    for name in ("directory-api:districts", "directory-api:units", "directory-api:hsds"):
        assert client.get(reverse(name), **bearer(token)).status_code == 403
        assert client.get(reverse(name)).status_code == 401
