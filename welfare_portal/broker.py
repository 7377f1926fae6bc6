"""Celery's Redis transport, with one fix: a worker survives Redis going away while it is
running a task.

kombu 5.7's Redis channel, on losing the broker, is closed twice by the worker: first by
``Connection.collect()``, then by ``Connection.close()``. If the channel was waiting for a
``BRPOP`` reply at that moment, the first close re-reads that reply, gets the connection
error, and stops before marking the channel closed. ``collect()`` then detaches the transport
from its connection. The second close tries to hand the unacknowledged messages (the task
being run, with ``acks_late``) back to Redis, needs the detached connection's address, and
raises ``AttributeError``. That is not a connection error, so the worker logs
"Unrecoverable error" and exits instead of reconnecting. Nothing consumes the queue until it
is restarted.

Here the first close treats a connection error on that last read as the end of the read, as
it already treats an empty reply, and finishes closing. Handing back the unacknowledged
messages then fails as a connection error, which the worker expects. The messages stay in
Redis's ``unacked`` hash, and Redis hands them out again after the visibility timeout (if
Redis kept them). The worker reconnects.

``tests/integration/test_broker_restart.py`` stops a real Redis under a worker running a task
and fails without this class.
"""

from queue import Empty
from urllib.parse import urlsplit

from kombu.transport import redis

TRANSPORT = "welfare_portal.broker:Transport"


class Channel(redis.Channel):
    def close(self):
        if self._in_poll:
            try:
                self._brpop_read()
            except (Empty, *self.connection_errors):
                pass  # the reply will never come: the connection is gone
        super().close()  # _in_poll is cleared, so kombu's close does not read again


class Transport(redis.Transport):
    Channel = Channel


def transport_for(broker_url: str) -> str | None:
    """The transport class for ``broker_url``: this module's for ``redis://``; None (kombu
    chooses from the scheme) for anything else. ``rediss://`` keeps kombu's transport:
    naming a class here would drop the TLS its scheme asks for."""
    return TRANSPORT if urlsplit(broker_url).scheme == "redis" else None
