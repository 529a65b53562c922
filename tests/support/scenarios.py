"""The steps integration tests share: register an App (a real in-test App server), connect
a user's glasses, start the App from them and wait until it runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from glasscloud.server.app import GlasscloudServer
from tests.support.clients import FrameInbox, PyApp, connect_glasses
from tests.support.servers import token_for, ws_base


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


async def glasses_for(
    server: GlasscloudServer, http: aiohttp.ClientSession, user: str
) -> FrameInbox:
    """`user`'s glasses, connected and acknowledged."""
    glasses = await connect_glasses(http, ws_base(server), token_for(server, user), user)
    await glasses.wait_for("connection_ack")
    return glasses


async def glasses_starting(
    server: GlasscloudServer, http: aiohttp.ClientSession, package: str, user: str
) -> FrameInbox:
    """`user`'s glasses, connected and acknowledged, having asked to start `package`."""
    glasses = await glasses_for(server, http, user)
    await glasses.send({"type": "start_app", "packageName": package})
    return glasses


def is_running_change(package: str) -> Callable[[dict[str, Any]], bool]:
    """Matches the `app_state_change` that says `package` runs."""
    return lambda m: m.get("packageName") == package and m.get("state") == "running"


async def start_and_wait(glasses: FrameInbox, package: str) -> None:
    """Start `package` from these glasses and wait until they hear it runs."""
    await glasses.send({"type": "start_app", "packageName": package})
    await glasses.wait_for("app_state_change", is_running_change(package))


async def running_app(
    server: GlasscloudServer,
    http: aiohttp.ClientSession,
    package: str = "com.example.captions",
    user: str = "someone@example.com",
    **register: Any,
) -> tuple[PyApp, FrameInbox]:
    """A registered App, started from `user`'s glasses and running."""
    app = await register_app(server, http, package, **register)
    glasses = await glasses_for(server, http, user)
    await start_and_wait(glasses, package)
    return app, glasses
