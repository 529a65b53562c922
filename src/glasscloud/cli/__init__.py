"""The `glasscloud` command line: serve, token, dev-token, apps ..., app new, glasses.

Command and flag names are an interface other tools script against; keep them stable.
Every failure is one line on stderr, `glasscloud: error: <sentence>`, with exit status 2 for
a usage problem (bad flag or value) and 1 for anything else; never a traceback.

One module per command group (`serve`, `tokens`, `apps`, `app_new`, `glasses`), each adding
its own sub-commands to the parser built in `parser`; `options` holds what several share.
Turning `serve`'s flags and environment into a `ServerConfig` is not done here but in
`glasscloud.server.config_sources`.
"""

from __future__ import annotations

import sys

from glasscloud.auth.tokens import TokenError
from glasscloud.cli.options import UsageError
from glasscloud.cli.parser import PROG, build_parser
from glasscloud.cli.serve import server_config
from glasscloud.server.config_sources import ConfigError
from glasscloud.store.errors import StoreError

__all__ = ["UsageError", "build_parser", "main", "server_config"]


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.handler(args)
    except SystemExit as exc:  # argparse (usage errors, --help, --version)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except (UsageError, ConfigError) as exc:
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
