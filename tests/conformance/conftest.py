"""Fixtures of the conformance tests that run real `glasscloud serve` processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from glasscloud.server.app import GlasscloudServer
from tests.conformance.restart_rig import Rig, open_rig
from tests.conformance.sdk_app import SdkApp, ensure_installed
from tests.conformance.test_sdk_app import PACKAGE, free_port

MakeRig = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make_rig(tmp_path: Path, http: aiohttp.ClientSession) -> AsyncIterator[MakeRig]:
    """`await make_rig(app_env={...})`: server process + gate + SDK App, torn down after."""
    rigs: list[Rig] = []

    async def make(app_env: dict[str, str] | None = None) -> Rig:
        rig = await open_rig(tmp_path, http, app_env)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        await rig.close()


MakeSdkApp = Callable[..., Awaitable[SdkApp]]


@pytest.fixture
async def make_sdk_app(server: GlasscloudServer) -> AsyncIterator[MakeSdkApp]:
    """`await make_sdk_app(extra_env={...})`: the SDK App registered (standard, MICROPHONE)
    with the in-process `server` and listening; stopped after the test."""
    apps: list[SdkApp] = []

    async def make(extra_env: dict[str, str] | None = None) -> SdkApp:
        ensure_installed()
        app = SdkApp(extra_env=extra_env)
        apps.append(app)
        port = free_port()
        _, key = await server.store.create_app(
            PACKAGE,
            "SDK conformance",
            f"http://127.0.0.1:{port}",
            app_type="standard",
            permissions=("MICROPHONE",),
        )
        await app.start(PACKAGE, key, port)
        return app

    yield make
    for app in apps:
        await app.stop()
