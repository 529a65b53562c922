"""`glasscloud glasses`: the terminal glasses simulator, connected as a user."""

from __future__ import annotations

import argparse
import asyncio

from glasscloud.auth.tokens import issue_core_token
from glasscloud.cli.options import Commands, UsageError, add_database, email
from glasscloud.cli.tokens import signing_secret


def add_commands(commands: Commands) -> None:
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
    add_database(glasses)
    glasses.set_defaults(handler=_glasses)


def _glasses(args: argparse.Namespace) -> int:
    from glasscloud.simulator import glasses_ws_url, run_simulator  # only this needs aiohttp

    try:
        glasses_ws_url(args.server)
    except ValueError as exc:
        raise UsageError(f"--server: {exc}") from None
    token = args.token
    if not token:
        address = email(args)  # checked before the database is opened for the secret
        token = issue_core_token(signing_secret(args), address)
    import aiohttp

    # Only the first connection's failure ends up here; later ones are retried by the
    # simulator and shown on its status line.
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
