"""Cluster nodes as real `glasscloud serve` processes on one Redis: a node that is paused
(SIGSTOP) past its lease loses its users to another node, and when it wakes up it lets them
go without touching what the new owner persisted; a node started without --redis never
imports Redis."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

from tests.support.clients import PyApp, connect_glasses
from tests.support.redis_server import needs_redis

USER = "hedy@example.com"
PKG = "com.example.pausecheck"
LEASE = 2.0


def wall(text: str) -> dict:
    return {
        "type": "display_event",
        "packageName": PKG,
        "view": "main",
        "layout": {"layoutType": "text_wall", "text": text},
    }


def showing(text: str):
    return lambda m: m.get("view") == "main" and m["layout"].get("text") == text


@needs_redis
async def test_a_paused_node_loses_its_users_and_cannot_overwrite_the_new_owner(cluster, http):
    a, b = await cluster.start("node-a"), await cluster.start("node-b")
    app = await PyApp(http, PKG, "").start()
    store = await cluster.store()
    try:
        _, app.api_key = await store.create_app(PKG, "Pause check", app.public_url)
        glasses = await connect_glasses(http, a.ws_base, cluster.token(USER), "on-a")
        await glasses.wait_for("connection_ack")
        await glasses.send({"type": "start_app", "packageName": PKG})
        await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
        on_a = app.inboxes[USER]
        await on_a.send(wall("shown through a"))
        await glasses.wait_for("display_event", showing("shown through a"))

        cluster.pause("node-a")  # a freezes with the lease; it will not renew it
        paused_at = time.monotonic()  # (the phone gives up on its silent socket to a)
        moved = await connect_glasses(http, b.ws_base, cluster.token(USER), "on-b")
        await moved.wait_for("connection_ack", timeout=2)  # accepted at once
        request = await app.wait_webhook("session_request", 2, timeout=LEASE + 8)
        assert request["mentraOSWebsocketUrl"] == b.ws_base + "/app-ws"
        assert time.monotonic() - paused_at < LEASE + 5
        await moved.wait_for("app_state_change", lambda m: m.get("state") == "running")
        on_b = app.inboxes[USER]
        await on_b.send(wall("shown through b"))
        await moved.wait_for("display_event", showing("shown through b"))

        # what the App sends to a while a sleeps reaches a the moment it wakes up
        await on_a.send(wall("stale, through a"))
        cluster.resume("node-a")
        try:  # b's "let go" waited in a's socket; or a finds its lease gone at renewal
            async with asyncio.timeout(LEASE * 3):
                while not a.log_messages("session moved"):
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(a.tail(40)) from None
        await asyncio.sleep(1.5)  # past the coalescing of resume-state writes
        user = await store.get_user(USER)
        saved = json.dumps(user.resume_state)
        assert "shown through b" in saved and "stale, through a" not in saved
        assert user.running_apps == (PKG,)
        # (whichever a did first on waking — acting on b's "let go", or on the App's stale
        # frame, or finding its lease gone at renewal — its writes could not land: the
        # database's epoch is b's; tests/unit/test_effects_fencing.py pins that path down)
        # a let go quietly: no stop webhook, no request for the App with a's URL
        assert [w["type"] for w in app.webhooks] == ["session_request", "session_request"]
        await moved.send(wall("ignored"))  # b still serves the user
        assert not moved.of_type("connection_error")
    finally:
        await store.close()
        await app.stop()


def test_without_redis_nothing_about_redis_is_imported(tmp_path):
    probe = f"""
import asyncio, sys
from glasscloud.server.run import start_server, stop_server
from glasscloud.server.config import ServerConfig
async def main():
    server = await start_server(ServerConfig(port=0, database="sqlite:///{tmp_path}/x.db",
                                             secret="s" * 32))
    await stop_server(server)
asyncio.run(main())
print(sorted(m for m in sys.modules if m.split(".")[0] == "redis" or "cluster" in m))
"""
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_a_node_does_not_start_without_its_redis(tmp_path):
    from tests.support.redis_server import free_port

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "glasscloud",
            "serve",
            "--port",
            str(free_port()),
            "--database",
            f"sqlite:///{tmp_path}/x.db",
            "--asr-provider",
            "phone",
            "--redis",
            f"redis://:hunter2@127.0.0.1:{free_port()}/0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("glasscloud: error: cannot reach Redis at redis://:***@127.0.0.1:")
    assert "hunter2" not in out.stderr
