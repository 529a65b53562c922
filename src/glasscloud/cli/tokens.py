"""`glasscloud token` and `glasscloud dev-token`: tokens for a user, signed with the server's
secret (GLASSCLOUD_SECRET if set, else the one kept in the database).

`token EMAIL [--expires 15m]`: a core token, without `exp` unless asked (phones keep theirs).
`dev-token EMAIL [--expires 90d|never]`: a developer token with an id and (by default) a 90-day
expiry, recorded in the database; `dev-token list [--json]` and `dev-token revoke ID` (no
prompt; a running server refuses the token within its key-check interval, 2 s)."""

from __future__ import annotations

import argparse
import time

from glasscloud.auth import webview
from glasscloud.auth.app_tokens import (
    DEFAULT_DEVELOPER_TOKEN_LIFETIME,
    issue_developer_token,
    new_token_id,
)
from glasscloud.auth.durations import DurationError, parse_duration
from glasscloud.auth.tokens import issue_core_token
from glasscloud.cli.options import (
    Commands,
    UsageError,
    add_database,
    add_json,
    database_url,
    email,
    print_json,
    with_store,
)
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
    token.add_argument(
        "--expires",
        metavar="DURATION",
        help="the token expires after this long: 30s, 15m, 12h, 7d, 2w (default: never, as "
        "the reference cloud's tokens)",
    )
    add_database(token)
    token.set_defaults(handler=_token)


def add_dev_token_command(commands: Commands) -> None:
    dev_token = commands.add_parser(
        "dev-token",
        help="print, list or revoke developer tokens for the developer and admin REST API",
        usage="glasscloud dev-token EMAIL [--expires DURATION] | list [--json] | revoke ID",
        description="`dev-token EMAIL` prints a developer token for EMAIL "
        "(`Authorization: Bearer <token>` on /api/dev/... and /api/admin/...), with an id and "
        "an expiry (--expires, default 90d; `never` for none), recorded in the database. "
        "`dev-token list` lists the tokens issued; `dev-token revoke ID` revokes one at once "
        "(no prompt; a running server refuses it within 2 s).",
    )
    dev_token.add_argument("email", metavar="EMAIL|list|revoke")
    dev_token.add_argument("token_id", metavar="ID", nargs="?", help="for revoke")
    dev_token.add_argument("--expires", metavar="DURATION", help="30s, 15m, 12h, 7d, 2w or never")
    add_json(dev_token)
    add_database(dev_token)
    dev_token.set_defaults(handler=_dev_token)


def signing_secret(args: argparse.Namespace) -> str:
    """GLASSCLOUD_SECRET if set, else the secret kept in the database (made once); the
    database is not opened when the variable is set."""
    return secret_from() or with_store(database_url(args), Store.get_or_create_secret)


def expires_in(raw: str | None, default: float | None) -> float | None:
    """--expires as seconds (None: never); UsageError naming a bad duration."""
    if raw is None:
        return default
    if raw.strip().lower() == "never":
        return None
    try:
        return parse_duration(raw)
    except DurationError as exc:
        raise UsageError(f"--expires: {exc}") from None


def _token(args: argparse.Namespace) -> int:
    address = email(args)
    lifetime = expires_in(args.expires, None)
    print(issue_core_token(signing_secret(args), address, expires_in=lifetime))
    return 0


def _dev_token(args: argparse.Namespace) -> int:
    if args.email == "list":
        return _list_dev_tokens(args)
    if args.email == "revoke":
        return _revoke_dev_token(args)
    if args.token_id is not None:
        raise UsageError(f"unexpected argument '{args.token_id}' after EMAIL")
    address = email(args)
    lifetime = expires_in(args.expires, DEFAULT_DEVELOPER_TOKEN_LIFETIME)
    token_id = new_token_id()
    now = time.time()

    async def issue(store: Store) -> str:
        secret = secret_from() or await store.get_or_create_secret()
        token = issue_developer_token(secret, address, token_id, lifetime, now)
        expires_at = int(now + lifetime) if lifetime is not None else None
        await store.record_developer_token(token_id, address.lower(), int(now), expires_at)
        return token

    print(with_store(database_url(args), issue))
    return 0


def _list_dev_tokens(args: argparse.Namespace) -> int:
    records = with_store(database_url(args), Store.list_developer_tokens)
    now = time.time()
    rows = [r.as_json(now) for r in records]
    if args.json:
        print_json({"tokens": rows})
        return 0
    if not rows:
        print("no developer tokens issued (tokens from before ids existed are not listed)")
    for row in rows:
        expires = _when(row["expiresAt"]) if row["expiresAt"] else "never"
        print(
            f"{row['id']}  {row['email']:<30}  {row['state']:<8}  "
            f"issued {_when(row['issuedAt'])}  expires {expires}"
        )
    return 0


def _revoke_dev_token(args: argparse.Namespace) -> int:
    if not args.token_id:
        raise UsageError("dev-token revoke needs the token's ID (see glasscloud dev-token list)")

    async def revoke(store: Store) -> None:
        await store.revoke_developer_token(args.token_id)

    with_store(database_url(args), revoke)
    print(f"revoked developer token {args.token_id}")
    return 0


def _when(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


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
