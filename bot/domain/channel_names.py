"""Incident channel names Slack accepts: inc-<yyyymmdd>-<n>-<slug>, lowercase, <= 80 chars."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

MAX_LENGTH = 80


def slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug or "incident"


def channel_name(day: date, number: int, title: str, attempt: int = 0) -> str:
    """`attempt` > 0 gives the alternatives tried after Slack says `name_taken`."""
    prefix = f"inc-{day:%Y%m%d}-{number}-"
    suffix = f"-{attempt + 1}" if attempt else ""
    room = MAX_LENGTH - len(prefix) - len(suffix)
    slug = slugify(title)[:room].rstrip("-") or "incident"
    return f"{prefix}{slug}{suffix}"
