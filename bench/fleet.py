"""Open N sessions x K Apps against glasscloud (real webhook flow), the bare relay, or the
minimal relay (Apps connect and send their `subscription_update`)."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass

from bench.peers import (
    HOST,
    TEXT,
    AppListener,
    GlassesListener,
    Session,
    Tally,
    WebhookServer,
    connect,
)
from glasscloud.auth.tokens import issue_core_token
from glasscloud.store.store import Store

SUBSCRIPTIONS = ["audio_chunk", "transcription:en-US", "button_press"]


@dataclass
class FleetConfig:
    target: str  # "glasscloud" | "baseline" | "minimal"
    port: int
    k: int
    database: str = ""
    secret: str = ""
    slow: int = 0  # sessions (the first ones) that also run a slow App subscribed to audio
    slow_rcvbuf: int = 4096
    concurrency: int = 64


class Fleet:
    def __init__(self, config: FleetConfig, tally: Tally) -> None:
        self.config = config
        self.tally = tally
        self.sessions: list[Session] = []
        self.by_user: dict[str, Session] = {}
        self.packages: dict[str, tuple[int, str, list[str], bool]] = {}
        self.webhooks: WebhookServer | None = None
        self.failed = 0
        self.run_id = secrets.token_hex(3)

    async def start(self) -> None:
        if self.config.target != "glasscloud":
            return
        self.webhooks = WebhookServer(
            self.tally, self.by_user, self.packages, self.config.slow_rcvbuf
        )
        await self.webhooks.start()
        store = await Store.open(self.config.database)
        try:
            names = [
                (f"bench.r{self.run_id}.app{i}", i, SUBSCRIPTIONS, False)
                for i in range(self.config.k)
            ]
            if self.config.slow:
                names.append((f"bench.r{self.run_id}.slow", -1, ["audio_chunk"], True))
            for package, index, subs, slow in names:
                _record, key = await store.create_app(
                    package,
                    package,
                    f"http://{HOST}:{self.webhooks.port}",
                    app_type="background",
                    permissions=["MICROPHONE"],
                )
                self.packages[package] = (index, key, subs, slow)
        finally:
            await store.close()

    async def stop(self) -> None:
        for session in self.sessions:
            for app in session.apps:
                if app.transport is not None:
                    app.transport.disconnect()
            if session.glasses is not None:
                session.glasses.disconnect()
        await asyncio.sleep(0.5)
        if self.webhooks is not None:
            await self.webhooks.stop()

    async def grow(self, total: int, deadline: float) -> float:
        """Open sessions until there are `total`; returns the seconds it took."""
        start = time.monotonic()
        gate = asyncio.Semaphore(self.config.concurrency)
        first = len(self.sessions)
        new = [Session(i) for i in range(first, total)]
        self.sessions.extend(new)

        async def one(session: Session) -> None:
            async with gate:
                if time.monotonic() > deadline:
                    self.failed += 1
                    return
                try:
                    await asyncio.wait_for(self._open(session), 60)
                except Exception:
                    self.failed += 1

        await asyncio.gather(*(one(s) for s in new))
        return time.monotonic() - start

    async def _open(self, session: Session) -> None:
        cfg = self.config
        base = f"ws://{HOST}:{cfg.port}"
        if cfg.target == "baseline":
            for index in range(cfg.k):
                listener = AppListener(self.tally, session, index)
                listener.package = f"app{index}"
                await connect(lambda listener=listener: listener, f"{base}/sink/{session.index}")
                session.apps.append(listener)
            session.glasses, _ = await connect(
                lambda: GlassesListener(self.tally, session), f"{base}/src/{session.index}"
            )
            return
        if cfg.target == "minimal":
            for index in range(cfg.k):
                listener = AppListener(self.tally, session, index)
                listener.package = f"app{index}"
                app, _ = await connect(
                    lambda listener=listener: listener, f"{base}/app/{session.index}"
                )
                app.send(
                    TEXT,
                    b'{"type":"subscription_update","subscriptions":["%s"]}'
                    % '","'.join(SUBSCRIPTIONS).encode(),
                )
                session.apps.append(listener)
            session.glasses, _ = await connect(
                lambda: GlassesListener(self.tally, session), f"{base}/glasses/{session.index}"
            )
            return
        user = f"u{session.index}@bench.local"
        self.by_user[user] = session
        token = issue_core_token(cfg.secret, user)
        listener = GlassesListener(self.tally, session)
        session.glasses, _ = await connect(
            lambda: listener, f"{base}/glasses-ws", {"Authorization": f"Bearer {token}"}
        )
        await asyncio.wait_for(listener.acked, 30)
        wanted = [
            p
            for p, (i, _k, _s, _slow) in self.packages.items()
            if i >= 0 or session.index < cfg.slow
        ]
        for package in wanted:
            start = b'{"type":"start_app","packageName":"%s"}' % package.encode()
            session.glasses.send(TEXT, start)
        while len(session.apps) < len(wanted):
            await asyncio.sleep(0.02)
