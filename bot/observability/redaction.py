"""Keeps secrets out of logs, Slack messages and Sentry events."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"
SECRET_KEY = re.compile(r"password|passwd|token|secret|api_?key|authorization|cookie|dsn", re.I)
# Credentials inside URLs and common token shapes, wherever they appear in text.
SECRET_TEXT = [
    # Linear time: a scheme starts only where a word does and is short, and the user and
    # password parts are bounded, so a long run of letters is read once, not once per letter.
    re.compile(
        r"(?P<keep>(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,31}://[^:/@\s]{0,256}:)[^@\s]{1,1024}(?=@)",
        re.I,
    ),
    re.compile(r"xox[abposr]-[A-Za-z0-9-]+"),
    re.compile(r"xapp-[A-Za-z0-9-]+"),
    re.compile(r"(?P<keep>(?:password|passwd|pwd|token|secret|api_?key)\s*[=:]\s*)[^\s,;&]+", re.I),
    re.compile(r"(?P<keep>Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I),
    # Basic credentials only next to an Authorization header name: "basic" is a common word.
    re.compile(r"(?P<keep>Authorization['\"]?\s*[:=]\s*['\"]?Basic\s+)[A-Za-z0-9+/=]+", re.I),
    re.compile(r"AKIA[0-9A-Z]{16}"),
]


def scrub_text(text: str, known: Iterable[str] = ()) -> str:
    for value in known:
        if value and len(value) >= 4:
            text = text.replace(value, REDACTED)
    for pattern in SECRET_TEXT:
        text = pattern.sub(lambda m: (m.groupdict().get("keep") or "") + REDACTED, text)
    return text


def scrub(value: Any, known: Iterable[str] = ()) -> Any:
    """Returns a copy with secret-named keys masked at any depth and secrets in text removed."""
    known = tuple(known)
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and SECRET_KEY.search(k) else scrub(v, known)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v, known) for v in value]
    if isinstance(value, str):
        return scrub_text(value, known)
    return value
