"""Which transport Celery uses for a broker URL (welfare_portal/broker.py); the fix itself is
tested against a real Redis in tests/integration/test_broker_restart.py."""

import pytest
from kombu import Connection

from welfare_portal.broker import TRANSPORT, Transport, transport_for


def test_plain_redis_urls_get_the_fixed_transport():
    url = "redis://127.0.0.1:6379/0"
    assert transport_for(url) == TRANSPORT
    assert isinstance(Connection(url, transport=transport_for(url)).transport, Transport)


@pytest.mark.parametrize("url", ["rediss://redis.example:6380/0", "memory://", "amqp://h//"])
def test_other_schemes_keep_kombus_transport_so_tls_is_not_dropped(url):
    assert transport_for(url) is None
    connection = Connection(url, transport=transport_for(url))
    assert not isinstance(connection.transport, Transport)
    if url.startswith("rediss"):
        assert connection.ssl  # naming a transport class would have turned TLS off
