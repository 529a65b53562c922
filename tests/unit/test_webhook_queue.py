"""Start webhooks queue per App server (server/webhook_queue.py), and HttpEffects over a real
App server on loopback: at most N in flight, in order, the timeout counted from the send,
a bounded queue that says the App server is saturated, stops in a lane of their own."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from types import SimpleNamespace

from aiohttp import web

from glasscloud.core.metrics import Metrics
from glasscloud.core.ports import WebhookOutcome
from glasscloud.core.timings import Timings
from glasscloud.server.config import ServerConfig
from glasscloud.server.effects import HttpEffects, TaskSet
from glasscloud.server.webhook_queue import WebhookQueue, server_of
from tests.support.loopback import serve_on_loopback
from tests.support.recorders import app_record

OK = WebhookOutcome(True, 200)
NO_STORE = SimpleNamespace(set_running_apps=None, set_resume_state=None)  # webhooks only


def test_server_of_names_scheme_host_and_port():
    assert server_of("http://Apps.example.org/com.a") == "http://apps.example.org:80"
    assert server_of("https://apps.example.org:8443/x") == "https://apps.example.org:8443"
    assert server_of("http://127.0.0.1:7010") == "http://127.0.0.1:7010"


async def test_at_most_n_in_flight_the_rest_in_order():
    tasks = TaskSet()
    saturated: list[str] = []
    queue = WebhookQueue(tasks.spawn, 2, 10, saturated.append)
    gates = [asyncio.Event() for _ in range(5)]
    sent: list[int] = []
    done: list[int] = []

    def job(i: int):
        async def send() -> WebhookOutcome:
            sent.append(i)
            await gates[i].wait()
            return OK

        return send

    for i in range(5):
        queue.submit("http://a:80", "session_request", job(i), lambda _o, i=i: done.append(i))
    await asyncio.sleep(0)
    assert sent == [0, 1] and queue.depth("http://a:80", "session_request") == (2, 3)
    gates[1].set()
    await asyncio.sleep(0.01)
    assert done == [1] and sent == [0, 1, 2]
    for gate in gates:
        gate.set()
    await tasks.drain(1.0)
    assert sent == [0, 1, 2, 3, 4] and sorted(done) == [0, 1, 2, 3, 4]
    assert queue.depth("http://a:80", "session_request") == (0, 0) and saturated == []


async def test_a_full_lane_fails_at_once_retryable_and_saturated():
    tasks = TaskSet()
    saturated: list[str] = []
    queue = WebhookQueue(tasks.spawn, 1, 2, saturated.append)
    gate = asyncio.Event()
    outcomes: list[WebhookOutcome] = []

    async def send() -> WebhookOutcome:
        await gate.wait()
        return OK

    for _ in range(4):
        queue.submit("http://a:80", "session_request", send, outcomes.append)
    assert len(outcomes) == 1  # 1 in flight, 2 waiting, the 4th refused
    refused = outcomes[0]
    assert not refused.ok and refused.retryable and "saturated" in (refused.error or "")
    assert "http://a:80" in (refused.error or "") and saturated == ["session_request"]
    gate.set()
    await tasks.drain(1.0)
    assert [o.ok for o in outcomes] == [False, True, True, True]


async def test_a_withdrawn_webhook_is_never_sent_and_reports_nothing():
    tasks = TaskSet()
    queue = WebhookQueue(tasks.spawn, 1, 10, lambda kind: None)
    gate = asyncio.Event()
    sent: list[str] = []
    outcomes: list[str] = []

    def job(name: str):
        async def send() -> WebhookOutcome:
            sent.append(name)
            await gate.wait()
            return OK

        return send

    queue.submit("s", "k", job("first"), lambda o: outcomes.append("first"))
    queue.submit("s", "k", job("gone"), lambda o: outcomes.append("gone"), lambda: False)
    queue.submit("s", "k", job("third"), lambda o: outcomes.append("third"), lambda: True)
    gate.set()
    await tasks.drain(1.0)
    await tasks.drain(1.0)
    assert sent == ["first", "third"] and outcomes == ["first", "third"]


async def test_lanes_of_different_servers_and_kinds_do_not_wait_for_each_other():
    tasks = TaskSet()
    queue = WebhookQueue(tasks.spawn, 1, 10, lambda kind: None)
    gate = asyncio.Event()
    sent: list[str] = []

    def job(name: str, wait: bool):
        async def send() -> WebhookOutcome:
            sent.append(name)
            if wait:
                await gate.wait()
            return OK

        return send

    queue.submit("a", "session_request", job("a-start", True), lambda o: None)
    queue.submit("a", "session_request", job("a-start-2", True), lambda o: None)
    queue.submit("a", "stop_request", job("a-stop", False), lambda o: None)
    queue.submit("b", "session_request", job("b-start", False), lambda o: None)
    await asyncio.sleep(0.01)
    assert sent == ["a-start", "a-stop", "b-start"]
    gate.set()
    await tasks.drain(1.0)


# ---- HttpEffects against a real (slow) App server ---------------------------------------


async def slow_app_server(hold: float) -> tuple[web.AppRunner, str, list[str], list[int]]:
    """An App server that answers each webhook after `hold` s; records the kinds it saw and
    the most requests it held at once."""
    seen: list[str] = []
    held = [0, 0]  # now, most

    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(body["type"])
        held[0] += 1
        held[1] = max(held)
        try:
            if body["type"] == "session_request":
                await asyncio.sleep(hold)
        finally:
            held[0] -= 1
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner, port = await serve_on_loopback(app)
    return runner, f"http://127.0.0.1:{port}", seen, held


async def test_queued_webhooks_time_out_only_from_their_send(tmp_path):
    """8 starts to one App server, 2 in flight, each answered after 0.3 s with a webhook
    timeout of 0.5 s: the last waits ~1 s, longer than its timeout, and still succeeds."""
    runner, url, _seen, held = await slow_app_server(0.3)
    config = ServerConfig(webhook_concurrency=2, timings=Timings(webhook_timeout=0.5))
    tasks = TaskSet()
    effects = HttpEffects(lambda: config, NO_STORE, Metrics(), tasks)  # type: ignore[arg-type]
    record = dataclasses.replace(app_record(), public_url=url)
    outcomes: list[WebhookOutcome] = []
    sent_at: list[float] = []
    try:
        started = time.monotonic()
        for i in range(8):
            effects.request_app_start(
                record,
                f"u{i}@example.com",
                f"u{i}@example.com-{record.package_name}",
                outcomes.append,
                lambda: sent_at.append(time.monotonic()) or True,
            )
        deadline = time.monotonic() + 5.0
        while len(outcomes) < 8 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert [o.ok for o in outcomes] == [True] * 8, outcomes
        assert held[1] == 2  # never more than the concurrency at the App server
        assert sent_at[-1] - started > 0.8  # the last one waited longer than its timeout
    finally:
        await effects.close()
        await runner.cleanup()


async def test_a_stop_does_not_wait_behind_queued_starts(tmp_path):
    runner, url, seen, _held = await slow_app_server(1.0)
    config = ServerConfig(webhook_concurrency=1)
    tasks = TaskSet()
    effects = HttpEffects(lambda: config, NO_STORE, Metrics(), tasks)  # type: ignore[arg-type]
    record = dataclasses.replace(app_record(), public_url=url)
    stopped = asyncio.Event()
    try:
        for i in range(3):
            effects.request_app_start(record, f"u{i}", f"u{i}-pkg", lambda o: None)
        started = time.monotonic()
        effects.request_app_stop(record, "u9", "u9-pkg", "user_disabled", stopped.set)
        await asyncio.wait_for(stopped.wait(), 2.0)
        assert time.monotonic() - started < 0.8  # not behind 3 s of starts
        assert "stop_request" in seen
    finally:
        tasks.cancel_all()
        await effects.close()
        await runner.cleanup()
