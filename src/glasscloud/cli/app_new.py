"""`glasscloud app new`: write a runnable example App on the Python SDK."""

from __future__ import annotations

import argparse
from pathlib import Path

from glasscloud.cli.options import Commands, UsageError
from glasscloud.server.config_sources import ConfigError, port_number


def add_commands(commands: Commands) -> None:
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


def _app_new(args: argparse.Namespace) -> int:
    from glasscloud.sdk.scaffold import app_files

    try:
        files = app_files(args.name, args.package, port_number(args.port, "--port"))
    except (ValueError, ConfigError) as exc:
        raise UsageError(str(exc)) from None
    target = Path(args.dir) / args.name
    if target.exists() and any(target.iterdir()):
        raise UsageError(f"{target} already exists and is not empty")
    target.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (target / name).write_text(content, encoding="utf-8")
    print(f"Created {target}/ ({', '.join(files)}). Next: read {target / 'README.md'}.")
    return 0
