"""The rig for recovery tests with the real SDK App and real `glasscloud serve` processes.

    glasses (test client) ──────────────────────────────► glasscloud serve :P  (SQLite file)
    SDK App (node app.mjs) ── TcpGate :G (public URL) ──►        ▲
                         ◄──────── webhooks ───────────────────── ┘

The server's `--public-url` is the gate, so every App socket (the webhook's
`mentraOSWebsocketUrl`, and the SDK's own reconnects to it) passes the gate: a test can refuse
the App's connections for a while and so decide, deterministically, whether the App or the
glasses reach a restarted server first. A restart is a new process on the same port and
database.

Failure messages show what the glasses received (`frames`), what the App printed and the
server's log lines about Apps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from glasscloud.auth.tokens import issue_core_token
from glasscloud.store.store import Store
from tests.conformance.sdk_app import SdkApp, ensure_installed
from tests.conformance.test_sdk_app import PACKAGE, USER, free_port
from tests.conformance.test_sdk_faults import said, subscribed
from tests.support.clients import FrameInbox, connect_glasses
from tests.support.server_process import ServerProcess
from tests.support.tcp_gate import TcpGate

__all__ = [
    "PACKAGE",
    "USER",
    "Rig",
    "app_running_changes",
    "assert_quiet",
    "expect",
    "frames",
    "on_dashboard",
    "open_rig",
    "press",
    "said",
    "shown",
    "subscribed",
]

SECRET = "conformance-secret-0123456789abcdef0123"
DISPLAY_REJECTED = "display from an App that is not running was rejected"

Predicate = Callable[[dict[str, Any]], bool]


def press(button: str = "main", kind: str = "short") -> dict[str, Any]:
    return {"type": "button_press", "buttonId": button, "pressType": kind}


def shown(text: str, view: str = "main") -> Predicate:
    """A display_event of the App on `view` whose layout shows `text`."""

    def match(message: dict[str, Any]) -> bool:
        if message.get("packageName") != PACKAGE or (message.get("view") or "main") != view:
            return False
        layout = message.get("layout") or {}
        if view == "main":
            return layout.get("text") == text
        return text in json.dumps(layout)

    return match


def on_dashboard(text: str) -> Predicate:
    """A dashboard-view display_event (any sender: the dashboard is rendered by glasscloud)
    that shows `text`."""
    return lambda m: m.get("view") == "dashboard" and text in json.dumps(m.get("layout"))


def app_running_changes(inbox: FrameInbox) -> list[dict[str, Any]]:
    """The app_state_change frames announcing the App `running`."""
    return [
        m
        for m in inbox.of_type("app_state_change")
        if m.get("packageName") == PACKAGE and m.get("state") == "running"
    ]


def frames(inbox: FrameInbox, last: int = 40) -> str:
    """One line per frame the glasses got (the last `last`), with the fields that matter."""
    lines = []
    for m in inbox.messages[-last:]:
        kind = m.get("type")
        bits = [str(kind)]
        if kind == "display_event":
            layout = m.get("layout") or {}
            text = layout.get("text", layout.get("title", ""))
            bits.append(f"{m.get('packageName')} view={m.get('view')} text={text!r}")
            if m.get("view") == "dashboard":
                bits.append(json.dumps(layout)[:120])
        elif kind in ("app_state_change", "connection_ack"):
            us = m.get("userSession") or {}
            if m.get("packageName"):
                bits.append(f"{m.get('packageName')} -> {m.get('state')} ({m.get('reason', '')})")
            bits.append(f"active={us.get('activeAppSessions')} loading={us.get('loadingApps')}")
        elif kind == "connection_error":
            bits.append(f"{m.get('code')}: {m.get('message')}")
        lines.append("    " + " ".join(bits))
    return "\n".join(lines) or "    (none)"


@dataclass
class Rig:
    tmp_path: Path
    http: aiohttp.ClientSession
    gate: TcpGate
    server: ServerProcess
    sdk: SdkApp
    api_key: str
    servers: list[ServerProcess] = field(default_factory=list)
    inboxes: list[FrameInbox] = field(default_factory=list)

    @property
    def token(self) -> str:
        return issue_core_token(SECRET, USER)

    async def glasses(self, name: str = "glasses", via: TcpGate | None = None) -> FrameInbox:
        """Glasses connected (directly, or through `via`) and acknowledged."""
        base = f"ws://127.0.0.1:{via.port}" if via else self.server.ws_base
        inbox = await connect_glasses(self.http, base, self.token, name)
        self.inboxes.append(inbox)
        await expect(self, inbox, "connection_ack", timeout=10, why="the glasses are acked")
        return inbox

    async def start_app(self, glasses: FrameInbox) -> None:
        """Start the App from the glasses; wait until it runs, subscribed, and drew."""
        await glasses.send({"type": "start_app", "packageName": PACKAGE})
        await self.sdk.wait_for("session", timeout=15)
        await expect(self, glasses, "app_state_change", subscribed, 15, "the App subscribed")
        await expect(self, glasses, "display_event", shown("SDK app ready"), 10, "first view")

    async def restart(self, *, kill: bool = False, before_start: Callable[[], Any] | None = None):
        """SIGTERM (or SIGKILL) the server, then start it again on the same port and DB.
        `before_start` runs between the two (e.g. to close the gate)."""
        old = self.server
        status = await (old.kill() if kill else old.terminate())
        assert kill or status == 0, f"{old.name} exited with {status}; log:\n{old.tail()}"
        if before_start is not None:
            before_start()
        new = old.again(f"server#{len(self.servers) + 1}")
        self.servers.append(new)
        self.server = new
        await new.start()
        return new

    async def close(self) -> None:
        for inbox in self.inboxes:
            with contextlib.suppress(Exception):
                await inbox.close()
        await self.sdk.stop()
        for server in self.servers:
            await server.kill()
        await self.gate.close()

    async def persisted_running_apps(self) -> tuple[str, ...]:
        """The Apps the database lists as running for the user (read beside the server)."""
        async with await Store.open(self.server.database) as store:
            return (await store.get_user(USER)).running_apps

    async def wait_persisted_stopped(self, timeout: float = 5.0) -> None:
        """Until the database no longer lists the App as running (bounded polling)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while PACKAGE in (running := await self.persisted_running_apps()):
            assert loop.time() < deadline, f"the stop is not persisted after {timeout} s: {running}"
            await asyncio.sleep(0.05)

    def log_records(self, text: str) -> list[dict[str, Any]]:
        return [r for s in self.servers for r in s.log_messages(text)]

    def report(self, inbox: FrameInbox | None = None) -> str:
        """What everyone saw, for a failure message."""
        parts = []
        if inbox is not None:
            parts.append(f"  {inbox.name} received:\n{frames(inbox)}")
        app_events = [
            json.dumps({k: v for k, v in e.items() if k != "sessionId"})[:160]
            for e in self.sdk.events
            if e.get("event") != "listening"
        ]
        if len(app_events) > 25:
            app_events = [f"... {len(app_events) - 25} earlier", *app_events[-25:]]
        parts.append("  SDK App events:\n" + ("\n".join("    " + e for e in app_events)))
        server_lines = [
            f"    [{s.name}] {r.get('msg')}"
            for s in self.servers
            for r in s.log
            if r.get("packageName") == PACKAGE or "App" in str(r.get("msg", ""))
        ]
        parts.append("  server log (App lines):\n" + "\n".join(server_lines[-40:]))
        return "\n".join(parts)


async def expect(
    rig: Rig,
    inbox: FrameInbox,
    msg_type: str,
    where: Predicate | None = None,
    timeout: float = 5.0,
    why: str = "",
) -> dict[str, Any]:
    """`inbox.wait_for`, with a failure message that shows the frames, App and server."""
    try:
        return await inbox.wait_for(msg_type, where, timeout)
    except AssertionError:
        raise AssertionError(
            f"{inbox.name}: no matching {msg_type} within {timeout} s ({why})\n{rig.report(inbox)}"
        ) from None


async def assert_quiet(
    rig: Rig, inbox: FrameInbox, bad: Predicate, seconds: float, why: str
) -> None:
    """Nothing matching `bad` is on `inbox` (already, or within `seconds`). A bounded wait:
    an absence has no event to wait for."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        hits = [m for m in inbox.messages if bad(m)]
        if hits:
            raise AssertionError(f"{why}: got {json.dumps(hits[0])[:300]}\n{rig.report(inbox)}")
        left = deadline - loop.time()
        if left <= 0:
            return
        await asyncio.sleep(min(0.1, left))


async def open_rig(
    tmp_path: Path, http: aiohttp.ClientSession, app_env: dict[str, str] | None = None
) -> Rig:
    """Register the App in a fresh database, then start the server and the App together."""
    ensure_installed()
    database = f"sqlite:///{tmp_path / 'glasscloud.db'}"
    app_port = free_port()
    async with await Store.open(database) as store:
        _, key = await store.create_app(
            PACKAGE,
            "SDK conformance",
            f"http://127.0.0.1:{app_port}",
            app_type="standard",
            permissions=("MICROPHONE",),
        )
    server_port = free_port()
    gate = await TcpGate(server_port).start()
    server = ServerProcess(server_port, database, SECRET, public_url=gate.url, name="server#1")
    sdk = SdkApp(extra_env=app_env)
    rig = Rig(tmp_path, http, gate, server, sdk, key, servers=[server])
    results = await asyncio.gather(
        server.start(), sdk.start(PACKAGE, key, app_port), return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        await rig.close()
        raise errors[0]
    return rig
