"""A playbook run as Slack shows it: one compact message, long output as files."""

from __future__ import annotations

from bot.playbooks.runner import StepResult
from bot.playbooks.service import Run
from bot.slack.blocks import Block, bounded, clip, context, escape, header, section
from bot.slack.report import mrkdwn

ICON = {
    "ok": ":white_check_mark:",
    "problem": ":warning:",
    "failed": ":x:",
    "timeout": ":hourglass:",
    "unavailable": ":heavy_minus_sign:",
}


def _step(result: StepResult) -> Block:
    return section(
        clip(
            f"{ICON[result.outcome]} *{escape(result.title)}* ({result.seconds:.1f} s)\n"
            + mrkdwn(result.lines),
            3000,
        )
    )


def run_message(run: Run) -> tuple[str, list[Block]]:
    target = f" for {run.service}" if run.service else ""
    problems = sum(r.outcome != "ok" for r in run.results)
    text = (
        f"Playbook {run.playbook.name}{target}: {len(run.results)} steps, {problems} need attention"
    )
    blocks: list[Block] = [
        header(f"{run.playbook.name}{target}"),
        context(run.playbook.spec.description),
    ]
    blocks += [_step(r) for r in run.results]
    return text, bounded(blocks)


def attachments(run: Run) -> list[tuple[str, str, str]]:
    """(filename, title, content) for each step with long output."""
    found = []
    for index, result in enumerate(run.results, start=1):
        if result.details:
            name = f"{run.playbook.name}-{index}-{result.kind.replace('.', '-')}.txt"
            found.append((name, result.title, result.details))
    return found
