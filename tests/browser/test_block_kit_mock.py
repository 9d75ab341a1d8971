"""The Block Kit mock behind docs/alert-thread.png (scripts/block_kit_mock.py), fed the blocks
the bot really builds for an alert thread (scripts/slack_samples.py: a group captured from the
real Alertmanager, through `summarize` and `alert_messages`): every text of those blocks is in
the mock's HTML and, read by headless Chromium, on the page as a person sees it; outside text
(an alert named `<script>`, a button labelled so) is shown as text, never run; emoji are drawn,
not left as shortcodes; and a block type the mock cannot draw is an error, not a gap in the
picture.

The words of a text are found here without the mock's help: Slack's control sequences
(`<url|label>`, `<@U…>`, `<!date^…|fallback>`) are read by hand, its escapes decoded, emoji
shortcodes and the markers `*`, `` ` ``, `~` and a word's edge `_` left out."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright

from bot.domain.alerts import Alert, summarize
from bot.slack.alert_messages import parent_blocks
from bot.slack.blocks import actions, button
from scripts.block_kit_mock import Message, Pane, UnknownBlock, block, page
from scripts.slack_samples import USERS, alert_thread, alert_thread_panes
from tests.harness.browser import DESKTOP, BrowserToolsMissing, browser_tools, launch

CONTROL = re.compile(r"<([^<>]*)>")
SHORTCODE = re.compile(r":[a-z0-9_+-]+:")
SCRIPT = "<script>document.title='pwned'</script>"


def texts(value: Any) -> Iterator[str]:
    """Every composition text object's text in a block tree, wherever it sits."""
    if isinstance(value, Mapping):
        if value.get("type") in ("mrkdwn", "plain_text") and isinstance(value.get("text"), str):
            yield value["text"]
        for item in value.values():
            yield from texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from texts(item)


def _shown(inner: str) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return "@" + USERS.get(target[1:], label or target[1:])
    return label or target


def words(text: str) -> list[str]:
    """What a person reads of a text, word by word."""
    plain = CONTROL.sub(lambda m: f" {_shown(m.group(1))} ", text)
    plain = plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    plain = SHORTCODE.sub(" ", plain)
    for marker in "*`~":
        plain = plain.replace(marker, " ")
    return [w.strip("_") for w in plain.split() if w.strip("_")]


def thread_blocks() -> list[dict[str, Any]]:
    return [b for _, blocks in alert_thread() for b in blocks]


def hostile_blocks() -> list[dict[str, Any]]:
    """An alert whose name, labels and annotations are markup, and a button labelled so."""
    alert = Alert(
        fingerprint="f1",
        status="firing",
        labels={"alertname": SCRIPT, "severity": "critical", "pod": "<b>pod</b>"},
        annotations={"summary": "<img src=x onerror=alert(1)> & <!channel>"},
    )
    view = summarize(
        "{}:{}",
        [alert],
        common_labels=dict(alert.labels),
        common_annotations={},
        external_url="",
        known_services={},
    )
    return [*parent_blocks(view, "g1"), actions("x", button(SCRIPT, "x", "x"))]


def test_every_text_of_the_real_alert_thread_is_in_the_mock() -> None:
    blocks = thread_blocks()
    shown = page([Pane("thread", [Message(blocks, users=USERS)])])
    found = list(texts(blocks))

    # The parent's header, fields, summary, description, alerts, links, note and buttons.
    assert len(found) >= 15
    missing = {w for t in found for w in words(t) if html.escape(w, quote=False) not in shown}
    assert not missing
    assert "<script" not in shown.lower()


def test_markup_in_labels_is_escaped_text() -> None:
    shown = page([Pane("thread", [Message(hostile_blocks())])])

    assert "<script" not in shown.lower() and "<img" not in shown.lower()
    assert "<b>pod</b>" not in shown
    assert html.escape(SCRIPT, quote=False) in shown
    assert "&lt;img src=x onerror=alert(1)&gt; &amp;" in shown
    # `<!channel>` in an annotation reaches Slack escaped: text, not a ping.
    assert "&lt;!channel&gt;" in shown


def test_a_block_the_mock_cannot_draw_is_an_error() -> None:
    with pytest.raises(UnknownBlock):
        block({"type": "video", "title": {"type": "plain_text", "text": "x"}})
    with pytest.raises(UnknownBlock):
        block({"type": "actions", "elements": [{"type": "workflow_button"}]})


# -- in the browser ------------------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    try:
        tools = browser_tools()
    except BrowserToolsMissing as exc:
        pytest.fail(f"the browser tests need Chromium and axe-core: {exc}")
    async with async_playwright() as playwright:
        chromium = await launch(playwright, tools)
        yield chromium
        await chromium.close()


@pytest.mark.asyncio(loop_scope="module")
async def test_the_screenshots_alert_thread_reads_as_its_blocks_say(browser: Browser) -> None:
    tab = await browser.new_page(viewport=DESKTOP)
    await tab.set_content(page(alert_thread_panes()), wait_until="load")
    seen = await tab.inner_text("body")

    missing = {w for t in texts(thread_blocks()) for w in words(t) if w not in seen}
    assert not missing
    assert not SHORTCODE.search(seen), "an emoji left as its shortcode"
    buttons = ["Acknowledge", "Declare incident", "Silence 1h", "Run playbook"]
    # The parent in the channel, and again at the top of its thread.
    assert await tab.locator("[role=button]").all_inner_texts() == buttons * 2
    assert "@alice" in seen and "U0ALICE" not in seen
    await tab.close()


@pytest.mark.asyncio(loop_scope="module")
async def test_a_script_label_is_shown_never_run(browser: Browser) -> None:
    tab = await browser.new_page(viewport=DESKTOP)
    await tab.set_content(page([Pane("thread", [Message(hostile_blocks())])]), wait_until="load")
    seen = await tab.inner_text("body")

    assert SCRIPT in seen
    assert await tab.evaluate("document.querySelectorAll('script, img').length") == 0
    assert await tab.title() != "pwned"
    await tab.close()
