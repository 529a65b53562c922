"""Health for load balancers and orchestrators, no token needed:

- `GET /health` (liveness): the process answers. Always 200 while the loop runs (a restart
  would not fix a database that is down, so the database is not part of it).
- `GET /ready` (readiness): 200 only when the database answers within `READY_DB_TIMEOUT`,
  its schema is at this glasscloud's migration version, and the server is not draining;
  else 503. The body names every check and which failed, e.g.
  `{"status": "unavailable", "failed": ["draining"], "checks": {...}}`.

On SIGTERM `run.serve` sets `draining` first and waits `--drain-delay` seconds before it
stops listening, so a load balancer polling `/ready` stops sending new users to this process
while the sockets it has keep working.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from glasscloud.protocol.jsonio import iso_timestamp
from glasscloud.server.request_context import server_of
from glasscloud.store.migrations import LATEST_VERSION

READY_DB_TIMEOUT = 2.0


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)


async def health(request: web.Request) -> web.Response:
    server = server_of(request)
    return web.json_response(
        {
            "status": "ok",
            "sessions": len(server.registry),
            "draining": server.draining,
            "timestamp": iso_timestamp(time.time()),
        }
    )


async def readiness(server: Any, timeout: float = READY_DB_TIMEOUT) -> dict[str, Any]:
    """The checks of `/ready`: each "ok" or a sentence saying what is wrong."""
    checks: dict[str, str] = {}
    try:
        version = await asyncio.wait_for(server.store.schema_version(), timeout)
    except TimeoutError:
        checks["database"] = f"no answer within {timeout:g} s"
        checks["migrations"] = "unknown (database unreachable)"
    except Exception as exc:
        checks["database"] = f"unreachable: {getattr(exc, 'message', None) or exc}"
        checks["migrations"] = "unknown (database unreachable)"
    else:
        checks["database"] = "ok"
        checks["migrations"] = (
            "ok"
            if version == LATEST_VERSION
            else f"schema version {version}, this glasscloud needs {LATEST_VERSION}"
        )
    checks["draining"] = "shutting down: not taking new users" if server.draining else "ok"
    failed = [name for name, result in checks.items() if result != "ok"]
    return {
        "status": "unavailable" if failed else "ready",
        "failed": failed,
        "checks": checks,
        "timestamp": iso_timestamp(time.time()),
    }


async def ready(request: web.Request) -> web.Response:
    body = await readiness(server_of(request))
    return web.json_response(body, status=503 if body["failed"] else 200)
