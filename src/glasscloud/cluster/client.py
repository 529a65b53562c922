"""The Redis client every part of a cluster node uses: short timeouts (a node must notice
quickly that Redis is gone, and keep serving its users), and one quiet retry of a command
whose pooled connection Redis closed (after a Redis restart the first use of each old
connection fails)."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

TIMEOUT = 2.0


def redis_client(url: str) -> aioredis.Redis:
    return aioredis.from_url(
        url,
        decode_responses=True,
        socket_timeout=TIMEOUT,
        socket_connect_timeout=TIMEOUT,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[RedisConnectionError],
    )
