"""How values are kept in columns, the same in both stores: times as ISO-8601 text in UTC,
JSON as text (so rows copy from one store to the other unchanged)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pydantic_core


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def json_text(value: object) -> str:
    """A column's JSON text by pydantic-core's encoder: a delivery writes ten label sets and a
    summary, and this takes a fifth of the time `json.dumps` does."""
    return pydantic_core.to_json(value).decode()


def from_json_text(text: str | bytes | None) -> Any:
    """A JSON column read back (pydantic-core's parser, three times `json.loads`'s speed)."""
    return pydantic_core.from_json(text) if text else None
