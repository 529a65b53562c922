"""The `glasscloud` command line: serve, token, apps create|list|rotate-key.

Command and flag names are an interface other tools script against; keep them stable.
Every failure is one line on stderr, `glasscloud: error: <sentence>`, with exit status 2 for
a usage problem (bad flag or value) and 1 for anything else; never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from glasscloud import __version__
from glasscloud.auth.app_tokens import issue_app_token, issue_developer_token
from glasscloud.auth.tokens import TokenError, issue_core_token
from glasscloud.core.records import APP_TYPES, AppRecord
from glasscloud.server.config import (
    DEFAULT_SYSTEM_NETWORKS,
    ServerConfig,
    asr_options_from_env,
    default_database_url,
    env,
)
from glasscloud.store.errors import AppNotFound, StoreError
from glasscloud.store.store import Store
from glasscloud.store.urls import parse_database_url

PROG = "glasscloud"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
KEY_SHOWN_ONCE = "This API key is shown only once: store it now."


class UsageError(Exception):
    """A flag or argument value is unacceptable (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but errors carry the same `glasscloud: error:` prefix as every other."""

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        self.exit(2, f"{PROG}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except SystemExit as exc:  # argparse (usage errors, --help, --version)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except UsageError as exc:
        return _fail(str(exc), 2)
    except (StoreError, TokenError) as exc:
        return _fail(exc.message, 1)
    except OSError as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 1)


def _fail(sentence: str, status: int) -> int:
    print(f"{PROG}: error: {sentence}", file=sys.stderr)
    return status


# -- parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="A self-hostable smart-glasses cloud speaking the MentraOS wire protocol.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the server",
        description="Run the server. Each flag falls back to GLASSCLOUD_<FLAG> "
        "(e.g. GLASSCLOUD_PORT); the signing secret comes from GLASSCLOUD_SECRET if set, "
        "else from the database.",
    )
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", help="port to listen on, 1-65535 (default 8002)")
    _add_database(serve)
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
    serve.set_defaults(handler=_serve)

    token = commands.add_parser(
        "token",
        help="print a core token for a user",
        description="Print a core token for EMAIL, signed with GLASSCLOUD_SECRET if set, "
        "else with the secret kept in the database.",
    )
    token.add_argument("email", metavar="EMAIL")
    _add_database(token)
    token.set_defaults(handler=_token)

    apps = commands.add_parser("apps", help="register and list Apps").add_subparsers(
        dest="apps_command", metavar="ACTION", required=True
    )

    create = apps.add_parser("create", help="register an App and print its API key")
    create.add_argument("package", metavar="PACKAGE")
    create.add_argument("--name", required=True, help="display name")
    create.add_argument("--public-url", required=True, help="the App's base URL (http/https)")
    create.add_argument(
        "--permission",
        dest="permissions",
        action="extend",
        nargs="+",
        default=[],
        metavar="P",
        help="a permission the App needs (repeatable), e.g. MICROPHONE",
    )
    create.add_argument("--type", choices=APP_TYPES, default="background", dest="app_type")
    create.add_argument("--system", action="store_true", help="register as a system App")
    _add_database(create)
    _add_json(create)
    create.set_defaults(handler=_apps_create)

    listing = apps.add_parser("list", help="list registered Apps")
    _add_database(listing)
    _add_json(listing)
    listing.set_defaults(handler=_apps_list)

    rotate = apps.add_parser("rotate-key", help="replace an App's API key")
    rotate.add_argument("package", metavar="PACKAGE")
    _add_database(rotate)
    _add_json(rotate)
    rotate.set_defaults(handler=_apps_rotate_key)

    app_token = apps.add_parser(
        "token",
        help="print an App token (JWT) for header authentication on /app-ws",
        description="Print an App token for PACKAGE. The App sends it as `Authorization: "
        "Bearer <token>` with `X-Session-Id` when it opens /app-ws; rotating the App's key "
        "revokes it.",
    )
    app_token.add_argument("package", metavar="PACKAGE")
    _add_database(app_token)
    app_token.set_defaults(handler=_apps_token)

    dev_token = commands.add_parser(
        "dev-token",
        help="print a developer token for the developer and admin REST API",
        description="Print a developer token for EMAIL: `Authorization: Bearer <token>` on "
        "/api/dev/... and /api/admin/....",
    )
    dev_token.add_argument("email", metavar="EMAIL")
    _add_database(dev_token)
    dev_token.set_defaults(handler=_dev_token)
    _add_sdk_commands(commands)
    return parser


def _add_sdk_commands(commands: Any) -> None:
    """`app new` (scaffold a Python App) and `glasses` (the terminal glasses simulator)."""
    app = commands.add_parser("app", help="write Apps in Python").add_subparsers(
        dest="app_command", metavar="ACTION", required=True
    )
    new = app.add_parser(
        "new",
        help="create a runnable example App (app.py + README.md)",
        description="Create DIR/NAME with an App on the Python SDK and a README saying how "
        "to register and run it.",
    )
    new.add_argument("name", metavar="NAME")
    new.add_argument("--dir", default=".", help="parent directory (default: current)")
    new.add_argument("--package", help="package name (default com.example.<name>)")
    new.add_argument("--port", default="7010", help="the App's port (default 7010)")
    new.set_defaults(handler=_app_new)

    glasses = commands.add_parser(
        "glasses",
        help="a terminal glasses simulator",
        description="Connect to /glasses-ws as EMAIL and read commands from stdin (start, "
        "stop, press, head, say, wav, ...; `help` lists them); what Apps display is drawn "
        "in the terminal. Without --token one is signed with GLASSCLOUD_SECRET, else with "
        "the secret in the database.",
    )
    glasses.add_argument("email", metavar="EMAIL")
    glasses.add_argument(
        "--server", default="http://127.0.0.1:8002", help="glasscloud URL (default %(default)s)"
    )
    glasses.add_argument("--token", help="core token (default: sign one locally)")
    glasses.add_argument("--language", default="en-US", help="language of `say` (en-US)")
    _add_database(glasses)
    glasses.set_defaults(handler=_glasses)


def _add_database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        metavar="URL",
        help="sqlite:///path or postgresql://... (env GLASSCLOUD_DATABASE; "
        "default ./glasscloud.db)",
    )


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


# -- value resolution and validation ----------------------------------------------------


def _option(args: argparse.Namespace, name: str) -> tuple[str | None, str]:
    """The flag's value, else GLASSCLOUD_<NAME>; with a label naming where it came from."""
    value = getattr(args, name)
    flag = "--" + name.replace("_", "-")
    if value is not None:
        return value, flag
    # An empty variable (e.g. `GLASSCLOUD_PORT=` in a compose file) counts as unset.
    return env(name) or None, "GLASSCLOUD_" + name.upper()


def _database_url(args: argparse.Namespace) -> str:
    """--database, else GLASSCLOUD_DATABASE, else ./glasscloud.db; the scheme is checked."""
    url, _source = _option(args, "database")
    url = url or default_database_url()
    try:
        parse_database_url(url)
    except StoreError as exc:
        raise UsageError(exc.message) from None
    return url


def _port(raw: str, source: str) -> int:
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise UsageError(f"{source} must be a whole number from 1 to 65535, not '{raw}'")
    return int(text)


def _http_url(raw: str, source: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{source} must start with http:// or https://, not '{raw}'")
    return raw.strip()


def _networks(raw: Sequence[str], source: str) -> tuple[str, ...]:
    networks = []
    for item in raw:
        try:
            networks.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            raise UsageError(
                f"{source}: '{item}' is not a network in CIDR form such as 10.0.0.0/8"
            ) from None
    if not networks:
        raise UsageError(f"{source} must name at least one network")
    return tuple(networks)


def _log_level(raw: str, source: str) -> str:
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise UsageError(f"{source} must be one of {', '.join(LOG_LEVELS)}, not '{raw}'")
    return level


def server_config(args: argparse.Namespace) -> ServerConfig:
    """The ServerConfig for `serve`'s flags and GLASSCLOUD_* environment. Raises UsageError."""
    settings: dict[str, Any] = {"database": _database_url(args)}
    host, source = _option(args, "host")
    if host is not None:
        if not host.strip():
            raise UsageError(f"{source} must not be empty")
        settings["host"] = host.strip()
    port, source = _option(args, "port")
    if port is not None:
        settings["port"] = _port(port, source)
    for name in ("public_url", "internal_url"):
        url, source = _option(args, name)
        if url:
            settings[name] = _http_url(url, source)
    if args.system_networks is not None:
        settings["system_networks"] = _networks(args.system_networks, "--system-networks")
    elif raw := env("system_networks"):
        items = [part for part in raw.split(",") if part.strip()]
        settings["system_networks"] = _networks(items, "GLASSCLOUD_SYSTEM_NETWORKS")
    else:
        settings["system_networks"] = DEFAULT_SYSTEM_NETWORKS
    level, source = _option(args, "log_level")
    if level is not None:
        settings["log_level"] = _log_level(level, source)
    dashboard, source = _option(args, "dashboard_package")
    if dashboard is not None:
        if not dashboard.strip():
            raise UsageError(f"{source} must not be empty")
        settings["dashboard_package"] = dashboard.strip()
    settings.update(_asr_settings(args))
    settings["secret"] = env("secret") or None
    return ServerConfig(**settings)


def _asr_settings(args: argparse.Namespace) -> dict[str, Any]:
    """--asr-provider / GLASSCLOUD_ASR_PROVIDER, its options, GLASSCLOUD_ASR_WORKERS."""
    from glasscloud.asr.registry import default_provider_name, provider_names

    provider, source = _option(args, "asr_provider")
    provider = (provider or default_provider_name()).strip()
    if provider not in provider_names() and provider != "none":
        raise UsageError(
            f"{source}: unknown speech-recognition provider '{provider}' "
            f"(known: {', '.join(provider_names())})"
        )
    settings: dict[str, Any] = {
        "asr_provider": provider,
        "asr_options": tuple(sorted(asr_options_from_env(provider).items())),
    }
    if workers := env("asr_workers"):
        if not workers.isdigit():
            raise UsageError("GLASSCLOUD_ASR_WORKERS must be a whole number (0 = one per core)")
        settings["asr_workers"] = int(workers)
    return settings


# -- commands ----------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    config = server_config(args)
    from glasscloud.server.run import run_server  # imported late: only serve needs aiohttp

    run_server(config)
    return 0


def _email(args: argparse.Namespace) -> str:
    email = args.email.strip()
    if "@" not in email:
        raise UsageError(f"'{args.email}' is not an e-mail address: it has no '@'")
    return email


def _signing_secret(args: argparse.Namespace) -> str:
    """GLASSCLOUD_SECRET if set, else the secret kept in the database (made once)."""
    return env("secret") or asyncio.run(_stored_secret(_database_url(args)))


def _token(args: argparse.Namespace) -> int:
    email = _email(args)
    print(issue_core_token(_signing_secret(args), email))
    return 0


def _apps_token(args: argparse.Namespace) -> int:
    url = _database_url(args)

    async def fetch() -> tuple[str, AppRecord | None]:
        async with await Store.open(url) as store:
            stored = await store.get_or_create_secret()
            return env("secret") or stored, await store.get_app(args.package)

    secret, record = asyncio.run(fetch())
    if record is None:
        raise AppNotFound(args.package)
    print(issue_app_token(secret, record.package_name, record.key_version))
    return 0


def _dev_token(args: argparse.Namespace) -> int:
    email = _email(args)
    print(issue_developer_token(_signing_secret(args), email))
    return 0


def _app_new(args: argparse.Namespace) -> int:
    from pathlib import Path

    from glasscloud.sdk.scaffold import app_files

    try:
        files = app_files(args.name, args.package, _port(args.port, "--port"))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    target = Path(args.dir) / args.name
    if target.exists() and any(target.iterdir()):
        raise UsageError(f"{target} already exists and is not empty")
    target.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (target / name).write_text(content, encoding="utf-8")
    print(f"Created {target}/ ({', '.join(files)}). Next: read {target / 'README.md'}.")
    return 0


def _glasses(args: argparse.Namespace) -> int:
    from glasscloud.simulator import glasses_ws_url, run_simulator

    try:
        glasses_ws_url(args.server)
    except ValueError as exc:
        raise UsageError(f"--server: {exc}") from None
    token = args.token
    if not token:
        email = args.email.strip()
        if "@" not in email:
            raise UsageError(f"'{args.email}' is not an e-mail address: it has no '@'")
        token = issue_core_token(_signing_secret(args), email)
    import aiohttp

    try:
        asyncio.run(run_simulator(args.server, token, language=args.language))
    except aiohttp.WSServerHandshakeError as exc:
        raise OSError(
            f"{args.server} refused the glasses connection (HTTP {exc.status}); "
            "check the token, or --database/GLASSCLOUD_SECRET if it was signed locally"
        ) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise OSError(f"cannot connect to {args.server}: {exc}") from None
    return 0


async def _stored_secret(url: str) -> str:
    async with await Store.open(url) as store:
        return await store.get_or_create_secret()


def _apps_create(args: argparse.Namespace) -> int:
    url = _database_url(args)

    async def create() -> tuple[AppRecord, str]:
        async with await Store.open(url) as store:
            return await store.create_app(
                args.package,
                name=args.name,
                public_url=args.public_url,
                app_type=args.app_type,
                is_system=args.system,
                permissions=args.permissions,
            )

    record, key = asyncio.run(create())
    if args.json:
        _print_json({"packageName": record.package_name, "apiKey": key})
    else:
        kind = "system App" if record.is_system else "App"
        print(f"Created {kind} '{record.package_name}' ({record.name}).")
        print(KEY_SHOWN_ONCE)
        print(f"API key: {key}")
    return 0


def _apps_list(args: argparse.Namespace) -> int:
    url = _database_url(args)

    async def fetch() -> list[AppRecord]:
        async with await Store.open(url) as store:
            return await store.list_apps()

    records = asyncio.run(fetch())
    if args.json:
        _print_json([{**r.public_view(), "keyVersion": r.key_version} for r in records])
    elif not records:
        print("No apps registered.")
    else:
        print(_table(records))
    return 0


def _apps_rotate_key(args: argparse.Namespace) -> int:
    url = _database_url(args)

    async def rotate() -> tuple[str, AppRecord | None]:
        async with await Store.open(url) as store:
            key = await store.rotate_api_key(args.package)
            return key, await store.get_app(args.package)

    key, record = asyncio.run(rotate())
    version = record.key_version if record else None
    if args.json:
        _print_json({"packageName": args.package, "apiKey": key, "keyVersion": version})
    else:
        print(f"New API key for '{args.package}' (key version {version}).")
        print("The previous key no longer works.")
        print(KEY_SHOWN_ONCE)
        print(f"API key: {key}")
    return 0


# -- output ------------------------------------------------------------------------------


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def _table(records: Sequence[AppRecord]) -> str:
    header = ("PACKAGE", "NAME", "TYPE", "SYSTEM", "PERMISSIONS", "PUBLIC URL")
    rows = [
        (
            r.package_name,
            r.name,
            r.app_type,
            "yes" if r.is_system else "no",
            ",".join(r.permissions) or "-",
            r.public_url,
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
