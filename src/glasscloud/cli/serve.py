"""`glasscloud serve`: run the server with the configuration its flags and environment give."""

from __future__ import annotations

import argparse
import dataclasses

from glasscloud.cli.options import Commands, add_database
from glasscloud.server.config import ServerConfig
from glasscloud.server.config_sources import (
    LOG_LEVELS,
    Resolved,
    ServeFlags,
    resolve,
    server_config_from,
)


def add_commands(commands: Commands) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the server",
        description="Run the server. Each flag falls back to GLASSCLOUD_<FLAG> "
        "(e.g. GLASSCLOUD_PORT), then to the config file's key (--config); the signing "
        "secret comes from GLASSCLOUD_SECRET (or the file's `secret`) if set, else from the "
        "database.",
    )
    add_serve_flags(serve)
    serve.set_defaults(handler=_serve)


def add_serve_flags(serve: argparse.ArgumentParser) -> None:
    """The flags of `serve` (also taken by `glasscloud config`)."""
    serve.add_argument(
        "--config",
        metavar="PATH",
        help="TOML file of settings (env GLASSCLOUD_CONFIG); flags and GLASSCLOUD_* beat it",
    )
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", help="port to listen on, 1-65535 (default 8002)")
    add_database(serve)
    serve.add_argument("--public-url", help="URL Apps and phones use to reach this server")
    serve.add_argument("--internal-url", help="URL system Apps use to reach this server")
    serve.add_argument(
        "--system-networks",
        nargs="+",
        metavar="CIDR",
        help="networks whose Apps may be system Apps (env: comma-separated; default: "
        "loopback and private networks)",
    )
    serve.add_argument("--log-level", help=f"one of {', '.join(LOG_LEVELS)} (default INFO)")
    serve.add_argument(
        "--asr-provider",
        help="speech recognition for live captions: pocketsphinx (offline), vosk, phone "
        "(only the phones' own transcription) or a plugin's name (default pocketsphinx when "
        "installed, else phone; options: GLASSCLOUD_ASR_<PROVIDER>_<KEY>)",
    )
    serve.add_argument(
        "--dashboard-package",
        help="package name of the system dashboard App (default system.augmentos.dashboard)",
    )
    serve.add_argument(
        "--header-timeout",
        help="seconds a client may take to send a request's headers (default 10)",
    )
    serve.add_argument(
        "--keepalive-timeout", help="seconds an idle HTTP connection is kept (default 15)"
    )
    serve.add_argument(
        "--max-pending-per-address",
        help="connections one address may hold before authenticating (default 64; 0: no cap, "
        "behind a reverse proxy)",
    )
    serve.add_argument(
        "--fd-reserve",
        help="file descriptors kept free for authenticated peers and the database (default 128)",
    )
    serve.add_argument(
        "--webhook-concurrency",
        help="start webhooks in flight per App server; the rest wait in order, their timeout "
        "counted from when they are sent (default 64)",
    )
    serve.add_argument(
        "--key-check-interval",
        help="seconds between checks for API keys rotated by another process and for revoked "
        "developer tokens (default 2)",
    )
    serve.add_argument(
        "--metrics-token",
        metavar="TOKEN",
        help="a scrape-only bearer token accepted by /metrics besides developer tokens",
    )
    serve.add_argument(
        "--metrics-networks",
        nargs="+",
        metavar="CIDR",
        help="networks whose clients may read /metrics without a token (env: comma-separated)",
    )
    serve.add_argument(
        "--drain-delay",
        help="seconds /ready answers 503 after SIGTERM before the server stops (default 1)",
    )
    serve.add_argument(
        "--redis",
        metavar="URL",
        help="cluster mode: the Redis server the nodes share (redis://HOST:PORT/DB); all "
        "nodes must also share one database (docs/cluster.md)",
    )
    serve.add_argument(
        "--node-id",
        help="cluster mode: this node's id, e.g. node-a (default: host name and port)",
    )
    serve.add_argument(
        "--lease-seconds",
        help="cluster mode: seconds a node owns a user's session without renewing it; a "
        "killed node's users move after this long (default 10)",
    )


def serve_flags(args: argparse.Namespace) -> ServeFlags:
    return ServeFlags(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ServeFlags)})


def server_config(args: argparse.Namespace) -> ServerConfig:
    """The ServerConfig for `serve`'s parsed flags, the GLASSCLOUD_* environment and the
    config file. Raises ConfigError naming the flag, variable or file key with a bad value."""
    return server_config_from(serve_flags(args))


def resolved_config(args: argparse.Namespace) -> Resolved:
    """As `server_config`, with where each setting came from."""
    return resolve(serve_flags(args))


def _serve(args: argparse.Namespace) -> int:
    config = server_config(args)
    from glasscloud.server.run import run_server  # imported late: only serve needs aiohttp

    run_server(config)
    return 0
