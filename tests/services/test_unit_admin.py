"""The unit's change form in the admin: the load is shown, never typed in (it counts the
unit's referrals; ``referrals.tasks.reconcile_unit_loads`` repairs it)."""

import pytest
from django.urls import reverse

from services.models import ServiceUnit
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def unit(db):
    return factories.ServiceUnitFactory(code="ifsc-admin", capacity=100, current_load=12)


def test_the_change_form_shows_the_load_without_a_field_for_it(client, admin_user, unit):
    client.force_login(admin_user)
    response = client.get(reverse("admin:services_serviceunit_change", args=[unit.pk]))
    assert response.status_code == 200
    assert "current_load" not in response.context["adminform"].form.fields
    assert 'name="current_load"' not in response.content.decode()
    assert '<div class="readonly">12</div>' in response.content.decode()  # shown


def test_a_posted_load_is_ignored_and_the_rest_is_saved(client, admin_user, unit):
    client.force_login(admin_user)
    data = {
        "code": unit.code,
        "name_en": unit.name_en,
        "name_zh": unit.name_zh,
        "unit_type": unit.unit_type_id,
        "organisation": unit.organisation_id,
        "is_active": "on",
        "district": unit.district_id,
        "email": unit.email,
        "languages": ["yue"],
        "capacity": 150,
        "current_load": 0,  # a hand edit: would make routing send it everything
    }
    response = client.post(reverse("admin:services_serviceunit_change", args=[unit.pk]), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    unit = ServiceUnit.objects.get(pk=unit.pk)
    assert (unit.capacity, unit.current_load) == (150, 12)
