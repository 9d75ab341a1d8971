"""PostgreSQL steps: can we connect, what is running or stuck, which statements cost most.

They use ``ctx.integrations["postgres"]``, a :class:`PlatformDatabase` made from
PLATFORM_DATABASE_URL; every query is fixed, read-only and bounded by a statement timeout.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.domain.report import Code, Faint, Line, Mark, Span, line
from bot.integrations.postgres import PlatformDatabase, PlatformDatabaseError
from bot.playbooks.model import StepContext, StepOutput

# Connection slots in use above which a new connection may soon be refused.
CONNECTIONS_WARN = 0.8
# A statement or open transaction this old during an incident is worth a look.
LONG_RUNNING_SECONDS = 60.0
# A statement slower than this on average is shown as a problem.
SLOW_MEAN_MS = 1000.0
SUMMARY_QUERY_CHARS = 120


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlowQueriesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(10, ge=1, le=50)


def _db(ctx: StepContext) -> PlatformDatabase:
    db: PlatformDatabase = ctx.need("postgres", "PLATFORM_DATABASE_URL")
    return db


def _code(text: str | None, limit: int = SUMMARY_QUERY_CHARS) -> Span:
    """SQL on one line, cut to fit a message."""
    one = " ".join((text or "").split())
    if len(one) > limit:
        one = one[: limit - 1] + "…"
    return Code(one) if one else Faint("(no query text)")


async def connectivity(ctx: StepContext, params: NoParams) -> StepOutput:
    db = _db(ctx)
    try:
        found = await db.connectivity()
    except PlatformDatabaseError as exc:
        # Not connecting is this step's finding, not its failure.
        return StepOutput.of(
            line(f"Cannot reach PostgreSQL: {exc}", mark=Mark.PROBLEM), healthy=False
        )
    usable = max(1, found["max_connections"] - found["superuser_reserved_connections"])
    used = found["connections"] / usable
    full = used >= CONNECTIONS_WARN
    lines = [
        line(
            f"Connected to PostgreSQL {found['server_version']} (",
            Code(found["database"]),
            f"): {found['latency_ms']:.1f} ms round trip, {found['connect_ms']:.0f} ms to connect",
            mark=Mark.OK,
        ),
        line(
            f"Connections: {found['connections']} of {usable} usable ({used:.0%};"
            f" max_connections {found['max_connections']},"
            f" {found['superuser_reserved_connections']} reserved for superusers)",
            mark=Mark.WARNING if full else Mark.INFO,
        ),
    ]
    if full:
        lines.append(
            line(
                "New connections may soon be refused: look at ",
                Code("pg.activity"),
                " for idle ones.",
            )
        )
    return StepOutput(tuple(lines), healthy=not full)


def _activity_line(row: dict[str, Any], limit: int, *, stuck: bool) -> Line:
    wait = (
        f", waiting on {row['wait_event_type']}/{row['wait_event']}"
        if row["wait_event_type"]
        else ""
    )
    blocked = (
        f", blocked by pid {', '.join(str(p) for p in row['blocked_by'])}"
        if row["blocked_by"]
        else ""
    )
    return line(
        f"pid {row['pid']} {row['state']} {row['seconds']:.1f} s"
        f" ({row['user'] or '?'}@{row['database'] or '?'}){wait}{blocked}: ",
        _code(row["query"], limit),
        mark=Mark.WARNING if stuck else None,
        bullet=True,
    )


async def activity(ctx: StepContext, params: NoParams) -> StepOutput:
    found = await _db(ctx).activity()
    states = ", ".join(f"{count} {state}" for state, count in found["by_state"].items())
    waiting = found["waiting_on_locks"]
    longest = found["longest"]
    stuck = [r for r in longest if r["seconds"] >= LONG_RUNNING_SECONDS]
    lines = [
        line(f"Connections: {states or 'none'}"),
        (
            line(f"{waiting} session{'s' if waiting != 1 else ''} waiting on locks", mark=Mark.LOCK)
            if waiting
            else line("No session is waiting on a lock.")
        ),
    ]
    if longest:
        lines.append(line("Longest running:"))
        lines += [_activity_line(r, SUMMARY_QUERY_CHARS, stuck=r in stuck) for r in longest]
    else:
        lines.append(line("Nothing is running besides this check."))
    details = "\n".join(
        f"{r['seconds']:>9.1f} s  pid {r['pid']}  {r['state']}"
        f"  user={r['user']} db={r['database']} app={r['application']}"
        f"  wait={r['wait_event_type'] or '-'}/{r['wait_event'] or '-'}"
        f"  blocked_by={','.join(str(p) for p in r['blocked_by']) or '-'}\n    {r['query']}"
        for r in longest
    )
    return StepOutput(tuple(lines), details=details, healthy=not waiting and not stuck)


async def slow_queries(ctx: StepContext, params: SlowQueriesParams) -> StepOutput:
    found = await _db(ctx).slow_queries(params.limit)
    if found is None:
        return StepOutput.of(
            line(
                "pg_stat_statements is not available in this database, so there are no query"
                " statistics. To enable it: add pg_stat_statements to shared_preload_libraries"
                " (a restart), then ",
                Code("CREATE EXTENSION pg_stat_statements;"),
                " in the database.",
            )
        )
    if not found:
        return StepOutput.of("pg_stat_statements has no statements recorded yet.")
    slow = [r for r in found if r["mean_ms"] >= SLOW_MEAN_MS]
    lines = [line(f"Top {len(found)} statements by total execution time:")]
    lines += [
        line(
            f"{r['total_ms'] / 1000:,.1f} s total,"
            f" {r['calls']:,} call{'s' if r['calls'] != 1 else ''}, {r['mean_ms']:,.1f} ms mean: ",
            _code(r["query"]),
            mark=Mark.WARNING if r in slow else None,
            bullet=True,
        )
        for r in found[:5]
    ]
    if len(found) > 5:
        lines.append(line(f"…and {len(found) - 5} more in the attached table"))
    header = f"{'total ms':>14} {'calls':>10} {'mean ms':>12} {'rows':>10}  query"
    details = "\n".join(
        [header]
        + [
            f"{r['total_ms']:>14,.1f} {r['calls']:>10,} {r['mean_ms']:>12,.1f}"
            f" {r['rows']:>10,}  {r['query']}"
            for r in found
        ]
    )
    return StepOutput(tuple(lines), details=details, healthy=not slow)
