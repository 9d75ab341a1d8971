"""The confirmation message of a dangerous action, from request to result."""

from __future__ import annotations

from bot.domain.actions import ActionState, PendingAction, title
from bot.slack.blocks import (
    MAX_MESSAGE_TEXT,
    Block,
    actions,
    button,
    clip,
    context,
    escape,
    fields,
    section,
)

ICON = {
    ActionState.PENDING: ":raised_hand:",
    ActionState.RUNNING: ":hourglass_flowing_sand:",
    ActionState.DONE: ":white_check_mark:",
    ActionState.FAILED: ":x:",
    ActionState.CANCELLED: ":no_entry_sign:",
    ActionState.EXPIRED: ":hourglass:",
}


def text(action: PendingAction, note: str = "") -> str:
    base = f"{ICON[action.state]} {escape(title(action))}: {action.state}"
    return clip(f"{base}. {escape(note)}" if note else base, MAX_MESSAGE_TEXT)


def blocks(action: PendingAction, note: str = "", needed: int = 1) -> list[Block]:
    plan = action.plan
    out: list[Block] = [
        section(
            f"{ICON[action.state]} *{escape(title(action))}* requested by <@{action.requested_by}>"
        ),
        fields([("Now", escape(plan.before)), ("After", escape(plan.after))]),
    ]
    if plan.detail.get("note"):  # what the operator must know before confirming (an HPA)
        out.append(section(f":warning: {escape(str(plan.detail['note']))}"))
    if action.approvals:
        out.append(context("Confirmed by " + ", ".join(f"<@{u}>" for u in action.approvals)))
    if note:
        out.append(section(escape(note)))
    if action.state == ActionState.PENDING:
        remaining = needed - len(action.approvals)
        if needed > 1:
            out.append(
                context(
                    f"Two-person rule for P0 rollbacks: {remaining} more operator"
                    f"{'s' if remaining != 1 else ''} must confirm."
                )
            )
        out.append(
            actions(
                f"action:{action.id}",
                button("Confirm", "action_confirm", str(action.id), style="danger"),
                button("Cancel", "action_cancel", str(action.id)),
            )
        )
    elif action.result:
        out.append(section(f"*Result:* {escape(action.result)}"))
    return out
