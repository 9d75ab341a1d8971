"""Runs a playbook's steps side by side, each bounded by its timeout and failing alone."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from bot.domain.report import Line, line, map_text
from bot.observability.redaction import scrub_text
from bot.playbooks.model import Playbook, StepContext, StepKind, StepUnavailable

log = logging.getLogger(__name__)
# Output longer than this (pod logs run to megabytes) is scrubbed in a thread: on the event loop
# it would hold up every request and Slack ack for seconds.
OFF_LOOP_CHARS = 64 * 1024
Outcome = Literal["ok", "problem", "failed", "timeout", "unavailable"]


@dataclass(frozen=True)
class StepResult:
    title: str
    kind: str
    outcome: Outcome
    lines: tuple[Line, ...]
    details: str
    seconds: float


async def run_playbook(
    playbook: Playbook,
    ctx: StepContext,
    kinds: Mapping[str, StepKind[Any]],
    *,
    quick_only: bool = False,
    secrets: Iterable[str] = (),
) -> list[StepResult]:
    known = tuple(secrets)
    chosen = [
        (spec, params)
        for spec, params in zip(playbook.spec.steps, playbook.params, strict=True)
        if spec.quick or not quick_only
    ]

    async def one(spec: Any, params: BaseModel) -> StepResult:
        kind = kinds[spec.kind]
        title = spec.title or kind.description
        started = time.monotonic()
        outcome: Outcome
        details = ""
        lines: tuple[Line, ...]
        try:
            output = await asyncio.wait_for(kind.run(ctx, params), spec.timeout)
        except StepUnavailable as exc:
            outcome, lines = "unavailable", (line(f"Skipped: {exc}"),)
        except TimeoutError:
            outcome = "timeout"
            lines = (line(f"Gave up after {spec.timeout:g} s (the step's timeout)"),)
        except Exception as exc:
            log.warning("playbook step failed", extra={"step": spec.kind, "error": str(exc)})
            outcome, lines = "failed", (line(f"Failed: {type(exc).__name__}: {exc}"),)
        else:
            outcome = "ok" if output.healthy else "problem"
            lines, details = output.lines, output.details
        # Output reaches people: whatever a log line or an error carried, no secret goes.
        lines = map_text(lines, lambda text: scrub_text(text, known))
        if len(details) > OFF_LOOP_CHARS:
            details = await asyncio.to_thread(scrub_text, details, known)
        else:
            details = scrub_text(details, known)
        return StepResult(
            title=title,
            kind=spec.kind,
            outcome=outcome,
            lines=lines,
            details=details,
            seconds=time.monotonic() - started,
        )

    return list(await asyncio.gather(*(one(spec, params) for spec, params in chosen)))
