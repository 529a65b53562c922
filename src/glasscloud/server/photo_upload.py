"""The shell's side of photos: POST a `photo_error` to an App's `{publicUrl}/photo-upload`.

The core decides when a photo cannot come (`core.camera`); this carries the form there, as
multipart (what the glasses send, and what the SDK's multer route parses; a urlencoded body
would reach it empty). One attempt, bounded (5 s); the App's answer only counts toward the
metrics (404 = its SDK had already given up on that request).
"""

from __future__ import annotations

import logging

import aiohttp

from glasscloud.core.metrics import Metrics
from glasscloud.server.effects import TaskSet

log = logging.getLogger("glasscloud.photos")

POST_TIMEOUT = 5.0


class PhotoErrorPoster:
    def __init__(self, metrics: Metrics, tasks: TaskSet) -> None:
        self._metrics = metrics
        self._tasks = tasks
        self._http: aiohttp.ClientSession | None = None

    def post(self, url: str, fields: dict[str, str]) -> None:
        """Fire and forget (the core's `HardwareServices.post_photo_error`)."""
        self._tasks.spawn(self._post(url, fields))

    async def _post(self, url: str, fields: dict[str, str]) -> None:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        form = aiohttp.FormData(default_to_multipart=True)
        for name, value in fields.items():
            form.add_field(name, value)
        try:
            async with self._http.post(
                url, data=form, timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT)
            ) as response:
                await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._metrics.inc("photo_error_posts", result="unreachable")
            log.info("could not deliver photo_error to %s: %s", url, exc)
            return
        self._metrics.inc("photo_error_posts", result=str(status))

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
