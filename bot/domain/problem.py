"""The one way a service says "you got this wrong" or "you may not": a value with a message
for the person, never an exception that escapes to Slack, the API or the terminal."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    message: str  # one sentence for the person who asked
    refused: bool = False  # True: they may not do this (a guard), not a mistake in the asking
