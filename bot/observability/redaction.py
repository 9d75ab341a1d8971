"""Keeps secrets out of logs, Slack messages and Sentry events."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"
SECRET_KEY = re.compile(r"password|passwd|token|secret|api_?key|authorization|cookie|dsn", re.I)
# Linear time: a scheme starts only where a word does and is short, and the user and password
# parts are bounded and possessive, so a long run of letters is read once, not once per letter,
# and a password that never reaches an @ is given up at once instead of backed through.
URL_CREDENTIALS = re.compile(
    r"(?P<keep>(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,31}+://[^:/@\s]{0,256}+:)[^@\s]{1,1024}+(?=@)",
    re.I,
)
URL_SPAN = 32 + 3 + 256 + 1 + 1024 + 1  # its longest match, and the @ it looks ahead for
AWS_KEY_ID = re.compile(r"AKIA[0-9A-Z]{16}")
# Credentials inside URLs and common token shapes, wherever they appear in text: each with the
# fixed-length start any match of it begins with (found in slices, see _sub) and that length.
PATTERNS: tuple[tuple[re.Pattern[str], re.Pattern[str], int], ...] = (
    (URL_CREDENTIALS, URL_CREDENTIALS, URL_SPAN),
    (re.compile(r"xox[abposr]-[A-Za-z0-9-]+"), re.compile(r"xox[abposr]-"), 5),
    (re.compile(r"xapp-[A-Za-z0-9-]+"), re.compile(r"xapp-"), 5),
    (
        re.compile(
            r"(?P<keep>(?:password|passwd|pwd|token|secret|api_?key)\s*[=:]\s*)[^\s,;&]+", re.I
        ),
        re.compile(r"password|passwd|pwd|token|secret|api_?key", re.I),
        8,
    ),
    (
        re.compile(r"(?P<keep>Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I),
        re.compile(r"Bearer", re.I),
        6,
    ),
    # Basic credentials only next to an Authorization header name: "basic" is a common word.
    (
        re.compile(r"(?P<keep>Authorization['\"]?\s*[:=]\s*['\"]?Basic\s+)[A-Za-z0-9+/=]+", re.I),
        re.compile(r"Authorization", re.I),
        13,
    ),
    (AWS_KEY_ID, AWS_KEY_ID, 20),
)
SECRET_TEXT = [pattern for pattern, _, _ in PATTERNS]
# The patterns whose match a cut can leave unrecognisable (the others match any prefix of
# themselves), with their longest match and how far past its end they look (the @).
BOUNDED = ((URL_CREDENTIALS, URL_SPAN, 1), (AWS_KEY_ID, 20, 0))
# Text is searched in slices of this size: no single call into the regex engine runs long, so
# a thread scrubbing megabytes hands the interpreter back to the event loop between slices.
SLICE = 8192


def _replacement(match: re.Match[str]) -> str:
    return (match.groupdict().get("keep") or "") + REDACTED


def _sub(pattern: re.Pattern[str], start: re.Pattern[str], span: int, text: str) -> str:
    """`pattern.sub`, the same matches found the same way, in bounded steps: the start of a
    match is searched for one slice at a time (with room for `span` past the slice, the most a
    start can take), and the whole match is read from there."""
    if len(text) <= SLICE:
        return pattern.sub(_replacement, text)
    out: list[str] = []
    pos, end = 0, len(text)
    while pos < end:
        accept = min(end, pos + SLICE)
        begins = start.search(text, pos, min(end, accept + span))
        if begins is None or begins.start() >= accept:
            out.append(text[pos:accept])
            pos = accept
            continue
        found = begins if start is pattern else pattern.match(text, begins.start())
        if found is None:
            out.append(text[pos : begins.start() + 1])
            pos = begins.start() + 1
            continue
        out += [text[pos : found.start()], _replacement(found)]
        pos = found.end()
    return "".join(out)


def scrub_text(text: str, known: Iterable[str] = (), *, limit: int | None = None) -> str:
    """`text` without secrets. With `limit`, longer text is cut to about that many characters
    first, with a marker saying so, and a secret the cut would split is cut off whole."""
    known = tuple(value for value in known if value and len(value) >= 4)
    if limit is not None:
        text = truncate(text, limit, known)
    for value in known:
        text = text.replace(value, REDACTED)
    for pattern, start, span in PATTERNS:
        text = _sub(pattern, start, span, text)
    return text


def truncate(text: str, limit: int, known: Iterable[str] = ()) -> str:
    """At most `limit` characters of `text`, and a marker when some were cut. The cut moves
    back to the start of any secret that spans it: a URL's password cut before its @ would no
    longer look like one, and half a known secret would no longer be found."""
    if len(text) <= limit:
        return text
    known = tuple(known)
    cut = limit
    while (earlier := _straddling(text, cut, known)) is not None:
        cut = earlier
    return f"{text[:cut]} […{len(text) - cut} more characters cut]"


def _straddling(text: str, cut: int, known: tuple[str, ...]) -> int | None:
    """The start of the earliest secret that begins before `cut` and ends after it."""
    starts: list[int] = []
    for value in known:
        at = text.find(value, max(0, cut - len(value) + 1), cut + len(value) - 1)
        while 0 <= at < cut:
            starts.append(at)
            at = text.find(value, at + 1, cut + len(value) - 1)
    for pattern, span, beyond in BOUNDED:
        pos, end = max(0, cut - span), min(len(text), cut + span)
        # From every start, not only where the last match ended: any match may be the one
        # the scrubber would have found, whatever came before it.
        while (found := pattern.search(text, pos, end)) is not None and found.start() < cut:
            if found.end() + beyond > cut:
                starts.append(found.start())
            pos = found.start() + 1
    return min(starts) if starts else None


def scrub(value: Any, known: Iterable[str] = (), *, limit: int | None = None) -> Any:
    """Returns a copy with secret-named keys masked at any depth and secrets in text removed;
    with `limit`, each string is first cut to about that length (see `truncate`)."""
    known = tuple(known)
    if isinstance(value, dict):
        return {
            k: REDACTED
            if isinstance(k, str) and SECRET_KEY.search(k)
            else scrub(v, known, limit=limit)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v, known, limit=limit) for v in value]
    if isinstance(value, str):
        return scrub_text(value, known, limit=limit)
    return value
