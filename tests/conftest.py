"""Shared fixtures: a real glasscloud on 127.0.0.1 (port 0, SQLite in a temp dir) per test,
and an HTTP client. The helpers they rest on live in `tests/support/` (servers, scenarios);
they are re-exported here for tests that import them from `tests.conftest`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from glasscloud.server.app import GlasscloudServer
from tests.support.cluster_nodes import cluster
from tests.support.postgres import postgres_server, postgres_url, store_url
from tests.support.redis_server import redis_server
from tests.support.scenarios import glasses_starting, register_app
from tests.support.servers import FAST, http_base, make_config, serving, token_for, ws_base
from tests.support.stores import sqlite_store, sqlite_url

__all__ = [
    "FAST",
    "cluster",
    "glasses_starting",
    "http_base",
    "make_config",
    "postgres_server",
    "postgres_url",
    "redis_server",
    "register_app",
    "sqlite_store",
    "sqlite_url",
    "store_url",
    "token_for",
    "ws_base",
]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[GlasscloudServer]:
    async with serving(tmp_path) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
