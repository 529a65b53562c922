"""A real `glasscloud serve --database postgresql://...` process against the session's real
PostgreSQL server (tests/support/postgres.py): it migrates the database, answers /ready,
takes glasses, starts an App, keeps which Apps run in PostgreSQL, and after a graceful
restart brings the App back from there."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from glasscloud.auth.tokens import issue_core_token
from glasscloud.store import Store
from tests.support.clients import PyApp, connect_glasses
from tests.support.postgres import PASSWORD, free_port
from tests.support.scenarios import start_and_wait
from tests.support.server_process import ServerProcess

SECRET = "postgres-serve-secret-0123456789abcdef0"
USER = "pg@example.com"
PACKAGE = "com.example.captions"


async def _running_apps_become(url: str, expected: tuple[str, ...], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with await Store.open(url) as store:
        while (seen := (await store.get_user(USER)).running_apps) != expected:
            assert time.monotonic() < deadline, f"running apps in PostgreSQL: {seen}"
            await asyncio.sleep(0.1)


async def test_serve_on_a_real_postgresql_keeps_and_restores_running_apps(postgres_url):
    async with aiohttp.ClientSession() as http:
        app = await PyApp(http, PACKAGE, "").start()
        server = ServerProcess(
            free_port(), postgres_url, SECRET, extra_args=("--drain-delay", "0")
        )
        try:
            await server.start()
            async with http.get(f"{server.http_base}/ready") as response:
                ready = await response.json()
            assert response.status == 200, ready
            assert ready["checks"]["database"] == ready["checks"]["migrations"] == "ok"
            async with await Store.open(postgres_url) as store:
                _, app.api_key = await store.create_app(
                    PACKAGE, "Captions", app.public_url, permissions=["MICROPHONE"]
                )

            glasses = await connect_glasses(
                http, server.ws_base, issue_core_token(SECRET, USER), USER
            )
            await glasses.wait_for("connection_ack")
            await start_and_wait(glasses, PACKAGE)
            await app.wait_webhook("session_request")
            await _running_apps_become(postgres_url, (PACKAGE,), timeout=5)

            assert await server.terminate() == 0
            await glasses.wait_closed()
            server = server.again("restarted")
            await server.start()
            glasses = await connect_glasses(
                http, server.ws_base, issue_core_token(SECRET, USER), USER
            )
            await glasses.wait_for("connection_ack")
            await app.wait_webhook("session_request", count=2, timeout=20)
            await glasses.wait_for(
                "app_state_change",
                lambda m: m.get("packageName") == PACKAGE and m.get("state") == "running",
                timeout=20,
            )
            await glasses.close()
        finally:
            await server.kill()
            await app.stop()
    assert PASSWORD not in "\n".join(server.raw)
