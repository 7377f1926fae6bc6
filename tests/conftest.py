"""Fixtures shared by the whole suite: the personas every endpoint is tested with."""

import os

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import Membership
from tests import factories


def pytest_report_header(config):
    vendor = connection.vendor
    broker = settings.CELERY_BROKER_URL
    eager = settings.CELERY_TASK_ALWAYS_EAGER
    if os.environ.get("CI") == "true" and (vendor != "postgresql" or eager):
        raise pytest.UsageError(
            f"CI must test against PostgreSQL and Redis, got database={vendor} broker={broker}"
        )
    return [f"database vendor: {vendor}", f"broker: {broker} (eager={eager})"]


@pytest.fixture(scope="session", autouse=True)
def _collected_static(django_db_blocker):
    """Tests run with production settings (DEBUG off), so static files go through the
    hashed manifest that ``collectstatic`` writes, exactly as they are served in production."""
    from django.core.management import call_command

    call_command("collectstatic", "--noinput", verbosity=0)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2's deliberate slowness is a production feature; tests only need hashes to match."""
    settings.PASSWORD_HASHERS = factories.FAST_PASSWORD_HASHERS


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a request served in Chinese leaves the
    thread's language active, and a later test reading a message would read it in Chinese."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _force_login_passes_two_factor(request, monkeypatch):
    """``client.force_login(user)`` gives a session as a full sign-in leaves it: activity
    stamps set and the second factor verified with an authenticator created for the user.
    Tests of the two-factor gate itself opt out with ``@pytest.mark.real_2fa`` (then the
    session has the stamps but no verified device)."""
    from django.test.client import ClientMixin

    from tests.two_factor import mark_session_verified

    with_device = request.node.get_closest_marker("real_2fa") is None
    original = ClientMixin.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        mark_session_verified(self, user, with_device=with_device)

    monkeypatch.setattr(ClientMixin, "force_login", force_login)


@pytest.fixture
def ssp_area(db):
    return factories.SubDistrictFactory(code="F01", district=factories.district("F"))


@pytest.fixture
def caring_team(ssp_area):
    return factories.ServiceUnitFactory(
        code="care-team-f01",
        unit_type=factories.unit_type("CARE_TEAM"),
        catchment_sub_districts=[ssp_area],
        capacity=0,
    )


@pytest.fixture
def ifsc_unit(ssp_area):
    return factories.ServiceUnitFactory(
        code="ifsc-f-01",
        name_en="Sham Shui Po Integrated Family Service Centre Test",
        name_zh="深水埗綜合家庭服務中心測試",
        unit_type=factories.unit_type("IFSC"),
        catchment_sub_districts=[ssp_area],
    )


@pytest.fixture
def other_unit(db):
    return factories.ServiceUnitFactory(
        code="iccmw-f-01",
        unit_type=factories.unit_type("ICCMW"),
        catchment_districts=[factories.district("F")],
    )


def _member(username, role, **scope):
    return factories.MembershipFactory(
        user=factories.UserFactory(username=username), role=role, **scope
    ).user


@pytest.fixture
def referrer(caring_team):
    return _member("referrer", Membership.Role.REFERRER, service_unit=caring_team)


@pytest.fixture
def unit_worker(ifsc_unit):
    return _member("unit-worker", Membership.Role.UNIT_STAFF, service_unit=ifsc_unit)


@pytest.fixture
def unit_supervisor(ifsc_unit):
    return _member("unit-supervisor", Membership.Role.UNIT_SUPERVISOR, service_unit=ifsc_unit)


@pytest.fixture
def other_unit_worker(other_unit):
    return _member("other-unit-worker", Membership.Role.UNIT_STAFF, service_unit=other_unit)


@pytest.fixture
def district_officer(db):
    return _member(
        "officer-ssp",
        Membership.Role.DISTRICT_OFFICER,
        service_unit=None,
        welfare_office=factories.office("SSP"),
    )


@pytest.fixture
def other_district_officer(db):
    return _member(
        "officer-kt",
        Membership.Role.DISTRICT_OFFICER,
        service_unit=None,
        welfare_office=factories.office("KT"),
    )


@pytest.fixture
def admin_user(db):
    return factories.UserFactory(username="hq-admin", is_staff=True, is_superuser=True)


@pytest.fixture
def eager_tasks():
    """Run Celery tasks in-process, as the demo does; pair with
    ``django_capture_on_commit_callbacks(execute=True)`` to follow a change's after-commit work.
    The real worker and broker are exercised in ``tests/integration``."""
    from welfare_portal.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved
