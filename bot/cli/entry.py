"""`main`: runs one subcommand; every error a person can cause is one line, never a traceback."""

from __future__ import annotations

from collections.abc import Sequence

from bot.cli.parser import parse
from bot.cli.terminal import EXIT_FAILED, EXIT_USAGE, CliError, Failed, UsageError, error


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    try:
        code: int = args.func(args)
    except UsageError as exc:
        args.usage_parser.error(str(exc))  # its usage, then the reason; exit 2
    except CliError as exc:
        error(str(exc))
        return EXIT_USAGE
    except Failed as exc:
        error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    return code
