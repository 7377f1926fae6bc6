"""Redis (the cache) unreachable: the partner API keeps answering (issue 14 item 17). The
throttle, the failed-token counts and the dashboard read a miss and write nothing, with a
warning in the log, against a real Redis address that nothing listens on."""

import logging
import socket
import time

import pytest
from django.core.cache import cache
from django.urls import reverse

from tests.referrals.api.test_intake import body, post
from tests.referrals.partners import bearer, partner_client, token_for
from welfare_portal import cache as portal_cache

pytestmark = pytest.mark.django_db

UNREACHABLE = "redis://127.0.0.1:1/0"  # port 1: nothing listens there


@pytest.fixture
def redis_down(settings, monkeypatch):
    monkeypatch.setattr(portal_cache, "_down_until", {})
    monkeypatch.setattr(portal_cache, "_warned_at", {})
    portal_cache._local.clear()
    settings.CACHES = {"default": portal_cache.cache_settings(UNREACHABLE)}
    return settings


@pytest.fixture
def liaison(ifsc_unit):
    from tests import factories

    team = factories.ServiceUnitFactory(code="liaison-team", organisation=ifsc_unit.organisation)
    return partner_client(
        ifsc_unit.organisation, scopes=("referrals:read", "referrals:write"), intake_team=team
    )


def test_the_partner_api_answers_while_redis_is_down(
    client, liaison, ssp_area, ifsc_unit, redis_down, caplog
):
    caplog.set_level(logging.WARNING, logger="welfare_portal.cache")
    token = token_for(client, liaison, scope="referrals:read referrals:write")

    filed = post(client, token, body(ssp_area))
    listed = client.get(reverse("api:referral-list"), **bearer(token))

    assert filed.status_code == 201, filed.content
    assert listed.status_code == 200, listed.content
    warnings = [r for r in caplog.records if r.name == "welfare_portal.cache"]
    assert len(warnings) == 1  # at most one a minute, however many calls failed
    assert "unreachable" in warnings[0].getMessage()


def test_reads_miss_and_writes_do_nothing(redis_down):
    assert cache.get("anything", "default") == "default"
    cache.set("anything", 1)
    assert cache.add("other", 1) is False
    with pytest.raises(ValueError):
        cache.incr("anything")
    assert cache.get_many(["a", "b"]) == {}
    cache.delete("anything")


@pytest.fixture
def silent_redis(redis_down):
    """A port that takes connections and never answers, as a hung Redis does."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        redis_down.CACHES = {"default": portal_cache.cache_settings(f"redis://127.0.0.1:{port}/0")}
        yield


def test_a_silent_redis_costs_one_socket_timeout_then_none(silent_redis, caplog):
    started = time.monotonic()
    for _call in range(20):
        assert cache.get("anything") is None
    assert time.monotonic() - started < 1.5  # one 0.5 s timeout, not twenty
    assert "TimeoutError" in caplog.text


def test_the_api_limit_holds_per_process_meanwhile(client, liaison, redis_down, settings):
    settings.API_RATE_LIMIT = "2/min"
    token = token_for(client, liaison, scope="referrals:read")
    statuses = [
        client.get(reverse("api:referral-list"), **bearer(token)).status_code for _ in range(4)
    ]
    # The first request finds Redis down (and is let through); then the local count applies.
    assert statuses[-1] == 429
    assert 200 in statuses
