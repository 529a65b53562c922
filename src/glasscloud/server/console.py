"""The operator's web console (`/console`) and the live mirror stream it reads.

- `GET /console` (and `/console/{file}`): the page, plain HTML/JS/CSS from
  `console_static/`, no build step. It holds no data: it signs in with a developer token kept
  in the tab's session storage and calls the developer and admin APIs with
  `Authorization: Bearer <token>`.
- `GET /api/admin/mirror/{userId}` (developer token): Server-Sent Events, one JSON object per
  `data:` line: `session` (`{live, glassesConnected}`), `snapshot` (main view, dashboard,
  recent captions), then `main`, `dashboard`, `caption` as the display manager decides and
  the session delivers transcriptions (`core/mirror.py` says what a mirror may carry). The
  stream follows the user across sessions (one ends, the next begins) and sends a comment
  every `HEARTBEAT` seconds.

Each watcher has a bounded queue (`QUEUE` updates, drop oldest, counted as
`console_mirror_dropped`; after a drop the watcher gets a fresh snapshot, so its page is right
again); at most `MAX_WATCHERS` streams are open at once (then 429 `TOO_MANY_CONNECTIONS`).
A session is fed only while at least one watcher follows it: the last one leaving sets
`ctx.mirror` back to None.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from glasscloud.core.mirror import Mirror, seed_from_display
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.jsonio import encode
from glasscloud.server.dev_api import _developer, _refuse
from glasscloud.server.request_context import SERVER_KEY, server_of, was_forwarded

if TYPE_CHECKING:
    from glasscloud.core.session import UserSession
    from glasscloud.server.app import GlasscloudServer

log = logging.getLogger("glasscloud.console")

STATIC = Path(__file__).with_name("console_static")
FILES = {
    "index.html": "text/html",
    "console.js": "application/javascript",
    "console.css": "text/css",
}
MAX_WATCHERS = 16
QUEUE = 256
HEARTBEAT = 15.0
FOLLOW_INTERVAL = 0.5  # how often a stream looks for the user's (next) session


class MirrorWatcher:
    """One open stream: which session it follows, and its bounded queue."""

    def __init__(self, hub: WatcherHub, user_id: str) -> None:
        self.hub = hub
        self.user_id = user_id
        self.session: UserSession | None = None
        self.followed = False  # has told the page about a session (or its absence) once
        self.glasses = False  # whether the page was last told the glasses are attached
        self.queue: deque[dict[str, Any]] = deque()
        self.wake = asyncio.Event()
        self.resync = False
        self.closed = False

    def push(self, update: dict[str, Any]) -> None:
        if len(self.queue) >= QUEUE:
            self.queue.popleft()
            self.resync = True
            self.hub.metrics.inc("console_mirror_dropped")
        self.queue.append(update)
        self.wake.set()

    def follow(self, session: UserSession | None) -> None:
        """Follow the user's current session (None: none now)."""
        if session is not None and session.disposed:
            session = None
        if session is self.session and self.followed:
            if session is not None and (session.glasses is not None) != self.glasses:
                self._tell_session(session)  # the glasses left or came back
            return
        self.detach()
        self.followed = True
        self.session = session
        if session is None:
            self.push({"type": "session", "live": False})
            return
        mirror = session.ctx.mirror
        if mirror is None:
            mirror = Mirror(session.services.clock.wall)
            seed_from_display(mirror, session.display)
            session.ctx.mirror = mirror
        mirror.add(self.push)
        self._tell_session(session)
        self.push(mirror.snapshot())

    def _tell_session(self, session: UserSession) -> None:
        self.glasses = session.glasses is not None
        self.push(
            {
                "type": "session",
                "live": True,
                "startTime": session.start_time,
                "glassesConnected": self.glasses,
            }
        )

    def take(self) -> list[dict[str, Any]]:
        if self.resync and self.session is not None and self.session.ctx.mirror is not None:
            self.resync = False
            self.queue.clear()
            return [self.session.ctx.mirror.snapshot()]
        items = list(self.queue)
        self.queue.clear()
        self.wake.clear()
        return items

    def detach(self) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        mirror = session.ctx.mirror
        if mirror is not None and mirror.remove(self.push):
            session.ctx.mirror = None  # nobody watches: the relay pays nothing again

    def close(self) -> None:
        self.closed = True
        self.detach()
        self.wake.set()


class WatcherHub:
    """Every open mirror stream of this server (bounded)."""

    def __init__(self, metrics: Any) -> None:
        self.metrics = metrics
        self.watchers: set[MirrorWatcher] = set()

    def open(self, user_id: str) -> MirrorWatcher | None:
        if len(self.watchers) >= MAX_WATCHERS:
            return None
        watcher = MirrorWatcher(self, user_id)
        self.watchers.add(watcher)
        return watcher

    def close(self, watcher: MirrorWatcher) -> None:
        watcher.close()
        self.watchers.discard(watcher)

    async def close_all(self, _app: web.Application | None = None) -> None:
        for watcher in list(self.watchers):
            self.close(watcher)


HUB_KEY: web.AppKey[WatcherHub] = web.AppKey("glasscloud_console_hub")


def add_routes(app: web.Application) -> None:
    app[HUB_KEY] = WatcherHub(app[SERVER_KEY].metrics)
    app.router.add_get("/console", page)
    app.router.add_get("/console/", page)
    app.router.add_get("/console/{file}", static_file)
    app.router.add_get("/api/admin/mirror/{user}", mirror_stream)
    app.on_shutdown.append(_close_streams)


async def _close_streams(app: web.Application) -> None:
    await app[HUB_KEY].close_all()


def _file(name: str) -> web.Response:
    content_type = FILES.get(name)
    if content_type is None:
        raise web.HTTPNotFound()
    return web.Response(
        body=(STATIC / name).read_bytes(),
        content_type=content_type,
        charset="utf-8",
        headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": "default-src 'self'; connect-src 'self'",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


async def page(request: web.Request) -> web.Response:
    return _file("index.html")


async def static_file(request: web.Request) -> web.Response:
    return _file(request.match_info["file"])


async def _served_elsewhere(
    server: GlasscloudServer, request: web.Request, user_id: str
) -> str | None:
    """Cluster mode: the URL of the node serving the user, when that is another node."""
    if server.cluster is None or server.registry.get(user_id) is not None:
        return None
    if was_forwarded(request):
        return None  # relayed here already: answer with what this node has
    return await server.cluster.owner_url(user_id)


async def _relay(
    server: GlasscloudServer,
    request: web.Request,
    response: web.StreamResponse,
    user_id: str,
    url: str,
) -> None:
    """The serving node's mirror, relayed until the user moves (then the loop looks again:
    the next stream starts with a fresh `session` and `snapshot`)."""
    assert server.cluster is not None

    async def still_there() -> bool:
        transport = request.transport
        if transport is None or transport.is_closing():
            return False
        return await server.cluster.owner_url(user_id) == url  # type: ignore[union-attr]

    await server.cluster.forwarder.relay_stream(request, response, url, still_there)
    await asyncio.sleep(FOLLOW_INTERVAL)  # a relay that ended at once is not retried in a spin


async def mirror_stream(request: web.Request) -> web.StreamResponse:
    developer = _developer(request)
    server = server_of(request)
    user_id = request.match_info["user"].strip().lower()
    hub = request.app[HUB_KEY]
    watcher = hub.open(user_id)
    if watcher is None:
        return _refuse(
            request,
            ProtocolError(
                ErrorCode.TOO_MANY_CONNECTIONS,
                f"At most {MAX_WATCHERS} console mirrors can be open at once; close one.",
            ),
        )
    log.info("console mirror opened", extra={"developer": developer, "userId": user_id})
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    loop = asyncio.get_running_loop()
    try:
        await response.prepare(request)
        last_write = loop.time()
        while not watcher.closed:
            if (elsewhere := await _served_elsewhere(server, request, user_id)) is not None:
                await _relay(server, request, response, user_id, elsewhere)
                last_write = loop.time()
                continue
            watcher.follow(server.registry.get(user_id))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watcher.wake.wait(), FOLLOW_INTERVAL)
            transport = request.transport
            if watcher.closed or transport is None or transport.is_closing():
                break  # shut down, or the page went away (seen within FOLLOW_INTERVAL)
            items = watcher.take()
            if items:
                await response.write(
                    b"".join(b"data: " + encode(item).encode() + b"\n\n" for item in items)
                )
                last_write = loop.time()
            elif loop.time() - last_write >= HEARTBEAT:
                await response.write(b": keep-alive\n\n")
                last_write = loop.time()
    except ConnectionError:
        pass  # the page went away
    finally:
        hub.close(watcher)
        log.info("console mirror closed", extra={"developer": developer, "userId": user_id})
    return response
