"""The argument parser: the program, `--version`, and each command group's sub-commands."""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

from glasscloud import __version__
from glasscloud.cli import app_new, apps, cluster, config_cmd, glasses, serve, tokens

PROG = "glasscloud"


class CliParser(argparse.ArgumentParser):
    """argparse, but errors carry the same `glasscloud: error:` prefix as every other."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{PROG}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; each leaf parser sets `handler(args) -> exit status`."""
    parser = CliParser(
        prog=PROG,
        description="A self-hostable smart-glasses cloud speaking the MentraOS wire protocol.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands: Any = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # The order here is the order of `glasscloud --help`.
    serve.add_commands(commands)
    config_cmd.add_commands(commands)
    tokens.add_token_command(commands)
    apps.add_commands(commands)
    tokens.add_dev_token_command(commands)
    tokens.add_user_token_key_command(commands)
    app_new.add_commands(commands)
    glasses.add_commands(commands)
    cluster.add_commands(commands)
    return parser
