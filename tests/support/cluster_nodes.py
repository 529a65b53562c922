"""Several real `glasscloud serve` processes forming one cluster: one Redis, one shared
SQLite file, each node on its own loopback port with its own `--public-url` and
`--node-id`. Nodes can be killed (-9), paused (SIGSTOP), resumed and drained (SIGTERM)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from glasscloud.auth.tokens import issue_core_token
from glasscloud.store.store import Store
from tests.support.redis_server import RedisServer, free_port
from tests.support.server_process import ServerProcess

SECRET = "cluster-test-secret-0123456789abcdef01"


class ClusterNodes:
    def __init__(self, tmp_path: Path, redis: RedisServer, lease_seconds: float = 3.0) -> None:
        self.database = f"sqlite:///{tmp_path / 'cluster.db'}"
        self.redis = redis
        self.lease_seconds = lease_seconds
        self.nodes: dict[str, ServerProcess] = {}

    async def start(self, node_id: str, *extra: str) -> ServerProcess:
        port = free_port()
        node = ServerProcess(
            port,
            self.database,
            SECRET,
            public_url=f"http://127.0.0.1:{port}",
            name=node_id,
            extra_args=(
                "--redis",
                self.redis.url,
                "--node-id",
                node_id,
                "--lease-seconds",
                str(self.lease_seconds),
                "--drain-delay",
                "0",
                *extra,
            ),
        )
        await node.start()
        self.nodes[node_id] = node
        return node

    async def store(self) -> Store:
        return await Store.open(self.database)

    def token(self, user: str) -> str:
        return issue_core_token(SECRET, user)

    def pause(self, node_id: str) -> None:
        self._signal(node_id, signal.SIGSTOP)

    def resume(self, node_id: str) -> None:
        self._signal(node_id, signal.SIGCONT)

    def _signal(self, node_id: str, sig: int) -> None:
        pid = self.nodes[node_id].pid
        if pid is not None and self.nodes[node_id].returncode is None:
            os.kill(pid, sig)

    async def stop_all(self) -> None:
        for node_id, node in self.nodes.items():
            with contextlib.suppress(Exception):
                self.resume(node_id)
            await node.kill()


@pytest.fixture
async def cluster(
    request: pytest.FixtureRequest, tmp_path: Path, redis_server: RedisServer
) -> AsyncIterator[ClusterNodes]:
    """Nodes to start on one Redis and one database, all killed afterwards; the lease is
    the test module's `LEASE` (tests/conftest.py registers the fixture)."""
    nodes = ClusterNodes(tmp_path, redis_server, getattr(request.module, "LEASE", 3.0))
    try:
        yield nodes
    finally:
        await nodes.stop_all()
