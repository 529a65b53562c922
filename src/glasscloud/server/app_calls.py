"""JSON calls from the server to an App server's own routes (`/settings`, `/tool`):
bounded in time and in the size of the answer, every failure a coded outcome."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from glasscloud.protocol.errors import ErrorCode

_CLIENT_KEY: web.AppKey[dict[str, aiohttp.ClientSession]] = web.AppKey("glasscloud_app_calls")

MAX_ANSWER_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class AppAnswer:
    ok: bool
    status: int | None = None
    data: Any = None
    code: ErrorCode | None = None
    message: str = ""


def install(app: web.Application) -> None:
    """One client per server, closed when the server's application is cleaned up."""
    app[_CLIENT_KEY] = {}

    async def close(_: web.Application) -> None:
        client = app[_CLIENT_KEY].pop("client", None)
        if client is not None:
            await client.close()

    app.on_cleanup.append(close)


def _client(app: web.Application) -> aiohttp.ClientSession:
    holder = app[_CLIENT_KEY]
    client = holder.get("client")
    if client is None or client.closed:
        client = holder["client"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64, limit_per_host=16)
        )
    return client


async def _read_bounded(response: aiohttp.ClientResponse, max_bytes: int) -> tuple[bytes, bool]:
    """The body, read until its end or until it passes `max_bytes` (then True: too large;
    the rest is never read)."""
    if (response.content_length or 0) > max_bytes:
        return b"", True
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            return b"", True
        chunks.append(chunk)
    return b"".join(chunks), False


async def post_json(
    app: web.Application,
    url: str,
    body: dict[str, Any],
    timeout: float,
    max_bytes: int = MAX_ANSWER_BYTES,
) -> AppAnswer:
    """POST `body` to `url`; the JSON answer, or why there is none (TOOL_TIMEOUT,
    TOOL_FAILED: unreachable, HTTP error, too large, not JSON)."""
    try:
        async with _client(app).post(
            url, json=body, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            status = response.status
            raw, too_large = await _read_bounded(response, max_bytes)
    except TimeoutError:
        return AppAnswer(
            False, None, None, ErrorCode.TOOL_TIMEOUT, f"no answer within {timeout:g} s"
        )
    except aiohttp.ClientError as exc:
        return AppAnswer(
            False, None, None, ErrorCode.TOOL_FAILED, f"App server unreachable ({exc})"
        )
    if too_large:
        return AppAnswer(
            False,
            status,
            None,
            ErrorCode.TOOL_FAILED,
            f"the answer is larger than {max_bytes} bytes",
        )
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        return AppAnswer(False, status, None, ErrorCode.TOOL_FAILED, "the answer is not JSON")
    if not 200 <= status < 300:
        said = data.get("message") if isinstance(data, dict) else None
        detail = f": {said}" if isinstance(said, str) and said else ""
        return AppAnswer(False, status, data, ErrorCode.TOOL_FAILED, f"HTTP {status}{detail}")
    return AppAnswer(True, status, data)
