import pytest
from django.db import IntegrityError

from accounts.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db


def test_a_unit_role_needs_a_service_unit():
    user = factories.UserFactory()
    with pytest.raises(IntegrityError):
        Membership.objects.create(user=user, role=Membership.Role.UNIT_STAFF)


def test_a_district_officer_needs_an_office_and_no_unit(ifsc_unit):
    user = factories.UserFactory()
    with pytest.raises(IntegrityError):
        Membership.objects.create(
            user=user, role=Membership.Role.DISTRICT_OFFICER, service_unit=ifsc_unit
        )


def test_the_same_role_in_the_same_unit_is_held_once(unit_worker, ifsc_unit):
    with pytest.raises(IntegrityError):
        Membership.objects.create(
            user=unit_worker, role=Membership.Role.UNIT_STAFF, service_unit=ifsc_unit
        )


def test_administrator_is_an_active_superuser(admin_user, unit_worker):
    assert admin_user.is_administrator
    assert not unit_worker.is_administrator
    admin_user.is_active = False
    assert not admin_user.is_administrator
