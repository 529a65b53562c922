"""Server configuration: one immutable object (built from flags and GLASSCLOUD_* variables by
`config_sources.server_config_from`)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from glasscloud.core.timings import Timings

DEFAULT_SYSTEM_NETWORKS = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
)


def default_database_url() -> str:
    """A SQLite file in the working directory."""
    return "sqlite:///" + str(Path.cwd() / "glasscloud.db")


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8002
    database: str = field(default_factory=default_database_url)
    public_url: str | None = None
    internal_url: str | None = None
    system_networks: tuple[str, ...] = DEFAULT_SYSTEM_NETWORKS
    secret: str | None = None
    log_level: str = "INFO"
    # the system dashboard App (the SDK's default package, not the reference cloud's)
    dashboard_package: str = "system.augmentos.dashboard"
    timings: Timings = field(default_factory=Timings)
    max_message_bytes: int = 2 * 1024 * 1024
    app_send_queue: int = 1024
    glasses_send_queue: int = 1024
    # Live captions (docs/captions.md): provider name (`phone` = only the phones'
    # local_transcription; `glasscloud serve` defaults to pocketsphinx when it is installed),
    # the provider's options (GLASSCLOUD_ASR_<PROVIDER>_<KEY>), worker processes (0 = per core).
    asr_provider: str = "phone"
    asr_options: tuple[tuple[str, str], ...] = ()
    asr_workers: int = 0
    # Translation (README, Translation): a provider name or package.module:Class ("none":
    # translation subscriptions are refused), and its options (GLASSCLOUD_TRANSLATION_<NAME>_<KEY>).
    translation_provider: str = "none"
    translation_options: tuple[tuple[str, str], ...] = ()
    # Inbound limits: messages/s (and burst) per connection and per user, sockets per user.
    connection_rate: float = 500.0
    connection_burst: float = 1000.0
    user_rate: float = 2000.0
    user_burst: float = 4000.0
    max_connections_per_user: int = 32
    # Connections before authentication (server/admission.py; docs/decisions.md): seconds
    # for the first request head, idle keep-alive seconds, unauthenticated connections per
    # IP (0: no cap), descriptors kept free below RLIMIT_NOFILE.
    header_timeout: float = 10.0
    keepalive_timeout: float = 15.0
    max_pending_per_address: int = 64
    fd_reserve: int = 128
    # Start (and, in a lane of their own, stop) webhooks in flight per App server; the rest
    # wait in order (server/webhook_queue.py).
    webhook_concurrency: int = 64
    # Seconds between checks for API keys rotated by another process (the CLI); also the
    # refresh of the revoked developer tokens.
    key_check_interval: float = 2.0
    # Operations (server/metrics.py, server/health.py): a scrape-only token for /metrics,
    # networks whose clients may scrape without a token, seconds /ready answers 503 after
    # SIGTERM before the server stops listening.
    metrics_token: str | None = None
    metrics_networks: tuple[str, ...] = ()
    drain_delay: float = 1.0
    # Cluster mode (docs/cluster.md): the Redis URL (None: one process, Redis not imported),
    # this node's id (None: derived from the host name and port), the ownership lease.
    redis: str | None = None
    node_id: str | None = None
    lease_seconds: float = 10.0

    @property
    def base_url(self) -> str:
        """The URL Apps and phones use to reach this server."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "localhost"
        return f"http://{host}:{self.port}"

    @property
    def app_ws_url(self) -> str:
        """The App WebSocket URL sent to external Apps in `session_request`."""
        return _ws_url(self.base_url)

    @property
    def internal_app_ws_url(self) -> str:
        """The App WebSocket URL sent to system Apps (beside the server)."""
        if self.internal_url:
            return _ws_url(self.internal_url.rstrip("/"))
        return f"ws://127.0.0.1:{self.port}/app-ws"

    def system_network_objects(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(n, strict=False) for n in self.system_networks]


def _ws_url(base: str) -> str:
    if base.startswith("https://"):
        base = "wss://" + base[len("https://") :]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://") :]
    return base + "/app-ws"


def asr_options_from_env(provider: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """GLASSCLOUD_ASR_<PROVIDER>_<KEY>=value -> {"<key>": value} (keys lower-cased)."""
    prefix = "GLASSCLOUD_ASR_" + provider.upper().replace("-", "_") + "_"
    source = os.environ if environ is None else environ
    return {k[len(prefix) :].lower(): v for k, v in source.items() if k.startswith(prefix)}
