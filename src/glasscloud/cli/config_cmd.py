"""`glasscloud config`: the configuration `glasscloud serve` would run with (same flags,
environment and config file), each setting with where it came from; secrets are shown as
set or not set, never their value."""

from __future__ import annotations

import argparse

from glasscloud.cli.options import Commands, add_json, print_json
from glasscloud.cli.serve import add_serve_flags, resolved_config


def add_commands(commands: Commands) -> None:
    config = commands.add_parser(
        "config",
        help="print the effective server configuration and where each setting came from",
        description="Print the configuration `glasscloud serve` would use with these flags, "
        "the GLASSCLOUD_* environment and the config file (--config / GLASSCLOUD_CONFIG): "
        "each setting, its value and its source (flag, env, file or default). Secrets "
        "(secret, metrics_token) are shown as set or not set.",
    )
    add_serve_flags(config)
    add_json(config)
    config.set_defaults(handler=_config)


def _config(args: argparse.Namespace) -> int:
    rows = resolved_config(args).describe()
    if args.json:
        print_json({"settings": rows})
        return 0
    width = max(len(r["setting"]) for r in rows)
    for row in rows:
        value = row["value"]
        text = ", ".join(value) if isinstance(value, list) else str(value)
        where = row["source"] + (f" ({row['from']})" if row["from"] else "")
        print(f"{row['setting']:<{width}}  {text:<40}  {where}")
    return 0
