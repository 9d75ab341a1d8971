"""JSON logs on stderr, one object per line, with secrets scrubbed."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from bot.observability.redaction import scrub, scrub_text

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
# Longer text in one field (a request body, a pod log at DEBUG) is cut before it is scrubbed:
# scrubbing must stay fast on every line, and nobody reads 100 kB of one log field.
FIELD_LIMIT = 16 * 1024
_JSON = (str, int, float, bool, type(None), dict, list, tuple)


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                # As text now, so the cut and the scrubbing see what the line will show.
                entry[key] = value if isinstance(value, _JSON) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        entry = scrub(entry, self._secrets, limit=FIELD_LIMIT)
        return scrub_text(json.dumps(entry, default=str), self._secrets)


def setup_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log repeats what /metrics counts; keep it for debugging only.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
