"""`python -m glasscloud.cli`: the same as the `glasscloud` command."""

from glasscloud.cli import main

raise SystemExit(main())
