"""Start and stop a glasscloud server process (`glasscloud serve`)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from glasscloud.server.app import GlasscloudServer
from glasscloud.server.config import ServerConfig
from glasscloud.server.logs import setup_logging
from glasscloud.signals import until_stop_signal
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


async def serve(config: ServerConfig) -> None:
    server = await start_server(config)
    try:
        await until_stop_signal()
        log.info("shutting down")
    finally:
        await stop_server(server)


def run_server(config: ServerConfig) -> None:
    """Blocking: serve until SIGINT/SIGTERM, then shut down gracefully."""
    setup_logging(config.log_level)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(config))
    else:
        uvloop.run(serve(config))
