"""The core's SessionEffects over HTTP and the store: webhooks to App servers, and
persistence of which Apps each user runs and what they showed. Every call returns at once
and runs as a task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from glasscloud.core.metrics import Metrics
from glasscloud.core.ports import WebhookOutcome
from glasscloud.core.records import AppRecord
from glasscloud.protocol import app as app_wire
from glasscloud.protocol.jsonio import encode_bytes, iso_timestamp
from glasscloud.server.config import ServerConfig
from glasscloud.server.webhook_client import WebhookClient, WebhookError
from glasscloud.server.webhook_queue import WebhookQueue, server_of
from glasscloud.store.errors import FencedWrite
from glasscloud.store.store import Store

log = logging.getLogger("glasscloud.webhooks")

# The Apps of one start (glasses start 2 Apps, a restored session binds them again) become
# running a few ms apart: waiting this long before writing makes one write of the burst,
# not one per App (bench/session_open.py: 1.65 -> 1.15 writes per fresh session).
RUNNING_WRITE_DELAY = 0.05
# Webhooks that may wait per App server and kind: this many times the concurrency (at least
# WEBHOOK_QUEUE_MIN); past that a start fails at once, retryable ("saturated").
WEBHOOK_QUEUE_FACTOR = 64
WEBHOOK_QUEUE_MIN = 1024


class TaskSet:
    """Background tasks we own, so shutdown can wait for them and errors get logged."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def drain(self, timeout: float) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()


class HttpEffects:
    def __init__(
        self,
        config_ref: Callable[[], ServerConfig],
        store: Store,
        metrics: Metrics,
        tasks: TaskSet,
    ) -> None:
        self._config = config_ref
        self._store = store
        self._metrics = metrics
        self._tasks = tasks
        # No limit on connections here: the queue bounds what is in flight per App server.
        self._webhooks = WebhookClient()
        # At most `webhook_concurrency` webhooks of a kind in flight per App server, the rest
        # waiting in order (server/webhook_queue.py); each one's timeout runs from its send.
        concurrency = config_ref().webhook_concurrency
        self.queue = WebhookQueue(
            tasks.spawn,
            concurrency,
            max(WEBHOOK_QUEUE_MIN, WEBHOOK_QUEUE_FACTOR * concurrency),
            lambda kind: metrics.inc("webhook_failures", kind=kind, reason="saturated"),
        )
        # Cluster mode: the epoch each write of a user's state carries (server/fencing.py).
        self.fence: Fence | None = None
        self._running = CoalescedWrites(
            tasks,
            self._fenced(store.set_running_apps),
            "which Apps run",
            RUNNING_WRITE_DELAY,
        )
        self._display = CoalescedWrites(
            tasks, self._fenced(store.set_resume_state), "what Apps resume with"
        )

    def _fenced(
        self, write: Callable[..., Coroutine[Any, Any, None]]
    ) -> Callable[[str, Any], Coroutine[Any, Any, None]]:
        """In cluster mode a user's state is written only by the node that owns the user,
        with its fencing epoch; a write the database refuses (a newer owner took over) tells
        the fence, which lets the session go."""

        async def fenced_write(user_id: str, value: Any) -> None:
            if self.fence is None:
                await write(user_id, value)
                return
            epoch = self.fence.epoch_of(user_id)
            if epoch is None:
                self._metrics.inc("cluster_writes_skipped")
                return
            try:
                await write(user_id, value, epoch=epoch)
            except FencedWrite:
                self._metrics.inc("cluster_writes_fenced")
                self.fence.fenced(user_id, epoch)

        return fenced_write

    async def close(self) -> None:
        await self._webhooks.close()

    def ws_url_for(self, app: AppRecord) -> str:
        """System Apps run beside the server and get the internal URL; others the public one."""
        config = self._config()
        return config.internal_app_ws_url if app.is_system else config.app_ws_url

    def request_app_start(
        self,
        app: AppRecord,
        user_id: str,
        app_session_id: str,
        on_outcome: Callable[[WebhookOutcome], None],
        on_send: Callable[[], bool] | None = None,
    ) -> None:
        payload = app_wire.session_request(
            app_session_id, user_id, self.ws_url_for(app), _now_iso()
        )
        timeout = self._config().timings.webhook_timeout
        self.queue.submit(
            server_of(app.public_url),
            payload["type"],
            lambda: self._post(app, payload, timeout),
            on_outcome,
            on_send,
        )

    def request_app_stop(
        self,
        app: AppRecord,
        user_id: str,
        app_session_id: str,
        reason: str,
        on_done: Callable[[], None],
    ) -> None:
        payload = app_wire.stop_request(app_session_id, user_id, reason, _now_iso())
        timeout = self._config().timings.stop_webhook_timeout
        # A lane of their own: a stop never waits behind a storm of starts.
        self.queue.submit(
            server_of(app.public_url),
            payload["type"],
            lambda: self._post(app, payload, timeout),
            lambda _outcome: on_done(),
        )

    async def _post(
        self, app: AppRecord, payload: dict[str, Any], timeout: float
    ) -> WebhookOutcome:
        url = app.public_url.rstrip("/") + "/webhook"
        kind = payload["type"]
        try:
            async with asyncio.timeout(timeout):
                status = await self._webhooks.post_json(url, encode_bytes(payload))
        except TimeoutError:
            self._metrics.inc("webhook_failures", kind=kind, reason="timeout")
            return WebhookOutcome(False, None, f"no answer within {timeout:g} s", retryable=True)
        except WebhookError as exc:
            self._metrics.inc("webhook_failures", kind=kind, reason="unreachable")
            return WebhookOutcome(False, None, f"App server unreachable ({exc})", retryable=True)
        if 200 <= status < 300:
            self._metrics.inc("webhooks_ok", kind=kind)
            return WebhookOutcome(True, status)
        self._metrics.inc("webhook_failures", kind=kind, reason=f"http_{status // 100}xx")
        return WebhookOutcome(False, status, f"HTTP {status}", retryable=status >= 500)

    def save_running_apps(self, user_id: str, packages: list[str]) -> None:
        self._running.write(user_id, list(packages))

    def save_resume_state(self, user_id: str, state: dict[str, Any]) -> None:
        self._display.write(user_id, state)

    async def settled(self, user_id: str, timeout: float) -> None:
        """Wait (bounded) until everything asked to be written for the user is written."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(self._running.settled(user_id), self._display.settled(user_id)),
                timeout,
            )

    async def running_apps_settled(self, user_id: str, timeout: float) -> None:
        """Wait (bounded) until which Apps the user runs is on disk: a REST answer that
        says "stopped" must hold across a crash right after it."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._running.settled(user_id), timeout)


class Fence(Protocol):
    """Who may write a user's state in cluster mode (`cluster.node.ClusterNode`)."""

    def epoch_of(self, user_id: str) -> int | None: ...

    def fenced(self, user_id: str, epoch: int) -> None: ...


class CoalescedWrites:
    """Per-user writes of one kind, coalesced: only the newest value is written, one write
    at a time per user, in order. A failed write is logged; the next one replaces it."""

    def __init__(
        self,
        tasks: TaskSet,
        write: Callable[[str, Any], Coroutine[Any, Any, None]],
        what: str,
        delay: float = 0.0,
    ) -> None:
        self._tasks = tasks
        self._write = write
        self._what = what
        self._delay = delay  # s the first write of a burst waits for more changes
        self._wanted: dict[str, Any] = {}
        self._writers: dict[str, asyncio.Event] = {}  # user -> set when all is written

    def write(self, user_id: str, value: Any) -> None:
        self._wanted[user_id] = value
        if user_id not in self._writers:
            self._writers[user_id] = asyncio.Event()
            self._tasks.spawn(self._drain(user_id))

    async def settled(self, user_id: str) -> None:
        """Return once every value asked for so far for the user is written (or failed)."""
        done = self._writers.get(user_id)
        if done is not None:
            await done.wait()

    async def _drain(self, user_id: str) -> None:
        try:
            if self._delay:
                await asyncio.sleep(self._delay)
            while user_id in self._wanted:
                value = self._wanted.pop(user_id)
                try:
                    await self._write(user_id, value)
                except Exception:
                    log.exception("could not persist %s", self._what, extra={"userId": user_id})
        finally:
            self._writers.pop(user_id).set()


def _now_iso() -> str:
    return iso_timestamp(time.time())
