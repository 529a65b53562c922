"""Which nodes are alive: each node announces itself (`node:{id}`, JSON, expiring after one
lease time unless renewed) with its URLs and users, and publishes its sessions as the admin
API lists them (`sessions:{id}`), so any node can answer for the whole cluster."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from glasscloud.cluster import keys


@dataclass(frozen=True, slots=True)
class NodeInfo:
    node_id: str
    public_url: str
    internal_url: str  # where other nodes reach it (REST forwarding)
    started_at: float  # wall seconds
    seen_at: float  # wall seconds of its last announcement
    users: int
    draining: bool = False

    def as_json(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        return {
            "nodeId": self.node_id,
            "publicUrl": self.public_url,
            "internalUrl": self.internal_url,
            "startedAt": self.started_at,
            "ageSeconds": round(max(0.0, now - self.started_at), 1),
            "lastSeenSecondsAgo": round(max(0.0, now - self.seen_at), 1),
            "users": self.users,
            "draining": self.draining,
        }


def _decode(raw: str | None) -> NodeInfo | None:
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return NodeInfo(
            str(data["nodeId"]),
            str(data["publicUrl"]),
            str(data["internalUrl"]),
            float(data["startedAt"]),
            float(data["seenAt"]),
            int(data["users"]),
            bool(data.get("draining", False)),
        )
    except (ValueError, KeyError, TypeError):
        return None


class NodeDirectory:
    def __init__(self, redis: Any, ttl_seconds: float) -> None:
        self.redis = redis
        self.ttl_ms = max(100, int(ttl_seconds * 1000))

    async def announce(self, info: NodeInfo, sessions: list[dict[str, Any]]) -> None:
        data = {
            "nodeId": info.node_id,
            "publicUrl": info.public_url,
            "internalUrl": info.internal_url,
            "startedAt": info.started_at,
            "seenAt": info.seen_at,
            "users": info.users,
            "draining": info.draining,
        }
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.sadd(keys.NODES, info.node_id)
            pipe.set(keys.node(info.node_id), json.dumps(data), px=self.ttl_ms)
            pipe.set(keys.node_sessions(info.node_id), json.dumps(sessions), px=self.ttl_ms)
            await pipe.execute()

    async def leave(self, node_id: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.srem(keys.NODES, node_id)
            pipe.delete(keys.node(node_id), keys.node_sessions(node_id))
            await pipe.execute()

    async def get(self, node_id: str) -> NodeInfo | None:
        return _decode(await self.redis.get(keys.node(node_id)))

    async def nodes(self) -> list[NodeInfo]:
        """Every live node, by id; announcements that expired are dropped from the set."""
        ids = sorted(await self.redis.smembers(keys.NODES))
        if not ids:
            return []
        raws = await self.redis.mget([keys.node(i) for i in ids])
        alive, gone = [], []
        for node_id, raw in zip(ids, raws, strict=True):
            info = _decode(raw)
            (alive if info is not None else gone).append(info or node_id)
        if gone:
            await self.redis.srem(keys.NODES, *gone)
        return alive

    async def sessions(self, node_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The sessions each of these nodes published last (node -> list)."""
        if not node_ids:
            return {}
        raws = await self.redis.mget([keys.node_sessions(i) for i in node_ids])
        out: dict[str, list[dict[str, Any]]] = {}
        for node_id, raw in zip(node_ids, raws, strict=True):
            try:
                listed = json.loads(raw) if raw else []
            except ValueError:
                listed = []
            out[node_id] = listed if isinstance(listed, list) else []
        return out
