"""A real glasscloud on 127.0.0.1 for a test (port 0, SQLite in a temp dir), and the few
facts about it tests need (URLs, a user's core token)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from glasscloud.auth.tokens import issue_core_token
from glasscloud.core.timings import Timings
from glasscloud.server.app import GlasscloudServer
from glasscloud.server.config import ServerConfig
from glasscloud.server.run import start_server, stop_server

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


def make_config(tmp_path: Path, **overrides: Any) -> ServerConfig:
    base = ServerConfig(
        host="127.0.0.1",
        port=0,
        database=f"sqlite:///{tmp_path / 'glasscloud.db'}",
        timings=FAST,
        secret="test-secret-0123456789abcdef0123456789",
    )
    return dataclasses.replace(base, **overrides)


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, **overrides: Any) -> AsyncIterator[GlasscloudServer]:
    """A started server with `make_config(tmp_path, **overrides)`, stopped afterwards."""
    running = await start_server(make_config(tmp_path, **overrides))
    try:
        yield running
    finally:
        await stop_server(running)


def ws_base(server: GlasscloudServer) -> str:
    return f"ws://127.0.0.1:{server.port}"


def http_base(server: GlasscloudServer) -> str:
    return f"http://127.0.0.1:{server.port}"


def token_for(server: GlasscloudServer, email: str) -> str:
    return issue_core_token(server.secret, email)
