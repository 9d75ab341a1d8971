"""Durable state: one Store protocol and its implementations."""

from bot.store.base import Store
from bot.store.records import AlertGroupState, OutboxRow, OutboxState

__all__ = ["AlertGroupState", "OutboxRow", "OutboxState", "Store"]
