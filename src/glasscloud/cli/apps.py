"""`glasscloud apps create|list|update|delete|rotate-key|token`: the App registry, straight
on the store; `update` and `delete` with `--server URL` go through that running server's
developer API instead, so its live sessions see the change (a deleted App is stopped)."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from glasscloud.auth.app_tokens import issue_app_token, issue_developer_token
from glasscloud.cli.options import (
    Commands,
    UsageError,
    add_database,
    add_json,
    database_url,
    print_json,
    with_store,
)
from glasscloud.core.records import APP_TYPES, AppRecord
from glasscloud.server.config_sources import secret_from
from glasscloud.store.errors import AppNotFound, StoreError
from glasscloud.store.store import Store

KEY_SHOWN_ONCE = "This API key is shown only once: store it now."


def add_commands(commands: Commands) -> None:
    apps = commands.add_parser(
        "apps", help="register, list, change and delete Apps"
    ).add_subparsers(dest="apps_command", metavar="ACTION", required=True)

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
    _add_definition_files(create)
    add_database(create)
    add_json(create)
    create.set_defaults(handler=_create)

    change = apps.add_parser(
        "update",
        help="change a registered App (only the options given)",
        description="Change the given fields of PACKAGE; its API key is kept. Apps already "
        "running keep their old record until their next start (with --server, settings "
        "changes are checked against the new schema at once).",
    )
    change.add_argument("package", metavar="PACKAGE")
    change.add_argument("--name", help="display name")
    change.add_argument("--public-url", help="the App's base URL (http/https)")
    change.add_argument(
        "--permission",
        dest="permissions",
        action="extend",
        nargs="+",
        metavar="P",
        help="the App's permissions (replaces them; repeatable); --permission NONE for none",
    )
    change.add_argument("--type", choices=APP_TYPES, dest="app_type")
    change.add_argument(
        "--system", action=argparse.BooleanOptionalAction, default=None, dest="system"
    )
    _add_definition_files(change)
    _add_server(change)
    add_database(change)
    add_json(change)
    change.set_defaults(handler=_update)

    remove = apps.add_parser(
        "delete",
        help="unregister an App (no prompt)",
        description="Remove PACKAGE and every user's state for it. With --server, the running "
        "server stops it for every live session first; without, sessions already running it "
        "keep it until they end.",
    )
    remove.add_argument("package", metavar="PACKAGE")
    _add_server(remove)
    add_database(remove)
    add_json(remove)
    remove.set_defaults(handler=_delete)

    listing = apps.add_parser("list", help="list registered Apps")
    add_database(listing)
    add_json(listing)
    listing.set_defaults(handler=_list)

    rotate = apps.add_parser("rotate-key", help="replace an App's API key")
    rotate.add_argument("package", metavar="PACKAGE")
    add_database(rotate)
    add_json(rotate)
    rotate.set_defaults(handler=_rotate_key)

    token = apps.add_parser(
        "token",
        help="print an App token (JWT) for header authentication on /app-ws",
        description="Print an App token for PACKAGE. The App sends it as `Authorization: "
        "Bearer <token>` with `X-Session-Id` when it opens /app-ws; rotating the App's key "
        "revokes it.",
    )
    token.add_argument("package", metavar="PACKAGE")
    add_database(token)
    token.set_defaults(handler=_token)


def _add_definition_files(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--settings-file",
        metavar="PATH",
        help="JSON file: the App's settings schema (a list of AppSetting objects, or an "
        "app_config.json with `settings`)",
    )
    parser.add_argument(
        "--tools-file",
        metavar="PATH",
        help="JSON file: the App's AI tools (a list of ToolSchema objects, or an "
        "app_config.json with `tools`)",
    )
    parser.add_argument("--webview-url", metavar="URL", help='the App\'s web page ("" for none)')


def _add_server(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        metavar="URL",
        help="a running glasscloud (e.g. http://127.0.0.1:8002): change it through its "
        "developer API, so live sessions see it",
    )


def _definitions(path: str | None, key: str) -> list[dict[str, Any]] | None:
    """The list in a JSON file: the file's top level, or its `key` (app_config.json)."""
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"--{key}-file: cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"--{key}-file: {path} is not JSON: {exc}") from None
    if isinstance(data, dict):
        data = data.get(key, [])
    if not isinstance(data, list):
        raise UsageError(f"--{key}-file: {path} must hold a list (or an object with `{key}`)")
    return data


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    """The options given, as Store.update_app arguments."""
    changes: dict[str, Any] = {}
    for option, name in (
        ("name", "name"),
        ("public_url", "public_url"),
        ("app_type", "app_type"),
        ("system", "is_system"),
        ("webview_url", "webview_url"),
    ):
        value = getattr(args, option, None)
        if value is not None:
            changes[name] = value
    if args.permissions is not None:
        changes["permissions"] = [p for p in args.permissions if p.upper() != "NONE"]
    for key, name in (("settings", "settings_schema"), ("tools", "tools")):
        value = _definitions(getattr(args, f"{key}_file"), key)
        if value is not None:
            changes[name] = value
    return changes


# Store.update_app argument -> developer API field.
_API_FIELDS = {
    "name": "name",
    "public_url": "publicUrl",
    "app_type": "appType",
    "is_system": "isSystemApp",
    "permissions": "permissions",
    "settings_schema": "settings",
    "tools": "tools",
    "webview_url": "webviewURL",
}


def _via_server(args: argparse.Namespace, method: str, body: dict[str, Any] | None) -> Any:
    """Call the running server's developer API with a developer token minted from the
    database's secret; its error message becomes the CLI's one error line."""

    async def fetch_secret(store: Store) -> str:
        return secret_from() or await store.get_or_create_secret()

    secret = with_store(database_url(args), fetch_secret)
    token = issue_developer_token(secret, "cli@localhost")
    url = f"{args.server.rstrip('/')}/api/dev/apps/{args.package}"

    async def call() -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                method, url, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=30)
            ) as response,
        ):
            return response.status, await response.json(content_type=None)

    try:
        status, data = asyncio.run(call())
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise OSError(f"cannot reach {args.server}: {exc}") from None
    if status >= 400:
        error = data.get("error", {}) if isinstance(data, dict) else {}
        if status == 404:
            raise AppNotFound(args.package)
        raise StoreError(str(error.get("message") or f"{args.server} answered HTTP {status}"))
    return data


def _update(args: argparse.Namespace) -> int:
    changes = _changes(args)
    if not changes:
        raise UsageError("nothing to change: give at least one option (see --help)")
    if args.server:
        body = {_API_FIELDS[name]: value for name, value in changes.items()}
        view = _via_server(args, "PATCH", body)["app"]
    else:

        async def update(store: Store) -> AppRecord:
            return await store.update_app(args.package, **changes)

        record = with_store(database_url(args), update)
        view = {**record.public_view(), "keyVersion": record.key_version}
    if args.json:
        print_json(view)
    else:
        fields = ", ".join(sorted(_API_FIELDS[name] for name in changes))
        print(f"Updated '{args.package}': {fields}.")
    return 0


def _delete(args: argparse.Namespace) -> int:
    stopped = None
    if args.server:
        stopped = _via_server(args, "DELETE", None)["stoppedSessions"]
    else:

        async def delete(store: Store) -> None:
            await store.delete_app(args.package)

        with_store(database_url(args), delete)
    if args.json:
        print_json({"deleted": args.package, "stoppedSessions": stopped})
    else:
        print(f"Deleted '{args.package}'.")
        if stopped:
            print(f"Stopped it in {stopped} live session(s).")
    return 0


def _create(args: argparse.Namespace) -> int:
    settings = _definitions(args.settings_file, "settings") or []
    tools = _definitions(args.tools_file, "tools") or []

    async def create(store: Store) -> tuple[AppRecord, str]:
        return await store.create_app(
            args.package,
            name=args.name,
            public_url=args.public_url,
            app_type=args.app_type,
            is_system=args.system,
            permissions=args.permissions,
            settings_schema=settings,
            tools=tools,
            webview_url=args.webview_url or "",
        )

    record, key = with_store(database_url(args), create)
    if args.json:
        print_json({"packageName": record.package_name, "apiKey": key})
    else:
        kind = "system App" if record.is_system else "App"
        print(f"Created {kind} '{record.package_name}' ({record.name}).")
        print(KEY_SHOWN_ONCE)
        print(f"API key: {key}")
    return 0


def _list(args: argparse.Namespace) -> int:
    records = with_store(database_url(args), Store.list_apps)
    if args.json:
        print_json([{**r.public_view(), "keyVersion": r.key_version} for r in records])
    elif not records:
        print("No apps registered.")
    else:
        print(app_table(records))
    return 0


def _rotate_key(args: argparse.Namespace) -> int:
    async def rotate(store: Store) -> tuple[str, AppRecord | None]:
        key = await store.rotate_api_key(args.package)
        return key, await store.get_app(args.package)

    key, record = with_store(database_url(args), rotate)
    version = record.key_version if record else None
    if args.json:
        print_json({"packageName": args.package, "apiKey": key, "keyVersion": version})
    else:
        print(f"New API key for '{args.package}' (key version {version}).")
        print("The previous key no longer works.")
        print(KEY_SHOWN_ONCE)
        print(f"API key: {key}")
    return 0


def _token(args: argparse.Namespace) -> int:
    async def fetch(store: Store) -> tuple[str, AppRecord | None]:
        secret = secret_from() or await store.get_or_create_secret()
        return secret, await store.get_app(args.package)

    secret, record = with_store(database_url(args), fetch)
    if record is None:
        raise AppNotFound(args.package)
    print(issue_app_token(secret, record.package_name, record.key_version))
    return 0


def app_table(records: Sequence[AppRecord]) -> str:
    """The registered Apps as aligned columns (never keys or key hashes)."""
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
