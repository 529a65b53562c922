"""What an operator's Prometheus scrapes: `GET /metrics` (text format 0.0.4, every series
with `# HELP` and `# TYPE`), built with `prometheus_client` on a registry of this server's
own (several servers run in one test process; nothing is global).

Three kinds of source, each as cheap as its path needs:
- the core's `Metrics` counters stay the hot-path mechanism (a dict increment); a custom
  collector turns them into `glasscloud_<name>_total` counters at scrape time only;
- gauges read at scrape time too (sessions, sockets and send-queue depths by side, the
  event loop's lag as last measured) and `prometheus_client`'s process collector;
- two histograms: `glasscloud_app_start_seconds` (start webhook -> App authenticated,
  observed by the core once per start) and `glasscloud_delivery_latency_seconds`: for 1 in
  `DELIVERY_SAMPLE_EVERY` glasses frames, from the frame leaving the reader until the end
  of the loop pass that handled it, when the frames it produced for the Apps have been
  written to their sockets (or queued, for an App that is behind). Per frame that costs a
  countdown in the glasses reader (`DeliverySampler`); per sample a `call_soon`.

Access: the developer token as before, or `--metrics-token` (a scrape-only secret), or a
client address inside `--metrics-networks`.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from glasscloud.core.metrics import Metrics
from glasscloud.server.background import cancel_and_wait
from glasscloud.server.request_context import bearer_token, server_of

if TYPE_CHECKING:
    from glasscloud.server.app import GlasscloudServer
    from glasscloud.server.connection import ConnectionStats

log = logging.getLogger("glasscloud.metrics")

# The classic text format every Prometheus reads (prometheus_client >= 0.22 labels its output
# 1.0.0, which Prometheus 2 does not know; the text is the same for our ASCII names).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DELIVERY_SAMPLE_EVERY = 64
LOOP_LAG_INTERVAL = 0.5

DELIVERY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)
APP_START_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0)

# What each core counter counts, for `# HELP` (unknown names get a generic line).
COUNTER_HELP = {
    "app_deliveries": "Frames delivered to App sockets (events and audio).",
    "audio_frames_in": "Binary audio frames received from glasses.",
    "audio_frames_out": "Audio frames sent to Apps.",
    "send_dropped": "Frames dropped on the way out, by side and reason (queue_full, closed).",
    "app_errors": "Error frames sent to Apps, by code.",
    "glasses_errors": "Error frames sent to glasses, by code.",
    "http_errors": "HTTP requests refused, by code.",
    "inbound_refused": "Inbound frames dropped by a limit, by side and limit.",
    "liveness_kills": "Sockets dropped for not answering pings, by side.",
    "app_restarts": "Apps restarted by webhook after losing their socket.",
    "webhook_failures": "Start/stop webhooks that failed.",
}


class DeliverySampler:
    """Times 1 in `every` glasses frames from being read until the end of the loop pass
    that handled them. The glasses reader keeps the countdown itself (a local integer):

        countdown -= 1
        started = 0.0 if countdown else time.perf_counter()
        ... handle the frame ...
        if started:
            countdown = sampler.sampled(started)
    """

    def __init__(self, histogram: Histogram, every: int = DELIVERY_SAMPLE_EVERY) -> None:
        self.every = every
        self._observe = histogram.observe

    def sampled(self, started: float) -> int:
        # The frames the handler sent were scheduled (`call_soon`) before this callback,
        # so it runs after they were written.
        asyncio.get_running_loop().call_soon(self._finish, started)
        return self.every

    def _finish(self, started: float) -> None:
        self._observe(time.perf_counter() - started)


class LoopLag:
    """How late the event loop runs a timer: sleeps `interval` and records the overshoot."""

    def __init__(self, interval: float = LOOP_LAG_INTERVAL) -> None:
        self.interval = interval
        self.last = 0.0
        self.max_since_scrape = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval)
            self.record(loop.time() - before - self.interval)

    def record(self, lag: float) -> None:
        self.last = max(lag, 0.0)
        self.max_since_scrape = max(self.max_since_scrape, self.last)


class SocketTotals:
    """Frames and bytes of sockets that have closed, by side: added once per close, so the
    frame counters cost nothing per frame (open sockets are summed at scrape time)."""

    def __init__(self) -> None:
        self.frames_in: Counter[str] = Counter()
        self.frames_out: Counter[str] = Counter()
        self.bytes_in: Counter[str] = Counter()
        self.bytes_out: Counter[str] = Counter()

    def closed(self, stats: ConnectionStats) -> None:
        self.frames_in[stats.side] += stats.messages_in
        self.frames_out[stats.side] += stats.messages_out
        self.bytes_in[stats.side] += stats.bytes_in
        self.bytes_out[stats.side] += stats.bytes_out


# Series that exist at 0 before anything happened, so `rate()` and alerts work from the
# first scrape; an empty list declares the family (HELP, TYPE) without a series.
ALWAYS_EXPORTED: dict[str, list[dict[str, str]]] = {
    "send_dropped": [
        {"side": side, "reason": reason}
        for side in ("app", "glasses")
        for reason in ("closed", "queue_full")
    ],
    "app_deliveries": [{}],
    "audio_frames_in": [{}],
    "app_errors": [],
    "glasses_errors": [],
    "http_errors": [],
    "inbound_refused": [],
    "liveness_kills": [],
}


def core_counter_families(metrics: Metrics) -> list[Metric]:
    """The core's counters as Prometheus counter families (`glasscloud_<name>_total`)."""
    grouped: dict[str, list[tuple[dict[str, str], int]]] = {}
    for name, labels, value in metrics.items():
        grouped.setdefault(name, []).append((labels, value))
    for name, zeros in ALWAYS_EXPORTED.items():
        series = grouped.setdefault(name, [])
        present = {tuple(sorted(labels.items())) for labels, _ in series}
        series.extend((z, 0) for z in zeros if tuple(sorted(z.items())) not in present)
    families: list[Metric] = []
    for name, series in grouped.items():
        label_names = sorted({key for labels, _ in series for key in labels})
        family = CounterMetricFamily(
            "glasscloud_" + name,
            COUNTER_HELP.get(name, f"Count of {name.replace('_', ' ')}."),
            labels=label_names,
        )
        for labels, value in series:
            family.add_metric([labels.get(key, "") for key in label_names], value)
        families.append(family)
    return families


class ServerCollector(Collector):
    """Scrape-time view of one server: core counters, frame totals, gauges."""

    def __init__(self, server: GlasscloudServer, exporter: ServerMetrics) -> None:
        self._server = server
        self._exporter = exporter

    def collect(self) -> Iterator[Metric]:
        server = self._server
        exporter = self._exporter
        yield from core_counter_families(server.metrics)

        frames_in = Counter(exporter.socket_totals.frames_in)
        frames_out = Counter(exporter.socket_totals.frames_out)
        bytes_in = Counter(exporter.socket_totals.bytes_in)
        bytes_out = Counter(exporter.socket_totals.bytes_out)
        sockets: Counter[str] = Counter()
        queued: Counter[str] = Counter()
        queued_max: Counter[str] = Counter()
        for conn in list(server.connections):
            stats = conn.stats
            side = stats.side
            frames_in[side] += stats.messages_in
            frames_out[side] += stats.messages_out
            bytes_in[side] += stats.bytes_in
            bytes_out[side] += stats.bytes_out
            sockets[side] += 1
            depth = conn.queued
            queued[side] += depth
            queued_max[side] = max(queued_max[side], depth)
        sides = sorted(set(frames_in) | set(frames_out) | {"glasses", "app"})

        def by_side(
            family: CounterMetricFamily | GaugeMetricFamily, values: Counter[str]
        ) -> Metric:
            for side in sides:
                family.add_metric([side], values.get(side, 0))
            return family

        yield by_side(
            CounterMetricFamily(
                "glasscloud_frames_received",
                "WebSocket data frames received, by side (glasses, app).",
                labels=["side"],
            ),
            frames_in,
        )
        yield by_side(
            CounterMetricFamily(
                "glasscloud_frames_sent", "WebSocket data frames sent, by side.", labels=["side"]
            ),
            frames_out,
        )
        yield by_side(
            CounterMetricFamily(
                "glasscloud_received_bytes", "Payload bytes received, by side.", labels=["side"]
            ),
            bytes_in,
        )
        yield by_side(
            CounterMetricFamily(
                "glasscloud_sent_bytes", "Payload bytes sent, by side.", labels=["side"]
            ),
            bytes_out,
        )
        yield GaugeMetricFamily(
            "glasscloud_sessions", "Live user sessions.", value=len(server.registry)
        )
        yield by_side(
            GaugeMetricFamily("glasscloud_sockets", "Open WebSockets, by side.", labels=["side"]),
            sockets,
        )
        yield by_side(
            GaugeMetricFamily(
                "glasscloud_send_queue_frames",
                "Frames waiting in the send queues of peers that are behind, summed by side.",
                labels=["side"],
            ),
            queued,
        )
        yield by_side(
            GaugeMetricFamily(
                "glasscloud_send_queue_max_frames",
                "The longest send queue now, by side (the bound is the per-socket queue size).",
                labels=["side"],
            ),
            queued_max,
        )
        lag = exporter.loop_lag
        yield GaugeMetricFamily(
            "glasscloud_event_loop_lag_seconds",
            f"How late the event loop ran a {lag.interval:g} s timer, last measurement.",
            value=lag.last,
        )
        yield GaugeMetricFamily(
            "glasscloud_event_loop_lag_max_seconds",
            "The largest event-loop lag measured since the previous scrape.",
            value=lag.max_since_scrape,
        )
        lag.max_since_scrape = lag.last
        yield GaugeMetricFamily(
            "glasscloud_draining",
            "1 while the server drains before stopping (SIGTERM).",
            value=1 if server.draining else 0,
        )
        if server.cluster is not None:
            yield GaugeMetricFamily(
                "glasscloud_cluster_owned_users",
                "Users whose session lease this node holds.",
                value=len(server.cluster.owned),
            )
            yield GaugeMetricFamily(
                "glasscloud_cluster_redis_up",
                "1 while this node reached Redis at its last lease renewal.",
                value=1 if server.cluster.redis_up else 0,
            )


class ServerMetrics:
    """The Prometheus side of one server: its registry, histograms, loop-lag probe."""

    def __init__(self, server: GlasscloudServer) -> None:
        self._server = server
        self.registry = CollectorRegistry(auto_describe=False)
        self.socket_totals = SocketTotals()
        self.loop_lag = LoopLag()
        self.delivery_latency = Histogram(
            "glasscloud_delivery_latency_seconds",
            "Glasses -> App delivery inside the server: from a glasses frame being read to "
            f"the frames it produced being written to the App sockets (1 in "
            f"{DELIVERY_SAMPLE_EVERY} frames sampled).",
            buckets=DELIVERY_BUCKETS,
            registry=self.registry,
        )
        self.app_start = Histogram(
            "glasscloud_app_start_seconds",
            "App start time: start webhook sent -> the App's socket authenticated.",
            buckets=APP_START_BUCKETS,
            registry=self.registry,
        )
        self.delivery_sampler = DeliverySampler(self.delivery_latency)
        server.metrics.on_observe("app_start_seconds", self.app_start.observe)
        self.registry.register(ServerCollector(server, self))
        ProcessCollector(namespace="glasscloud", registry=self.registry)

    def text(self) -> bytes:
        cluster = self._server.cluster
        if cluster is None:
            return generate_latest(self.registry)
        return generate_latest(NodeLabelled(self.registry, cluster.node_id))  # type: ignore[arg-type]


class NodeLabelled:
    """A registry's metrics with `node="<id>"` on every sample: in a cluster each node is
    scraped on its own, and its series must not collide with its neighbours'."""

    def __init__(self, registry: CollectorRegistry, node_id: str) -> None:
        self._registry = registry
        self._node_id = node_id

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            labelled = Metric(family.name, family.documentation, family.type, family.unit)
            labelled.samples = [
                sample._replace(labels={**sample.labels, "node": self._node_id})
                for sample in family.samples
            ]
            yield labelled


# -- the scrape route ------------------------------------------------------------------------


def add_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics_text)


def address_allowed(remote: str | None, networks: Iterable[str]) -> bool:
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n, strict=False) for n in networks)


def _scrape_allowed(request: web.Request) -> bool:
    """--metrics-networks or --metrics-token open the route without a developer token."""
    config = server_of(request).config
    if config.metrics_networks and address_allowed(request.remote, config.metrics_networks):
        return True
    token = bearer_token(request.headers.get("Authorization"))
    return bool(config.metrics_token and token and hmac.compare_digest(token, config.metrics_token))


async def metrics_text(request: web.Request) -> web.Response:
    """Prometheus text format, for the developer token, the scrape token or a network."""
    server = server_of(request)
    if not _scrape_allowed(request):
        from glasscloud.server.dev_api import _developer  # the usual refusal (401 + hint)

        _developer(request)
    return web.Response(
        body=server.prometheus.text(), headers={"Content-Type": CONTENT_TYPE}
    )
