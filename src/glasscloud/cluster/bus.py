"""Control messages between nodes over Redis pub/sub: one channel per node (its inbox) and
one every node hears (broadcast). A message is a small JSON object with a `type`.

Pub/sub is best-effort (a node that is not listening at that moment misses it), which is
what every message here tolerates: a missed "let this user go" ends in the lease expiring;
a missed App record change in the record cache's short lifetime; a missed key rotation in
the periodic key check (`--key-check-interval`). The listener reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from glasscloud.cluster import keys
from glasscloud.server.background import cancel_and_wait

log = logging.getLogger("glasscloud.cluster")

MAX_MESSAGE_BYTES = 64 * 1024
Handler = Callable[[dict[str, Any]], None]


class Bus:
    def __init__(self, redis: Any, node_id: str, on_message: Handler) -> None:
        self.redis = redis
        self.node_id = node_id
        self._on_message = on_message
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    async def send(self, node_id: str, message: dict[str, Any]) -> None:
        await self.redis.publish(keys.inbox(node_id), json.dumps({**message, "from": self.node_id}))

    async def broadcast(self, message: dict[str, Any]) -> None:
        await self.redis.publish(keys.BROADCAST, json.dumps({**message, "from": self.node_id}))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen_forever())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _listen_forever(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: listen again when it is back
                self.subscribed.clear()
                log.warning("cluster bus disconnected (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            else:
                delay = 0.1

    async def _listen(self) -> None:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(keys.inbox(self.node_id), keys.BROADCAST)
            self.subscribed.set()
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    self._dispatch(message.get("data"))
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    def _dispatch(self, data: Any) -> None:
        if not isinstance(data, str) or len(data) > MAX_MESSAGE_BYTES:
            return
        try:
            message = json.loads(data)
        except ValueError:
            return
        if not isinstance(message, dict) or message.get("from") == self.node_id:
            return  # our own broadcast comes back to us: we already acted on it
        try:
            self._on_message(message)
        except Exception:
            log.exception("cluster message failed", extra={"clusterMessage": message.get("type")})
