"""`glasscloud token` and `glasscloud dev-token`: tokens for a user, signed with the server's
secret (GLASSCLOUD_SECRET if set, else the one kept in the database)."""

from __future__ import annotations

import argparse

from glasscloud.auth import webview
from glasscloud.auth.app_tokens import issue_developer_token
from glasscloud.auth.tokens import issue_core_token
from glasscloud.cli.options import Commands, add_database, database_url, email, with_store
from glasscloud.server.config_sources import secret_from
from glasscloud.store.store import Store


def add_token_command(commands: Commands) -> None:
    token = commands.add_parser(
        "token",
        help="print a core token for a user",
        description="Print a core token for EMAIL, signed with GLASSCLOUD_SECRET if set, "
        "else with the secret kept in the database.",
    )
    token.add_argument("email", metavar="EMAIL")
    add_database(token)
    token.set_defaults(handler=_token)


def add_dev_token_command(commands: Commands) -> None:
    dev_token = commands.add_parser(
        "dev-token",
        help="print a developer token for the developer and admin REST API",
        description="Print a developer token for EMAIL: `Authorization: Bearer <token>` on "
        "/api/dev/... and /api/admin/....",
    )
    dev_token.add_argument("email", metavar="EMAIL")
    add_database(dev_token)
    dev_token.set_defaults(handler=_dev_token)


def signing_secret(args: argparse.Namespace) -> str:
    """GLASSCLOUD_SECRET if set, else the secret kept in the database (made once); the
    database is not opened when the variable is set."""
    return secret_from() or with_store(database_url(args), Store.get_or_create_secret)


def _token(args: argparse.Namespace) -> int:
    address = email(args)
    print(issue_core_token(signing_secret(args), address))
    return 0


def _dev_token(args: argparse.Namespace) -> int:
    address = email(args)
    print(issue_developer_token(signing_secret(args), address))
    return 0


def add_user_token_key_command(commands: Commands) -> None:
    key = commands.add_parser(
        "user-token-key",
        help="print the public key Apps verify signed webview user tokens with",
        description="Print the PEM public key of the RS256 key pair this server signs webview "
        "user tokens (aos_signed_user_token) with; made once and kept in the database. An "
        "App operator sets it as MENTRAOS_CLOUD_USER_TOKEN_PUBLIC_KEY.",
    )
    add_database(key)
    key.set_defaults(handler=_user_token_key)


def _user_token_key(args: argparse.Namespace) -> int:
    async def read(store: Store) -> str:
        return await store.get_or_create_meta(
            webview.USER_TOKEN_KEY_META, webview.generate_private_key_pem
        )

    print(webview.public_key_pem(with_store(database_url(args), read)), end="")
    return 0
