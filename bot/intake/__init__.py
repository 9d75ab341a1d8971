"""Webhook intake: verify, parse and identify deliveries before they are stored."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rejected:
    """A delivery the sender got wrong: the HTTP status and a one-line reason."""

    status: int
    reason: str
