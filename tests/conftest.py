"""Shared fixtures: a real glasscloud on 127.0.0.1 (port 0, SQLite in a temp dir) per test."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from glasscloud.auth.tokens import issue_core_token
from glasscloud.core.timings import Timings
from glasscloud.server.app import GlasscloudServer
from glasscloud.server.config import ServerConfig
from glasscloud.server.run import start_server, stop_server
from tests.support.clients import FrameInbox, PyApp, connect_glasses

# Short, but not racy: loopback round trips are well under a millisecond.
FAST = Timings(
    glasses_grace=1.0,
    app_start_timeout=2.0,
    app_reconnect_grace=1.0,
    webhook_timeout=3.0,
    webhook_retry_delay=0.2,
    stop_webhook_timeout=2.0,
    mic_debounce=0.3,
    subscription_mic_debounce=0.02,
    auth_timeout=2.0,
    app_resume_window=1.0,
)


def make_config(tmp_path: Path, **overrides) -> ServerConfig:
    base = ServerConfig(
        host="127.0.0.1",
        port=0,
        database=f"sqlite:///{tmp_path / 'glasscloud.db'}",
        timings=FAST,
        secret="test-secret-0123456789abcdef0123456789",
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[GlasscloudServer]:
    running = await start_server(make_config(tmp_path))
    try:
        yield running
    finally:
        await stop_server(running)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def ws_base(server: GlasscloudServer) -> str:
    return f"ws://127.0.0.1:{server.port}"


def http_base(server: GlasscloudServer) -> str:
    return f"http://127.0.0.1:{server.port}"


def token_for(server: GlasscloudServer, email: str) -> str:
    return issue_core_token(server.secret, email)


async def register_app(
    server: GlasscloudServer,
    http: aiohttp.ClientSession,
    package: str = "com.example.captions",
    app_type: str = "background",
    permissions: tuple[str, ...] = ("MICROPHONE",),
    settings_schema: tuple[dict, ...] = (),
) -> PyApp:
    app = PyApp(http, package, "")
    await app.start()
    _, key = await server.store.create_app(
        package,
        package.rsplit(".", 1)[-1],
        app.public_url,
        app_type=app_type,
        permissions=permissions,
        settings_schema=settings_schema,
    )
    app.api_key = key
    return app


async def glasses_starting(
    server: GlasscloudServer, http: aiohttp.ClientSession, package: str, user: str
) -> FrameInbox:
    """`user`'s glasses, connected and acknowledged, having asked to start `package`."""
    glasses = await connect_glasses(http, ws_base(server), token_for(server, user), user)
    await glasses.wait_for("connection_ack")
    await glasses.send({"type": "start_app", "packageName": package})
    return glasses
