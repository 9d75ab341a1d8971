"""`incident-bot store copy`: a SQLite store's history into an empty PostgreSQL one."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from bot.cli.terminal import CliError, UsageError, say


def copy(args: argparse.Namespace) -> int:
    from bot.store.copy import CopyError, copy_sqlite_to_postgres

    # The URL holds a password: from the environment it stays out of the process list.
    target = str(args.to or os.environ.get("INCIDENT_BOT_DATABASE", ""))
    if not target.startswith(("postgresql://", "postgres://")):
        raise UsageError("--to (or INCIDENT_BOT_DATABASE) must be a postgresql:// URL")
    try:
        report = asyncio.run(copy_sqlite_to_postgres(Path(args.source), target))
    except CopyError as exc:
        raise CliError(str(exc)) from None
    for table, count in report.rows.items():
        say(f"  {table:<22} {count}")
    say(f"copied {report.total} rows; point INCIDENT_BOT_DATABASE at the new store")
    return 0
