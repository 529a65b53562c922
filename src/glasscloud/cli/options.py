"""What several commands share: `UsageError`, the `--database` / `--json` / EMAIL arguments
and how they are read, and running one action against the store."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias, TypeVar

from glasscloud.server.config_sources import database_url_from
from glasscloud.store.store import Store

# What `add_subparsers()` returns; each command module adds its parsers to it.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

T = TypeVar("T")


class UsageError(Exception):
    """A flag or argument value is unacceptable (exit status 2)."""


def add_database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        metavar="URL",
        help="sqlite:///path or postgresql://... (env GLASSCLOUD_DATABASE; "
        "default ./glasscloud.db)",
    )


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def database_url(args: argparse.Namespace) -> str:
    """--database, else GLASSCLOUD_DATABASE, else ./glasscloud.db (ConfigError if unusable)."""
    return database_url_from(args.database)


def email(args: argparse.Namespace) -> str:
    """The EMAIL argument, stripped; UsageError when it cannot be an address."""
    address = args.email.strip()
    if "@" not in address:
        raise UsageError(f"'{args.email}' is not an e-mail address: it has no '@'")
    return address


def with_store(url: str, action: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store at `url`, run `action` on it, close it (its own event loop)."""

    async def run() -> T:
        async with await Store.open(url) as store:
            return await action(store)

    return asyncio.run(run())


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))
