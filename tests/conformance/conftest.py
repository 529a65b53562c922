"""Fixtures of the conformance tests that run real `glasscloud serve` processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from tests.conformance.restart_rig import Rig, open_rig

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
