"""``python -m console``: the same entry point as the ``cron-console`` command."""

from console.cli import main

raise SystemExit(main())
