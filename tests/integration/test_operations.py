"""The operator's view of a real server: typed Prometheus metrics that move with traffic,
who may scrape them, readiness, and developer tokens that expire and can be revoked."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from glasscloud.auth.app_tokens import issue_developer_token
from glasscloud.auth.tokens import issue_core_token
from glasscloud.server.metrics import DELIVERY_SAMPLE_EVERY
from glasscloud.store.migrations import LATEST_VERSION
from tests.support.scenarios import running_app
from tests.support.servers import http_base, serving

USER = "ops@example.com"


def dev_headers(server, **claims) -> dict[str, str]:
    token = issue_developer_token(server.secret, "op@example.com", **claims)
    return {"Authorization": f"Bearer {token}"}


async def scrape(http, server, headers) -> dict[str, object]:
    async with http.get(f"{http_base(server)}/metrics", headers=headers) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(families, name: str, sample: str | None = None, **labels: str) -> float:
    family = families[name]
    wanted = sample or name
    for s in family.samples:
        if s.name == wanted and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise AssertionError(f"no sample {wanted}{labels} in {family.samples}")


async def test_metrics_are_typed_and_move_with_traffic(tmp_path):
    async with serving(tmp_path) as server, aiohttp.ClientSession() as http:
        dev = dev_headers(server)
        app, glasses = await running_app(
            server, http, user=USER, **{"permissions": ("MICROPHONE",)}
        )
        inbox = app.inboxes[USER]
        await inbox.send(app.subscription_message(["audio_chunk", "button_press"]))
        await asyncio.sleep(0.2)
        before = await scrape(http, server, dev)

        frames = 3 * DELIVERY_SAMPLE_EVERY
        for _ in range(frames):
            await glasses.ws.send_bytes(bytes(320))
        await inbox.wait_binary(frames)
        await glasses.send("not json")  # one error by code
        await glasses.wait_for("connection_error")
        after = await scrape(http, server, dev)

    types = {name: family.type for name, family in after.items()}
    assert "unknown" not in types.values(), types
    assert types["glasscloud_sessions"] == "gauge"
    assert types["glasscloud_sockets"] == "gauge"
    assert types["glasscloud_send_queue_frames"] == "gauge"
    assert types["glasscloud_event_loop_lag_seconds"] == "gauge"
    assert types["glasscloud_frames_received"] == "counter"
    assert types["glasscloud_audio_frames_in"] == "counter"
    assert types["glasscloud_send_dropped"] == "counter"
    dropped = "glasscloud_send_dropped_total"
    assert value(after, "glasscloud_send_dropped", dropped, side="app", reason="queue_full") == 0
    assert types["glasscloud_delivery_latency_seconds"] == "histogram"
    assert types["glasscloud_app_start_seconds"] == "histogram"
    assert types["glasscloud_process_cpu_seconds"] == "counter"
    assert all(family.documentation for family in after.values())

    assert value(after, "glasscloud_sessions") == 1
    assert value(after, "glasscloud_sockets", side="glasses") == 1
    assert value(after, "glasscloud_sockets", side="app") == 1
    moved = value(after, "glasscloud_audio_frames_in", "glasscloud_audio_frames_in_total") - value(
        before, "glasscloud_audio_frames_in", "glasscloud_audio_frames_in_total"
    )
    assert moved == frames
    received = "glasscloud_frames_received_total"
    assert (
        value(after, "glasscloud_frames_received", received, side="glasses")
        >= value(before, "glasscloud_frames_received", received, side="glasses") + frames
    )
    sampled = value(
        after, "glasscloud_delivery_latency_seconds", "glasscloud_delivery_latency_seconds_count"
    )
    assert sampled >= 3  # 1 in DELIVERY_SAMPLE_EVERY frames
    latency = value(
        after, "glasscloud_delivery_latency_seconds", "glasscloud_delivery_latency_seconds_sum"
    )
    assert 0 < latency / sampled < 1.0
    assert value(after, "glasscloud_app_start_seconds", "glasscloud_app_start_seconds_count") == 1
    assert (
        value(
            after,
            "glasscloud_glasses_errors",
            "glasscloud_glasses_errors_total",
            code="MALFORMED_MESSAGE",
        )
        == 1
    )


async def test_who_may_scrape(tmp_path):
    async with serving(tmp_path, metrics_token="scrape-secret-1") as server:
        base = http_base(server)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/metrics") as r:
                assert r.status == 401
            bad = {"Authorization": "Bearer scrape-secret-2"}
            async with http.get(f"{base}/metrics", headers=bad) as r:
                assert r.status == 401
            await scrape(http, server, {"Authorization": "Bearer scrape-secret-1"})
            await scrape(http, server, dev_headers(server))
            # the scrape token opens /metrics only
            async with http.get(
                f"{base}/api/admin/metrics", headers={"Authorization": "Bearer scrape-secret-1"}
            ) as r:
                assert r.status == 401
            async with http.get(f"{base}/api/admin/metrics", headers=dev_headers(server)) as r:
                assert r.status == 200
                assert "counters" in await r.json()
    async with (
        serving(tmp_path, metrics_networks=("127.0.0.0/8",)) as server,
        aiohttp.ClientSession() as http,
    ):
        await scrape(http, server, {})
    async with (
        serving(tmp_path, metrics_networks=("10.0.0.0/8",)) as server,
        aiohttp.ClientSession() as http,
        http.get(f"{http_base(server)}/metrics") as r,
    ):
        assert r.status == 401


async def test_ready_says_which_check_failed(tmp_path):
    async with serving(tmp_path) as server, aiohttp.ClientSession() as http:
        base = http_base(server)
        async with http.get(f"{base}/ready") as r:
            body = await r.json()
            assert (r.status, body["status"], body["failed"]) == (200, "ready", [])
            assert body["checks"] == {"database": "ok", "migrations": "ok", "draining": "ok"}

        real = server.store.schema_version

        async def behind() -> int:
            return 3

        server.store.schema_version = behind
        async with http.get(f"{base}/ready") as r:
            body = await r.json()
            assert (r.status, body["failed"]) == (503, ["migrations"])
            assert f"needs {LATEST_VERSION}" in body["checks"]["migrations"]

        async def unreachable() -> int:
            from glasscloud.store.errors import StoreError

            raise StoreError("cannot open the database: disk I/O error")

        server.store.schema_version = unreachable
        async with http.get(f"{base}/ready") as r:
            body = await r.json()
            assert (r.status, body["failed"]) == (503, ["database", "migrations"])
            assert "disk I/O error" in body["checks"]["database"]
        server.store.schema_version = real

        server.begin_drain()
        async with http.get(f"{base}/ready") as r:
            body = await r.json()
            assert (r.status, body["failed"]) == (503, ["draining"])
        async with http.get(f"{base}/health") as r:  # liveness is not readiness
            assert r.status == 200
            assert (await r.json())["draining"] is True


async def test_developer_tokens_expire_and_are_revoked(tmp_path):
    async with serving(tmp_path, key_check_interval=0.1) as server:
        base = http_base(server)
        store = server.store
        now = int(time.time())
        await store.record_developer_token("aaaa", "op@example.com", now, now + 3600)
        await store.record_developer_token("bbbb", "op@example.com", now, None)
        by_api = dev_headers(server, token_id="aaaa", expires_in=3600)
        by_cli = dev_headers(server, token_id="bbbb")
        legacy = dev_headers(server)  # no id, no expiry: issued before both existed
        expired = dev_headers(server, token_id="cccc", expires_in=60, now=time.time() - 120)
        async with aiohttp.ClientSession() as http:
            for headers in (by_api, by_cli, legacy):
                async with http.get(f"{base}/api/dev/apps", headers=headers) as r:
                    assert r.status == 200
            async with http.get(f"{base}/api/dev/apps", headers=expired) as r:
                assert (r.status, (await r.json())["error"]["code"]) == (401, "TOKEN_EXPIRED")

            async with http.get(f"{base}/api/dev/tokens", headers=legacy) as r:
                listed = (await r.json())["tokens"]
            assert [(t["id"], t["state"]) for t in listed] == [
                ("aaaa", "active"),
                ("bbbb", "active"),
            ]

            # through the API: at once
            async with http.delete(f"{base}/api/dev/tokens/aaaa", headers=legacy) as r:
                assert r.status == 200
            async with http.get(f"{base}/api/dev/apps", headers=by_api) as r:
                body = await r.json()
                assert (r.status, body["error"]["code"]) == (401, "DEVELOPER_TOKEN_REVOKED")
            async with http.delete(f"{base}/api/dev/tokens/nope", headers=legacy) as r:
                assert r.status == 404

            # by another process (the CLI writes the database): within the check interval
            await store.revoke_developer_token("bbbb")
            deadline = time.monotonic() + 3.0
            status = 200
            while status == 200 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                async with http.get(f"{base}/metrics", headers=by_cli) as r:
                    status = r.status
            assert status == 401
            async with http.get(f"{base}/api/dev/apps", headers=legacy) as r:
                assert r.status == 200  # revoking one token leaves the others


async def test_an_expired_core_token_is_refused_with_its_code(tmp_path):
    async with serving(tmp_path) as server, aiohttp.ClientSession() as http:
        base = http_base(server)
        old = issue_core_token(server.secret, USER, expires_in=60, now=time.time() - 61)
        fresh = issue_core_token(server.secret, USER, expires_in=60)
        async with http.get(f"{base}/apps", headers={"Authorization": f"Bearer {old}"}) as r:
            assert (r.status, (await r.json())["error"]["code"]) == (401, "TOKEN_EXPIRED")
        async with http.get(f"{base}/apps", headers={"Authorization": f"Bearer {fresh}"}) as r:
            assert r.status == 200
