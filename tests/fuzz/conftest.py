"""What the fuzz tests compare before and after each example: the rows a request may write."""

import pytest
from django.db import models

from referrals.models import ApiIntake, Referral, ReferralEvent
from tests import factories
from tests.referrals.partners import bearer, partner_client, token_for


def snapshot() -> dict:
    """Row counts and the sum of versions: a refused request must leave all of them as
    they were."""
    return {
        "referrals": Referral.objects.count(),
        "events": ReferralEvent.objects.count(),
        "intakes": ApiIntake.objects.count(),
        "versions": Referral.objects.aggregate(total=models.Sum("version"))["total"] or 0,
    }


def assert_stored_within_limits(referral: Referral) -> None:
    """What was stored is what validation allows: text within its column's length, no NUL
    (PostgreSQL refuses it in text), no lone surrogate (not encodable as UTF-8)."""
    for field in Referral._meta.concrete_fields:
        if not isinstance(field, models.CharField | models.TextField):
            continue
        value = str(getattr(referral, field.attname) or "")
        assert "\x00" not in value, field.name
        value.encode("utf-8")  # raises on a lone surrogate
        if field.max_length:
            assert len(value) <= field.max_length, field.name


@pytest.fixture
def changes():
    """``changes()`` is the difference since the fixture was set up or last called."""
    state = {"last": None}

    def diff() -> dict:
        now = snapshot()
        before, state["last"] = state["last"] or now, now
        return {key: now[key] - before[key] for key in now}

    diff()
    return diff


@pytest.fixture
def liaison(ifsc_unit):
    team = factories.ServiceUnitFactory(code="liaison-team", organisation=ifsc_unit.organisation)
    return partner_client(
        ifsc_unit.organisation, scopes=("referrals:read", "referrals:write"), intake_team=team
    )


@pytest.fixture
def api(client, liaison):
    """Headers of the liaison's token (read and write); throttling off, as a partner's
    backlog could send this many requests in a minute."""
    return bearer(token_for(client, liaison, scope="referrals:read referrals:write"))


@pytest.fixture(autouse=True)
def _no_throttle(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
