"""`python -m glasscloud`: the same as the `glasscloud` command."""

from glasscloud.cli import main

raise SystemExit(main())
