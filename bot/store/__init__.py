"""Durable state: one Store protocol and its implementations."""

from bot.store.base import Store
from bot.store.records import AlertGroupRecord, OutboxRow, OutboxState

__all__ = ["AlertGroupRecord", "OutboxRow", "OutboxState", "Store"]
