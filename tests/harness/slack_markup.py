"""What a person in Slack would be pinged by or sent to: the mentions, broadcasts and links in
everything the bot sent the fake Slack, and which of them the bot did not mean.

Slack acts on `<…>` sequences in mrkdwn: `<!channel>` and the like ping people, `<@U…>` mentions
a user, `<#C…>` links a channel, `<url|label>` is a link whose label hides where it goes. Outside
text reaches Slack escaped (`&lt;`), so any `<` that arrives started a sequence the bot wrote.
The bot means a mention of a user Slack told it about, a link to a channel that exists, Slack's
own date formatting, and links to the places a test configured or sent as URLs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.slack_api import FakeSlack

# Where the bot's own links go: the bundled config's links, the alerts' URLs and PagerDuty's
# incident pages.
LINK_HOSTS = frozenset(
    {
        "grafana.factsway.example",
        "github.com",
        "grafana.example",
        "runbooks.example",
        "prometheus.example",
        "alertmanager.example",
        "acme.pagerduty.com",
    }
)
SEQUENCE = re.compile(r"<([^<>]*)>")
# Slack's date formatting (https://docs.slack.dev/messaging/formatting-message-text#date-formatting)
DATE = re.compile(r"!date\^\d+\^[^|]*(\|.*)?", re.DOTALL)


@dataclass(frozen=True)
class Meant:
    users: frozenset[str]
    channels: frozenset[str]
    link_hosts: frozenset[str]

    def allows(self, inner: str) -> bool:
        if inner.startswith("@"):
            return inner[1:] in self.users
        if inner.startswith("#"):
            return inner[1:] in self.channels
        if inner.startswith("!"):
            return DATE.fullmatch(inner) is not None
        url = inner.split("|", 1)[0]
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and parts.hostname in self.link_hosts


def meant(fake: FakeSlack, link_hosts: Iterable[str], actors: Iterable[str] = ()) -> Meant:
    """Users Slack knows, and actors an API caller named by a user id; the fake's channels."""
    ids = {a for a in actors if re.fullmatch(r"[UW][A-Z0-9]{1,40}", a)}
    return Meant(
        frozenset(fake.users) | frozenset(ids), frozenset(fake.channels), frozenset(link_hosts)
    )


def strings(value: Any) -> Iterator[str]:
    """Every string in a call's arguments that Slack may read as mrkdwn. A Block Kit
    `plain_text` object is shown as it is written (https://docs.slack.dev/reference/
    block-kit/composition-objects/text-object), so its text is no markup."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        if value.get("type") == "plain_text":
            return
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


def sent(fake: FakeSlack, *, calls: int = 0, responses: int = 0) -> Iterator[tuple[str, str]]:
    """(where, text) for every string the bot sent, from the `calls`-th Web API call and the
    `responses`-th response_url answer on: arguments (text, blocks, topics, bookmarks, views…)
    and answers."""
    for call in fake.calls[calls:]:
        for text in strings(call.decoded):
            yield call.method, text
    for response in fake.responses[responses:]:
        for text in strings(response):
            yield "response_url", text


def unmeant(texts: Iterable[tuple[str, str]], allowed: Meant) -> list[tuple[str, str]]:
    """Each (where, what) that would ping, mention or link unasked: a sequence the bot did not
    mean, or a bare `<`/`>` that escaping should have turned into `&lt;`/`&gt;`."""
    found = []
    for where, text in texts:
        for match in SEQUENCE.finditer(text):
            if not allowed.allows(match[1]):
                found.append((where, match[0]))
        rest = SEQUENCE.sub("", text)
        if "<" in rest or ">" in rest:
            found.append((where, text))
    return found
