"""The Django cache on Redis, degrading while Redis cannot be reached.

The cache holds nothing that must not be lost: rate-limit counts (the API throttle, failed
token requests) and computed figures (the dashboard). So while Redis is down or does not
answer, a read is a miss and a write does nothing, with one warning a minute in the log,
instead of an error that turns every request into a 500. After a failure the cache does not
try Redis again for ``RETRY_AFTER_SECONDS``, so a Redis that hangs costs one socket timeout,
not one per call. ``counting_cache()`` is where counters are kept: Redis, or while it is
unreachable a cache local to the process, so limits still hold per process.
"""

import functools
import logging
import threading
import time

from django.core.cache import cache as default_cache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
WARN_EVERY_SECONDS = 60
RETRY_AFTER_SECONDS = 5

# Per Redis location (one process may use several): when Redis may be tried again, and when
# the last warning was logged.
_down_until: dict[str, float] = {}
_warned_at: dict[str, float] = {}
_lock = threading.Lock()

_local = LocMemCache("welfare-portal-counting-fallback", {"OPTIONS": {"MAX_ENTRIES": 10000}})


def cache_settings(location: str) -> dict:
    """The ``CACHES["default"]`` entry for Redis at ``location``: this backend, with socket
    timeouts short enough that a Redis that stops answering holds a request back by under
    a second."""
    return {
        "BACKEND": "welfare_portal.cache.ResilientRedisCache",
        "LOCATION": location,
        "KEY_PREFIX": "welfare",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }


def _failed(location: str, error: Exception) -> None:
    now = time.monotonic()
    with _lock:
        _down_until[location] = now + RETRY_AFTER_SECONDS
        if now - _warned_at.get(location, -WARN_EVERY_SECONDS) < WARN_EVERY_SECONDS:
            return
        _warned_at[location] = now
    logger.warning(
        "Cache (Redis) unreachable, carrying on without it: %s: %s",
        type(error).__name__,
        error,
    )


def _degrading(method, *, fallback):
    """``method`` of the Redis cache, answering ``fallback(*args, **kwargs)`` instead of
    raising while Redis is unreachable."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if self.unreachable():
            return fallback(*args, **kwargs)
        try:
            return method(self, *args, **kwargs)
        except UNREACHABLE as error:
            _failed(self._location, error)
            return fallback(*args, **kwargs)

    return wrapper


def _missing(key, *args, **kwargs):
    raise ValueError(f"Key {key!r} not found (cache unreachable).")


def _default(key, default=None, version=None):
    return default


class ResilientRedisCache(RedisCache):
    """Django's Redis cache whose calls, while Redis is unreachable, act as on an empty
    cache that keeps nothing: ``get`` is the default, ``add`` and ``touch`` false, ``incr``
    a missing key (``ValueError``), ``set`` and ``delete`` do nothing."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._location = ",".join(self._servers)

    def unreachable(self) -> bool:
        """True for a while after a call found Redis unreachable."""
        return _down_until.get(self._location, 0.0) > time.monotonic()

    add = _degrading(RedisCache.add, fallback=lambda *a, **k: False)
    get = _degrading(RedisCache.get, fallback=_default)
    set = _degrading(RedisCache.set, fallback=lambda *a, **k: None)
    touch = _degrading(RedisCache.touch, fallback=lambda *a, **k: False)
    delete = _degrading(RedisCache.delete, fallback=lambda *a, **k: False)
    get_many = _degrading(RedisCache.get_many, fallback=lambda *a, **k: {})
    has_key = _degrading(RedisCache.has_key, fallback=lambda *a, **k: False)
    incr = _degrading(RedisCache.incr, fallback=_missing)
    set_many = _degrading(RedisCache.set_many, fallback=lambda data, *a, **k: list(data))
    delete_many = _degrading(RedisCache.delete_many, fallback=lambda *a, **k: None)
    clear = _degrading(RedisCache.clear, fallback=lambda *a, **k: False)


def counting_cache():
    """The cache to keep counters in: the default one, or, while it is a Redis found
    unreachable, one local to this process (so a limit holds per process meanwhile)."""
    unreachable = getattr(default_cache, "unreachable", None)
    if unreachable is not None and unreachable():
        return _local
    return default_cache
