"""Who may change an incident from chat: its severity, its roles, resolving and closing it.

The rule: the incident's commander, its declarer, anyone holding a role on it, and the
configured operators may make any of these changes. Raising the severity is open to anyone in
the incident's channel, since escalating must never wait for the right person during an
outage. A command typed in another channel acts on an incident only for the people who could
act on it anyway (raising included: join the channel to escalate).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bot.domain.incident import Incident, Severity


class Change(enum.StrEnum):
    # As the refusal says them: "… may lower its severity".
    RAISE_SEVERITY = "raise its severity"
    LOWER_SEVERITY = "lower its severity"
    SET_ROLE = "give out its roles"
    RESOLVE = "resolve it"
    CLOSE = "close it"


def severity_change(old: Severity, new: Severity) -> Change:
    # P0 is the most severe, and the names sort that way.
    return Change.RAISE_SEVERITY if new < old else Change.LOWER_SEVERITY


def responders(incident: Incident) -> frozenset[str]:
    return frozenset({incident.commander, incident.declared_by, *incident.roles.values()})


def is_person(principal: str) -> bool:
    """A Slack user ID, as opposed to "alertmanager", "api" or a CLI user's name."""
    return principal[:1] in ("U", "W")


@dataclass(frozen=True)
class Asker:
    user: str
    channel: str  # where the command was typed


def allowed_without_operator(incident: Incident, asker: Asker, change: Change) -> bool:
    """True when the rule lets this person make the change whoever the operators are."""
    if asker.user in responders(incident):
        return True
    in_channel = incident.channel_id is not None and asker.channel == incident.channel_id
    if not in_channel:
        return False
    if change == Change.RAISE_SEVERITY:
        return True
    # An incident declared by an alert has no person leading it: the first to take a role in
    # its channel does, or nobody but an operator could ever lower or resolve it.
    return change == Change.SET_ROLE and not any(is_person(r) for r in responders(incident))


def refusal(incident: Incident, asker: Asker, change: Change) -> str:
    """Why the change was refused, and who could make it."""
    in_channel = incident.channel_id is not None and asker.channel == incident.channel_id
    if change == Change.RAISE_SEVERITY and not in_channel:
        return (
            f"Only the people in #{incident.id}'s own channel may raise its severity from"
            " Slack: join it and run the command there. The refusal is recorded."
        )
    return (
        f"Only #{incident.id}'s commander, its declarer, someone with a role on it or an"
        f" operator may {change}. Ask one of them, or to be given a role"
        " (`/incident role ROLE @you`). The refusal is recorded."
    )
