"""Leases: which replica does the work that must happen once, and the epoch that fences it.

A lease is held until `expires_at` and renewed by its holder well before then. Another replica
takes it only once it has expired, and each new holding gets a larger epoch. Work done under
the lease carries the epoch it was started with, and the store refuses it once the epoch has
moved on, so a holder that was paused past its lease cannot act as if it still held it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    epoch: int
    expires_at: float


def claim(current: Lease | None, name: str, holder: str, now: float, ttl: float) -> Lease | None:
    """The lease after `holder` asks for it at `now`, or None when another holds it."""
    if current is None:
        return Lease(name, holder, 1, now + ttl)
    if current.holder == holder and current.expires_at > now:
        return Lease(name, holder, current.epoch, now + ttl)
    if current.expires_at <= now:
        # Even the same holder starts a new epoch after a lapse: another may have held it since,
        # and what it started under the old one may already have been taken over.
        return Lease(name, holder, current.epoch + 1, now + ttl)
    return None
