"""A REST call for a user that another node serves is answered by that node: the request is
sent on to the owner's internal URL as it came (method, path, query, body, the caller's
Authorization) and its answer handed back unchanged, so the result is honest (a start that
failed there is a failure here). A forwarded request carries `X-Glasscloud-Forwarded-By` and
is never forwarded again, so two nodes that disagree for a moment cannot loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from glasscloud.server.request_context import FORWARDED_BY

log = logging.getLogger("glasscloud.cluster")

SERVED_BY = "X-Glasscloud-Served-By"  # on a forwarded answer: the node that gave it
_PASSED_ON = ("Authorization", "Content-Type", "Accept")


class Forwarder:
    def __init__(self, node_id: str, timeout: float) -> None:
        self.node_id = node_id
        self.timeout = timeout
        self._http: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=128), auto_decompress=False
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def send_on(
        self, request: web.Request, base_url: str, owner: str
    ) -> web.Response | None:
        """The owner's answer, or None if it could not be reached (the caller answers)."""
        headers = {h: request.headers[h] for h in _PASSED_ON if h in request.headers}
        headers[FORWARDED_BY] = self.node_id
        body = await request.read()
        try:
            async with self._client().request(
                request.method,
                base_url.rstrip("/") + request.rel_url.path_qs,
                headers=headers,
                data=body or None,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,
            ) as answer:
                payload = await answer.read()
                return web.Response(
                    status=answer.status,
                    body=payload,
                    headers={
                        "Content-Type": answer.headers.get("Content-Type", "application/json"),
                        SERVED_BY: owner,
                    },
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not forward %s to %s: %s", request.rel_url.path, base_url, exc)
            return None

    async def relay_stream(
        self,
        request: web.Request,
        response: web.StreamResponse,
        base_url: str,
        still_there: Callable[[], Awaitable[bool]],
        check_every: float = 1.0,
    ) -> None:
        """Copy the owner's event stream for this request into `response` (already
        prepared) until it ends, fails, or `still_there()` says the owner changed."""
        headers = {h: request.headers[h] for h in _PASSED_ON if h in request.headers}
        headers[FORWARDED_BY] = self.node_id
        try:
            async with self._client().get(
                base_url.rstrip("/") + request.rel_url.path_qs,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
            ) as upstream:
                if upstream.status != 200:
                    return
                chunks = upstream.content.iter_any().__aiter__()
                while True:
                    try:
                        chunk = await asyncio.wait_for(anext(chunks), check_every)
                    except TimeoutError:
                        if not await still_there():
                            return
                        continue
                    except StopAsyncIteration:
                        return
                    await response.write(chunk)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("relayed stream from %s ended: %s", base_url, exc)

