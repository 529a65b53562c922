"""`glasscloud apps create|list|rotate-key|token`: the App registry, straight on the store."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from glasscloud.auth.app_tokens import issue_app_token
from glasscloud.cli.options import (
    Commands,
    add_database,
    add_json,
    database_url,
    print_json,
    with_store,
)
from glasscloud.core.records import APP_TYPES, AppRecord
from glasscloud.server.config_sources import secret_from
from glasscloud.store.errors import AppNotFound
from glasscloud.store.store import Store

KEY_SHOWN_ONCE = "This API key is shown only once: store it now."


def add_commands(commands: Commands) -> None:
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
    add_database(create)
    add_json(create)
    create.set_defaults(handler=_create)

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


def _create(args: argparse.Namespace) -> int:
    async def create(store: Store) -> tuple[AppRecord, str]:
        return await store.create_app(
            args.package,
            name=args.name,
            public_url=args.public_url,
            app_type=args.app_type,
            is_system=args.system,
            permissions=args.permissions,
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
