"""Wiring: one `GlasscloudServer` object owns the store, the session registry, the webhook
client and the aiohttp application. No module-level state."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections import deque

from aiohttp import web

from glasscloud.asr.registry import build_backend, hub_factory
from glasscloud.core.display_manager import DisplayManager
from glasscloud.core.metrics import Metrics
from glasscloud.core.registry import SessionRegistry
from glasscloud.protocol.errors import CloseCode
from glasscloud.server import app_servers, app_ws, dev_api, glasses_ws, rest
from glasscloud.server.admission import (
    ConnectionGuard,
    GuardedSite,
    QuietParseErrors,
    head_middleware,
)
from glasscloud.server.clock import LoopClock
from glasscloud.server.config import ServerConfig
from glasscloud.server.connection import ConnectionStats, WsConnection
from glasscloud.server.effects import HttpEffects, TaskSet
from glasscloud.server.inbound import UserLimits
from glasscloud.server.liveness import LivenessMonitor
from glasscloud.server.request_context import SERVER_KEY
from glasscloud.server.revocation import KeyRevocations
from glasscloud.store.store import Store

log = logging.getLogger("glasscloud.server")


class GlasscloudServer:
    def __init__(self, config: ServerConfig, store: Store, secret: str) -> None:
        self.config = config
        self.store = store
        self.secret = secret
        self.metrics = Metrics()
        self.tasks = TaskSet()
        self.effects = HttpEffects(lambda: self.config, store, self.metrics, self.tasks)
        self.asr_backend = build_backend(
            config.asr_provider, dict(config.asr_options), config.asr_workers
        )
        self.registry = SessionRegistry(
            LoopClock(),
            self.effects,
            config.timings,
            self.metrics,
            display_factory=functools.partial(
                DisplayManager, dashboard_package=config.dashboard_package
            ),
            transcription_factory=hub_factory(self.asr_backend, LoopClock()),
        )
        self.connections: set[WsConnection] = set()
        # Stats of recently closed sockets, for the admin API (bounded).
        self.closed_stats: deque[ConnectionStats] = deque(maxlen=200)
        self.user_limits = UserLimits(config)
        self.app_servers = app_servers.AppServerRegistry()
        self.liveness = LivenessMonitor(
            lambda: self.connections,
            config.timings.ping_interval,
            config.timings.missed_pings,
            self.metrics,
        )
        self.revocations = KeyRevocations(
            store.key_versions, self.metrics, config.key_check_interval
        )
        self.connection_guard = ConnectionGuard(
            self.metrics,
            config.header_timeout,
            config.max_pending_per_address,
            config.fd_reserve,
        )
        self.web_app = self._build_app()
        self._runner: web.AppRunner | None = None

    def _build_app(self) -> web.Application:
        app = web.Application(
            client_max_size=self.config.max_message_bytes,
            middlewares=[head_middleware(self.connection_guard)],
        )
        app[SERVER_KEY] = self
        app.router.add_get("/glasses-ws", glasses_ws.handle)
        app.router.add_get("/app-ws", app_ws.handle)
        rest.add_routes(app)
        dev_api.add_routes(app)
        app_servers.add_routes(app)
        return app

    def connection_closed(self, conn: WsConnection, user_id: str | None) -> None:
        """A socket's handler ended: forget it, keep its stats, free the user's slot."""
        self.connections.discard(conn)
        self.revocations.forget(conn)
        self.closed_stats.append(conn.stats)
        if user_id is not None:
            self.user_limits.release(user_id)
        conn.finish()

    @property
    def port(self) -> int:
        return self.config.port

    async def start(self) -> None:
        """Bind and serve. With port 0 the bound port is written back into the config, so
        the URLs sent in webhooks are right."""
        self._runner = web.AppRunner(
            self.web_app,
            handle_signals=False,
            access_log=None,
            keepalive_timeout=self.config.keepalive_timeout,
            logger=QuietParseErrors(self.metrics),
        )
        await self._runner.setup()
        self.connection_guard.start()
        site = GuardedSite(
            self._runner,
            self.connection_guard,
            self.config.host,
            self.config.port,
            reuse_address=True,
        )
        await site.start()
        if self.config.port == 0:
            port = self._runner.addresses[0][1]
            self.config = dataclasses.replace(self.config, port=port)
        self.liveness.start()
        self.revocations.start()
        log.info(
            "glasscloud listening",
            extra={
                "url": self.config.base_url,
                "appWsUrl": self.config.app_ws_url,
                "asrProvider": self.config.asr_provider,
                "database": self.store.url,
            },
        )

    async def stop(self, timeout: float = 5.0) -> None:
        """Graceful: tell every glasses and App socket we are restarting (they reconnect),
        let queued frames and persistence finish, then close."""
        await self.liveness.stop()
        await self.revocations.stop()
        for conn in list(self.connections):
            conn.close(CloseCode.SERVICE_RESTART, "Server restarting")
        if self.connections:
            await asyncio.wait(
                [asyncio.ensure_future(c.wait_closed(timeout)) for c in list(self.connections)],
                timeout=timeout,
            )
        await self.tasks.drain(timeout)
        self.tasks.cancel_all()
        await self.effects.close()
        if self.asr_backend is not None:
            self.asr_backend.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
