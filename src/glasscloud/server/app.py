"""Wiring: one `GlasscloudServer` object owns the store, the session registry, the webhook
client and the aiohttp application. No module-level state."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from aiohttp import web

from glasscloud.asr.registry import build_backend, hub_factory
from glasscloud.core.context import SessionServices
from glasscloud.core.display_manager import DisplayManager
from glasscloud.core.hardware import HardwareServices
from glasscloud.core.metrics import Metrics
from glasscloud.core.registry import SessionRegistry
from glasscloud.protocol.close_codes import CloseCode
from glasscloud.server import (
    app_comms,
    app_servers,
    app_ws,
    console,
    dev_api,
    dev_apps_api,
    dev_tokens,
    glasses_ws,
    health,
    metrics,
    public_api,
    rest,
    settings_api,
    storage_api,
    tools_api,
    tts_api,
    webview_auth,
)
from glasscloud.server.admission import (
    ConnectionGuard,
    GuardedSite,
    QuietParseErrors,
    head_middleware,
)
from glasscloud.server.app_records import AppRecordCache
from glasscloud.server.clock import LoopClock
from glasscloud.server.config import ServerConfig
from glasscloud.server.connection import ConnectionStats, WsConnection
from glasscloud.server.effects import HttpEffects, TaskSet
from glasscloud.server.inbound import UserLimits
from glasscloud.server.liveness import LivenessMonitor
from glasscloud.server.metrics import ServerMetrics
from glasscloud.server.photo_upload import PhotoErrorPoster
from glasscloud.server.request_context import SERVER_KEY
from glasscloud.server.revocation import KeyRevocations
from glasscloud.server.session_settings import PrefetchedSettings
from glasscloud.store.store import Store
from glasscloud.translation.registry import build_translator
from glasscloud.tts.registry import build_synthesizer

if TYPE_CHECKING:
    from glasscloud.cluster.node import ClusterNode

log = logging.getLogger("glasscloud.server")

# When this process was last alive (wall seconds), written every ALIVE_INTERVAL seconds and
# at shutdown, so the next process knows how long Apps may still be reconnecting to it.
ALIVE_META_KEY = "last_alive_at"
ALIVE_INTERVAL = 2.0
LISTEN_BACKLOG = 2048


class GlasscloudServer:
    def __init__(self, config: ServerConfig, store: Store, secret: str) -> None:
        self.config = config
        self.store = store
        self.secret = secret
        self.metrics = Metrics()
        # App records for the hot paths, at most a few seconds old (server/app_records.py)
        self.app_records = AppRecordCache(store.get_app)
        # App settings read with the user's record, for the first binds (session_settings.py)
        self.session_settings = PrefetchedSettings()
        self.tasks = TaskSet()
        self.effects = HttpEffects(lambda: self.config, store, self.metrics, self.tasks)
        self.tts = tts_api.TtsService(build_synthesizer(), secret)
        self.photo_errors = PhotoErrorPoster(self.metrics, self.tasks)
        tts_urls = tts_api.TtsUrls(lambda: self.config, secret)
        self.asr_backend = build_backend(
            config.asr_provider, dict(config.asr_options), config.asr_workers
        )
        self.translator = build_translator(
            config.translation_provider, dict(config.translation_options)
        )
        self.registry = SessionRegistry(
            SessionServices(
                LoopClock(),
                self.effects,
                config.timings,
                self.metrics,
                display_factory=functools.partial(
                    DisplayManager, dashboard_package=config.dashboard_package
                ),
                transcription_factory=hub_factory(self.asr_backend, LoopClock()),
                hardware=HardwareServices(self.photo_errors.post, tts_urls.rewrite),
                translator=self.translator,
            )
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
        self.dev_tokens = dev_tokens.DeveloperTokens(
            secret, store.revoked_developer_token_ids, config.key_check_interval
        )
        # True from SIGTERM until the process exits: /ready answers 503 (server/health.py).
        self.draining = False
        self.prometheus = ServerMetrics(self)
        self.web_app = self._build_app()
        self._runner: web.AppRunner | None = None
        self._alive_task: asyncio.Task[None] | None = None
        self._site: web.TCPSite | None = None
        # Cluster mode (--redis; cluster/node.py): made in `start`, once the port is known.
        self.cluster: ClusterNode | None = None

    def _build_app(self) -> web.Application:
        app = web.Application(
            client_max_size=self.config.max_message_bytes,
            middlewares=[head_middleware(self.connection_guard)],
        )
        app[SERVER_KEY] = self
        app.router.add_get("/glasses-ws", glasses_ws.handle)
        app.router.add_get("/app-ws", app_ws.handle)
        rest.add_routes(app)
        health.add_routes(app)
        metrics.add_routes(app)
        dev_tokens.add_routes(app)
        dev_api.add_routes(app)
        app_servers.add_routes(app)
        storage_api.add_routes(app)
        webview_auth.add_routes(app)
        public_api.add_routes(app)
        app_comms.add_routes(app)
        settings_api.add_routes(app)
        tools_api.add_routes(app)
        dev_apps_api.add_routes(app)
        tts_api.add_routes(app)
        console.add_routes(app)
        return app

    def connection_closed(self, conn: WsConnection, user_id: str | None) -> None:
        """A socket's handler ended: forget it, keep its stats, free the user's slot."""
        self.connections.discard(conn)
        self.revocations.forget(conn)
        self.closed_stats.append(conn.stats)
        self.prometheus.socket_totals.closed(conn.stats)
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
            # aiohttp's default of 128 overflowed when a failed node's users reconnected
            # together (2,291 listen-queue drops in one 2,000-user storm, bench.cluster)
            backlog=LISTEN_BACKLOG,
        )
        await site.start()
        self._site = site
        if self.config.port == 0:
            port = self._runner.addresses[0][1]
            self.config = dataclasses.replace(self.config, port=port)
        if self.config.redis:
            from glasscloud.cluster.node import ClusterNode  # only in cluster mode

            self.cluster = ClusterNode(self)
            try:
                await self.cluster.start()
            except BaseException:
                await self.cluster.close()
                await self._runner.cleanup()  # nothing left listening
                self._runner = self._site = None
                raise
        await self._resume_previous_process()
        self._alive_task = asyncio.get_running_loop().create_task(self._keep_alive_mark())
        self.liveness.start()
        self.revocations.start()
        await self.dev_tokens.start()
        self.prometheus.loop_lag.start()
        log.info(
            "glasscloud listening",
            extra={
                "url": self.config.base_url,
                "appWsUrl": self.config.app_ws_url,
                "asrProvider": self.config.asr_provider,
                "database": self.store.url,
                "nodeId": self.cluster.node_id if self.cluster else None,
            },
        )

    @property
    def alive_key(self) -> str:
        """Where this process marks itself alive: per node in a cluster (each node's Apps
        reconnect to that node only)."""
        return f"{ALIVE_META_KEY}:{self.cluster.node_id}" if self.cluster else ALIVE_META_KEY

    def cluster_event(self, message: dict[str, Any]) -> None:
        """Another node changed an App or heard from its server: act on it here too."""
        kind, package_name = message.get("type"), str(message["package"])
        if kind in ("app_changed", "app_deleted", "key_rotated"):
            self.app_records.invalidate(package_name)  # the next read is fresh
        if kind == "app_server_restarted":
            for session in self.registry:
                session.restart_app(package_name)
        elif kind == "key_rotated":
            self.tasks.spawn(self.revocations.check_once())
        elif kind == "app_server_seen":
            self.app_servers.seen(message)
        elif kind == "app_deleted":
            self.stop_everywhere(package_name)

    def stop_everywhere(self, package_name: str) -> list[str]:
        """Stop a deleted App in every session of this node; the users it was stopped for."""
        return [
            session.user_id
            for session in self.registry
            if package_name in session.apps and session.stop_app(package_name, "app_deleted")
        ]

    async def app_changed(self, kind: str, package_name: str, **details: Any) -> None:
        """This node changed an App (`app_changed`, `key_rotated`) or heard from its server
        (`app_server_restarted`, `app_server_seen`): every other node hears of it too."""
        if self.cluster is not None:
            await self.cluster.announce({"type": kind, "package": package_name, **details})

    async def _resume_previous_process(self) -> None:
        """Apps the previous process served reconnect on their own for a few seconds after
        it went away (the SDK retries 1 s, 2 s, 4 s); until then the core waits for them
        instead of asking by webhook (`AppLifecycle.restore`)."""
        try:
            last = await self.store.get_meta(self.alive_key)
        except Exception:
            log.exception("could not read when the previous process was last alive")
            return
        if last is None:
            return
        gone_by = float(last) + ALIVE_INTERVAL
        left = gone_by + self.config.timings.app_resume_window - time.time()
        if left > 0:
            services = self.registry.services
            services.resume_until = services.clock.now() + left
            log.info("Apps of the previous process may resume for %.1f s", left)

    async def _keep_alive_mark(self) -> None:
        """Write down every few seconds that this process is alive (see above)."""
        while True:
            try:
                await self.store.set_meta(self.alive_key, repr(time.time()))
            except Exception:
                log.warning("could not write the alive mark", exc_info=True)
            await asyncio.sleep(ALIVE_INTERVAL)

    async def _wait_for_apps_to_move(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(c.stats.package_name for c in self.connections):
            await asyncio.sleep(0.1)

    def begin_drain(self) -> None:
        """From now on /ready answers 503; everything else keeps working until `stop`."""
        self.draining = True

    async def stop(self, timeout: float = 5.0) -> None:
        """Graceful: tell every glasses and App socket we are restarting (they reconnect),
        let queued frames and persistence finish, then close."""
        if self._site is not None:
            # No new connections: a client reconnecting at once must reach the next process,
            # not this one while it drains.
            await self._site.stop()
            self._site = None
        await self.liveness.stop()
        await self.revocations.stop()
        await self.dev_tokens.stop()
        await self.prometheus.loop_lag.stop()
        if self._alive_task is not None:
            self._alive_task.cancel()
        self.registry.save_resume_states()
        if self.cluster is not None:
            # Users move to other nodes at once; their Apps' sockets here are dropped by the
            # SDK when the new node asks them (a few seconds at most), the rest closed below.
            await self.cluster.drain()
            await self._wait_for_apps_to_move(min(timeout, 3.0))
        for conn in list(self.connections):
            conn.close(CloseCode.SERVICE_RESTART, "Server restarting")
        if self.connections:
            await asyncio.wait(
                [asyncio.ensure_future(c.wait_closed(timeout)) for c in list(self.connections)],
                timeout=timeout,
            )
        await self.tasks.drain(timeout)
        self.tasks.cancel_all()
        with contextlib.suppress(Exception):
            await self.store.set_meta(self.alive_key, repr(time.time()))
        if self.cluster is not None:
            await self.cluster.close()
        await self.effects.close()
        await self.photo_errors.close()
        if self.asr_backend is not None:
            self.asr_backend.close()
        if self.translator is not None:
            await self.translator.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
