"""The Redis client every part of a cluster node uses.

- A bounded pool that callers queue for (`BlockingConnectionPool`): when thousands of users
  reconnect at once each needs a few Redis calls; redis-py's default pool instead fails
  the 101st concurrent call with "Too many connections" (measured: refused sessions and a
  drain that left leases behind, bench/cluster.py storm).
- Short timeouts: a node must notice quickly that Redis is gone and keep serving its users.
- One quiet retry of a command whose pooled connection Redis closed (after a Redis restart
  the first use of each old connection fails).
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

TIMEOUT = 2.0
POOL_WAIT = 5.0  # a storm's callers wait for a connection rather than fail
MAX_CONNECTIONS = 64


def redis_client(url: str, max_connections: int = MAX_CONNECTIONS) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=POOL_WAIT,  # waiting for a pooled connection
        decode_responses=True,
        socket_timeout=TIMEOUT,
        socket_connect_timeout=TIMEOUT,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[RedisConnectionError],
    )
    return aioredis.Redis(connection_pool=pool)
