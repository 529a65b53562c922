"""`session.storage`: Simple Storage, string values the cloud keeps per (App, user), as the
official SDK's `session.simpleStorage` reads and writes them
(`/api/sdk/simple-storage/{userId}`, `Authorization: Bearer <package>:<apiKey>`).

Reads fetch everything once and answer from that copy; `set` writes the copy and queues the
key; `flush()` sends the queued keys in one PUT (the official SDK debounces it 3 s; here the
App, or the end of the session, decides when). A refusal raises `StorageError` with the
cloud's code (`STORAGE_VALUE_TOO_LARGE`, `STORAGE_QUOTA_EXCEEDED`, `INVALID_API_KEY`, ...).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp

from glasscloud.sdk.errors import SdkError

MAX_VALUE_CHARS = 100_000


class StorageError(SdkError):
    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.field = field


def http_base(ws_url: str) -> str:
    """The cloud's HTTP base from the App WebSocket URL (as the official SDK derives it)."""
    base = ws_url[: -len("/app-ws")] if ws_url.endswith("/app-ws") else ws_url
    return "http" + base[2:] if base.startswith("ws") else base


class SimpleStorage:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        base_url: str,
        package_name: str,
        api_key: str,
        user_id: str,
    ) -> None:
        self._http = http
        self._url = f"{base_url.rstrip('/')}/api/sdk/simple-storage/{quote(user_id, safe='')}"
        self._headers = {"Authorization": f"Bearer {package_name}:{api_key}"}
        self._copy: dict[str, str] | None = None
        self._pending: dict[str, str] = {}

    async def _request(self, method: str, url: str, body: Any = None) -> dict[str, Any]:
        async with self._http.request(method, url, headers=self._headers, json=body) as response:
            try:
                data = await response.json(content_type=None)
            except ValueError:
                data = None
            if response.status >= 400 or not isinstance(data, dict) or not data.get("success"):
                error = data.get("error") if isinstance(data, dict) else None
                if isinstance(error, dict):
                    raise StorageError(
                        str(error.get("code") or response.status),
                        str(error.get("message") or ""),
                        error.get("field"),
                    )
                raise StorageError(
                    str(response.status), f"Simple Storage answered {response.status}"
                )
            return data

    async def _all(self) -> dict[str, str]:
        if self._copy is None:
            data = (await self._request("GET", self._url)).get("data")
            self._copy = dict(data) if isinstance(data, dict) else {}
            self._copy.update(self._pending)
        return self._copy

    async def get(self, key: str) -> str | None:
        return (await self._all()).get(key)

    async def keys(self) -> list[str]:
        return list(await self._all())

    async def set(self, key: str, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Simple Storage keeps strings (json.dumps other values)")
        if len(value) > MAX_VALUE_CHARS:
            raise StorageError(
                "STORAGE_VALUE_TOO_LARGE",
                f"the value is {len(value)} characters; at most {MAX_VALUE_CHARS}",
                key,
            )
        (await self._all())[key] = value
        self._pending[key] = value

    async def flush(self) -> None:
        """Send every queued key in one request (nothing if none is queued)."""
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            await self._request("PUT", self._url, {"data": batch})
        except BaseException:
            self._pending = {**batch, **self._pending}
            raise

    async def delete(self, key: str) -> bool:
        self._pending.pop(key, None)
        if self._copy is not None:
            self._copy.pop(key, None)
        await self._request("DELETE", f"{self._url}/{quote(key, safe='')}")
        return True

    async def clear(self) -> bool:
        self._pending.clear()
        self._copy = {}
        await self._request("DELETE", self._url)
        return True
