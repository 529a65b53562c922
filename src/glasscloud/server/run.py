"""Start and stop a glasscloud server process (`glasscloud serve`)."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import os

from glasscloud.server.app import GlasscloudServer
from glasscloud.server.config import ServerConfig
from glasscloud.server.logs import setup_logging
from glasscloud.signals import on_second_signal, until_stop_signal
from glasscloud.store.store import Store

log = logging.getLogger("glasscloud.server")


async def start_server(config: ServerConfig) -> GlasscloudServer:
    """Open the store, resolve the token secret, bind, and return the running server."""
    store = await Store.open(config.database)
    try:
        secret = config.secret or await store.get_or_create_secret()
        server = GlasscloudServer(dataclasses.replace(config, secret=secret), store, secret)
        await server.start()
    except BaseException:
        await store.close()
        raise
    return server


async def stop_server(server: GlasscloudServer) -> None:
    try:
        await server.stop()
    finally:
        await server.store.close()


# The collector's thresholds for a server process (CPython's default is 700, 10, 10). A
# session leaves ~430 tracked objects that live as long as it does and almost no cyclic
# garbage; with the default, a reconnect storm of 2,000 users ran full collections over the
# whole growing heap (1.0-1.3 ms of CPU per session opened; a 275 ms pause in the 1,000-user
# mix). With 20,000 no full pass ran in either (storm collector cost ~0.35 ms per session,
# no pause over 2 ms in the mix); a young pass during a storm is ~6 ms, which is why not
# larger. docs/decisions.md, "The collector's thresholds".
GC_THRESHOLDS = (20_000, 10, 10)


def freeze_startup_objects() -> int:
    """Move everything alive now (modules, the app, the store: ~77,000 objects) out of the
    garbage collector's sight and set the server's collector thresholds (GC_THRESHOLDS).
    The frozen objects live as long as the process, and each full collection traversed them
    all (~70 ms on a 2-core VM) while every socket waited. Returns how many were frozen.
    For a server process only: objects frozen are never collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    return gc.get_freeze_count()


async def drain(server: GlasscloudServer) -> None:
    """The first step of a graceful stop: /ready answers 503 for `drain_delay` seconds, so
    a load balancer stops sending new users here, while everything else keeps working."""
    server.begin_drain()
    delay = server.config.drain_delay
    log.info("draining: /ready answers 503 for %.1f s before the server stops", delay)
    if delay > 0:
        await asyncio.sleep(delay)


async def serve(config: ServerConfig) -> None:
    # Listening for SIGTERM before the server listens: a stop signal that arrives while it
    # starts is a graceful stop right after, not the default action (killed, nothing flushed).
    stop_signal = asyncio.ensure_future(until_stop_signal())
    await asyncio.sleep(0)  # the handlers are in place from here on
    try:
        server = await start_server(config)
    except BaseException:
        stop_signal.cancel()
        raise
    log.info(
        "serving; %d start-up objects frozen out of the garbage collector", freeze_startup_objects()
    )
    try:
        await stop_signal
        on_second_signal(_stop_now)
        await drain(server)
        log.info("shutting down")
    finally:
        await stop_server(server)


def _stop_now() -> None:
    """A second SIGINT/SIGTERM during the graceful stop: exit at once (status 1). What was
    not yet written is lost, as with kill -9; the next process recovers from the store."""
    log.warning("second stop signal: exiting now, without finishing the graceful stop")
    logging.shutdown()
    os._exit(1)


def run_server(config: ServerConfig) -> None:
    """Blocking: serve until SIGINT/SIGTERM, then shut down gracefully."""
    setup_logging(config.log_level)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(config))
    else:
        uvloop.run(serve(config))
