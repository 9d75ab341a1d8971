"""A static HTML mock of Slack messages made of Block Kit blocks, for the screenshots in docs/
(`make screenshots`, scripts/screenshots.py) and the tests that read it
(tests/browser/test_block_kit_mock*.py). Not product code: it imitates how Slack's client
shows the block types the bot sends (header, section with text, fields and an accessory,
context, actions with buttons, divider, image) and their mrkdwn, closely enough to show what
the bot looks like, nothing more.

Every text is HTML-escaped once, here: mrkdwn arrives with Slack's own escapes (`&lt;`,
`&gt;`, `&amp;`), which are decoded and escaped again for HTML, so a label `<script>` is shown
as text. A block type this mock does not know is an error, never left out silently.

    .venv/bin/python scripts/block_kit_mock.py blocks.json > message.html
"""

from __future__ import annotations

import html
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Block = Mapping[str, Any]

# The emoji the bot's messages use, drawn with CSS (the browser may have no emoji font): a
# shortcode maps to (css class, glyph). Others are shown as their shortcode, as Slack does for
# an emoji it does not know.
EMOJI: dict[str, tuple[str, str]] = {
    "red_circle": ("dot red", ""),
    "large_orange_circle": ("dot orange", ""),
    "large_yellow_circle": ("dot yellow", ""),
    "large_green_circle": ("dot green", ""),
    "white_circle": ("dot white", ""),
    "white_check_mark": ("box green", "✔"),
    "heavy_check_mark": ("glyph", "✔"),
    "x": ("box red", "✕"),
    "warning": ("glyph amber", "⚠"),
    "fire": ("box orange", "▲"),
    "rotating_light": ("box red", "!"),
    "eyes": ("box grey", "◉"),
    "grey_question": ("box grey", "?"),
    "hourglass": ("glyph", "⌛"),
    "hourglass_flowing_sand": ("glyph", "⌛"),
    "heavy_minus_sign": ("glyph", "\u2212"),
    "information_source": ("box blue", "i"),
    "rocket": ("box blue", "↑"),
    "lock": ("glyph", "●"),
    "pause_button": ("box grey", "‖"),
    "memo": ("box grey", "✎"),
    "arrows_counterclockwise": ("box blue", "↻"),
    "bust_in_silhouette": ("box grey", "●"),
    "pushpin": ("glyph red", "●"),
}
EMOJI_CODE = re.compile(r":([a-z0-9_+-]+):")
# Slack's control sequences: <url|label>, <@U123>, <#C123|name>, <!here>, <!date^…|fallback>.
CONTROL = re.compile(r"<([^<>]*)>")
CODE_BLOCK = re.compile(r"```(.+?)```", re.DOTALL)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
# Bold, italic and strike as Slack reads them: the marker next to a word, not inside one.
BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")


class UnknownBlock(ValueError):
    """A block or element type this mock cannot show."""


def _unslack(text: str) -> str:
    """Slack's three escapes back to the characters they stand for."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def emoji(text: str) -> str:
    """`:red_circle:` shortcodes in already HTML-escaped text as the mock's drawn emoji."""

    def one(match: re.Match[str]) -> str:
        found = EMOJI.get(match.group(1))
        if found is None:
            return match.group(0)
        css, glyph = found
        return f'<span class="emoji {css}" role="img" aria-label="{match.group(1)}">{glyph}</span>'

    return EMOJI_CODE.sub(one, text)


def _styled(text: str) -> str:
    """Inline mrkdwn of text outside control sequences and code: the text is escaped first,
    then its markers become tags (escaping leaves `*`, `_` and `~` alone)."""
    out = html.escape(_unslack(text), quote=False)
    out = BOLD.sub(r"<b>\1</b>", out)
    out = ITALIC.sub(r"<i>\1</i>", out)
    out = STRIKE.sub(r"<s>\1</s>", out)
    return emoji(out)


def _control(inner: str, users: Mapping[str, str]) -> str:
    """One `<…>` sequence as Slack shows it."""
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        uid = target[1:]
        name = users.get(uid) or label or uid
        return f'<span class="mention">@{html.escape(_unslack(name))}</span>'
    if target.startswith("#"):
        name = label or target[1:]
        return f'<span class="mention">#{html.escape(_unslack(name))}</span>'
    if target.startswith("!date^"):
        # Slack shows the time in the reader's zone; the mock shows the fallback.
        return html.escape(_unslack(label or target))
    if target.startswith("!subteam^"):
        return f'<span class="mention">{html.escape(_unslack(label or "@group"))}</span>'
    if target.startswith("!"):
        return f'<span class="mention">@{html.escape(_unslack(target[1:]))}</span>'
    url = _unslack(target)
    shown = _unslack(label) if label else url
    return f'<a href="{html.escape(url, quote=True)}">{emoji(html.escape(shown, quote=False))}</a>'


def _inline(text: str, users: Mapping[str, str]) -> str:
    """A line's worth of mrkdwn: code spans kept verbatim, control sequences, then styling."""
    out: list[str] = []
    pos = 0
    for match in CODE_SPAN.finditer(text):
        out.append(_outside_code(text[pos : match.start()], users))
        out.append(f"<code>{html.escape(_unslack(match.group(1)), quote=False)}</code>")
        pos = match.end()
    out.append(_outside_code(text[pos:], users))
    return "".join(out)


def _outside_code(text: str, users: Mapping[str, str]) -> str:
    out: list[str] = []
    pos = 0
    for match in CONTROL.finditer(text):
        out.append(_styled(text[pos : match.start()]))
        out.append(_control(match.group(1), users))
        pos = match.end()
    out.append(_styled(text[pos:]))
    return "".join(out)


def mrkdwn(text: str, users: Mapping[str, str] | None = None) -> str:
    """Slack mrkdwn as HTML: ```pre``` blocks, `>` quotes, lines, and each line's markup."""
    users = users or {}
    parts: list[str] = []
    pos = 0
    for match in CODE_BLOCK.finditer(text):
        parts.append(_lines(text[pos : match.start()], users))
        body = html.escape(_unslack(match.group(1).strip("\n")), quote=False)
        parts.append(f"<pre>{body}</pre>")
        pos = match.end()
    parts.append(_lines(text[pos:], users))
    return "".join(parts)


def _lines(text: str, users: Mapping[str, str]) -> str:
    rendered = []
    for line in text.split("\n"):
        if line.startswith("&gt; ") or line.startswith("> "):
            quoted = line.split(" ", 1)[1]
            rendered.append(f"<blockquote>{_inline(quoted, users)}</blockquote>")
        else:
            rendered.append(_inline(line, users))
    out = "<br>".join(rendered)
    # A quote is a block of its own: no line break beside it.
    return out.replace("</blockquote><br>", "</blockquote>").replace(
        "<br><blockquote>", "<blockquote>"
    )


def text_object(obj: Mapping[str, Any], users: Mapping[str, str] | None = None) -> str:
    """A composition text object: mrkdwn, or plain text (escaped; emoji shortcodes drawn, as
    Slack does by default)."""
    kind = obj.get("type")
    if kind == "mrkdwn":
        return mrkdwn(str(obj.get("text", "")), users)
    if kind == "plain_text":
        plain = html.escape(str(obj.get("text", "")), quote=False).replace("\n", "<br>")
        return emoji(plain) if obj.get("emoji", True) else plain
    raise UnknownBlock(f"text object of type {kind!r}")


def element(el: Mapping[str, Any], users: Mapping[str, str] | None = None) -> str:
    """An interactive element: buttons as Slack draws them; others by their placeholder."""
    kind = el.get("type")
    if kind == "button":
        style = el.get("style")
        css = f"button {style}" if style in ("primary", "danger") else "button"
        label = text_object(el["text"], users)
        return f'<span class="{css}" role="button">{label}</span>'
    if kind == "image":
        alt = html.escape(str(el.get("alt_text", "")), quote=True)
        return f'<span class="thumb" role="img" aria-label="{alt}"></span>'
    if kind in ("static_select", "users_select", "overflow", "datepicker"):
        placeholder = el.get("placeholder")
        label = text_object(placeholder, users) if placeholder else "Select…"
        return f'<span class="button select">{label}</span>'
    raise UnknownBlock(f"element of type {kind!r}")


def block(b: Block, users: Mapping[str, str] | None = None) -> str:
    kind = b.get("type")
    if kind == "header":
        return f'<div class="header">{text_object(b["text"], users)}</div>'
    if kind == "section":
        parts = []
        if b.get("text"):
            parts.append(f'<div class="text">{text_object(b["text"], users)}</div>')
        if b.get("fields"):
            cells = "".join(
                f'<div class="field">{text_object(f, users)}</div>' for f in b["fields"]
            )
            parts.append(f'<div class="fields">{cells}</div>')
        accessory = b.get("accessory")
        side = f'<div class="accessory">{element(accessory, users)}</div>' if accessory else ""
        return f'<div class="section"><div class="body">{"".join(parts)}</div>{side}</div>'
    if kind == "context":
        items = []
        for el in b.get("elements", []):
            if el.get("type") == "image":
                items.append(element(el, users))
            else:
                items.append(f"<span>{text_object(el, users)}</span>")
        return f'<div class="context">{"".join(items)}</div>'
    if kind == "actions":
        buttons = "".join(element(el, users) for el in b.get("elements", []))
        return f'<div class="actions">{buttons}</div>'
    if kind == "divider":
        return '<hr class="divider">'
    if kind == "image":
        alt = html.escape(str(b.get("alt_text", "")), quote=True)
        title = text_object(b["title"], users) if b.get("title") else ""
        return f'<div class="image" role="img" aria-label="{alt}">{title}</div>'
    raise UnknownBlock(f"block of type {kind!r}")


@dataclass
class Message:
    """One message as a channel or thread shows it: who sent it, when, and its blocks (or, for
    a message without blocks, its text as mrkdwn)."""

    blocks: Sequence[Block]
    sender: str = "incident-bot"
    time: str = "9:26 AM"
    text: str = ""
    app: bool = True
    replies: int = 0
    users: Mapping[str, str] = field(default_factory=dict)


def message(msg: Message) -> str:
    body = (
        "".join(block(b, msg.users) for b in msg.blocks)
        if msg.blocks
        else f'<div class="section"><div class="body"><div class="text">'
        f"{mrkdwn(msg.text, msg.users)}</div></div></div>"
    )
    badge = '<span class="badge">APP</span>' if msg.app else ""
    initial = html.escape(msg.sender[:1].upper())
    replies = (
        f'<div class="replies">{msg.replies} repl{"y" if msg.replies == 1 else "ies"}</div>'
        if msg.replies
        else ""
    )
    return (
        '<div class="message">'
        f'<div class="avatar" aria-hidden="true">{initial}</div>'
        '<div class="content">'
        f'<div class="meta"><span class="sender">{html.escape(msg.sender)}</span>{badge}'
        f'<span class="time">{html.escape(msg.time)}</span></div>'
        f"{body}{replies}</div></div>"
    )


STYLE = """
* { box-sizing: border-box; }
body { margin: 0; background: #f8f8f8; color: #1d1c1d; font: 15px/1.46668 "Lato",
  "Liberation Sans", "DejaVu Sans", Helvetica, Arial, sans-serif; }
main { display: flex; gap: 0; max-width: 1280px; }
.pane { background: #fff; border-right: 1px solid #ddd; flex: 1 1 0; min-width: 0; }
.pane.thread { flex: 0 0 520px; border-right: 0; border-left: 1px solid #ddd; }
.pane h1 { margin: 0; padding: 14px 20px; font-size: 18px; font-weight: 900;
  border-bottom: 1px solid #ddd; }
.pane h1 small { font-weight: 400; color: #616061; font-size: 13px; margin-left: 6px; }
.message { display: flex; gap: 8px; padding: 8px 20px; }
.avatar { flex: 0 0 36px; height: 36px; border-radius: 6px; background: #e01e5a; color: #fff;
  font-weight: 900; display: flex; align-items: center; justify-content: center; }
.content { min-width: 0; flex: 1; }
.meta { display: flex; align-items: baseline; gap: 6px; }
.sender { font-weight: 900; }
.badge { background: #e8e8e8; color: #616061; font-size: 10px; font-weight: 700;
  padding: 0 3px; border-radius: 2px; }
.time { color: #616061; font-size: 12px; }
.header { font-size: 18px; font-weight: 900; line-height: 1.33; margin: 4px 0 2px; }
.section { display: flex; gap: 12px; margin: 4px 0; }
.section .body { flex: 1; min-width: 0; overflow-wrap: anywhere; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 16px; margin: 4px 0; }
.context { color: #616061; font-size: 12px; margin: 6px 0; display: flex; flex-wrap: wrap;
  gap: 4px 10px; align-items: center; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; margin: 10px 0 4px; }
.button { display: inline-block; border: 1px solid #bbb; border-radius: 4px; padding: 0 12px;
  height: 28px; line-height: 26px; font-size: 13px; font-weight: 700; background: #fff;
  color: #1d1c1d; white-space: nowrap; }
.button.primary { background: #007a5a; border-color: #007a5a; color: #fff; }
.button.danger { background: #e01e5a; border-color: #e01e5a; color: #fff; }
.divider { border: 0; border-top: 1px solid #ddd; margin: 10px 0; }
a { color: #1264a3; text-decoration: none; }
.mention { color: #1264a3; background: #e8f5fa; border-radius: 3px; padding: 0 2px; }
code { font: 12px "DejaVu Sans Mono", Menlo, monospace; color: #c01343; background: #f6f6f6;
  border: 1px solid #ddd; border-radius: 3px; padding: 1px 3px; }
pre { font: 12px "DejaVu Sans Mono", Menlo, monospace; background: #f6f6f6;
  border: 1px solid #ddd; border-radius: 4px; padding: 8px; white-space: pre-wrap; }
blockquote { margin: 2px 0; padding-left: 10px; border-left: 4px solid #ddd; }
.emoji { display: inline-flex; width: 1.1em; height: 1.1em; vertical-align: -0.15em;
  align-items: center; justify-content: center; font-size: 0.75em; font-weight: 900;
  border-radius: 3px; color: #fff; }
.emoji.dot { border-radius: 50%; width: 0.9em; height: 0.9em; vertical-align: -0.05em; }
.emoji.glyph { color: #616061; font-size: 1em; }
.red { background: #dd2e44; } .orange { background: #f4900c; } .yellow { background: #fdcb58; }
.green { background: #78b159; } .white { background: #fff; border: 1px solid #bbb; }
.grey { background: #8899a6; } .blue { background: #55acee; }
.glyph.amber { color: #f4900c; background: none; } .glyph.red { color: #dd2e44; background: none; }
.replies { color: #1264a3; font-size: 13px; font-weight: 700; margin-top: 4px; }
.separator { display: flex; align-items: center; gap: 8px; color: #616061; font-size: 13px;
  padding: 4px 20px; }
.separator::after { content: ""; flex: 1; border-top: 1px solid #ddd; }
.thumb { display: inline-block; width: 20px; height: 20px; background: #ddd; border-radius: 3px; }
.image { background: #eee; border-radius: 4px; padding: 40px; color: #616061; }
"""


@dataclass
class Pane:
    """A channel or a thread: a title and its messages, in order."""

    title: str
    messages: Sequence[Message]
    subtitle: str = ""
    thread: bool = False
    # In a thread, the line between the parent and its replies ("2 replies").
    replies_after_first: bool = False


def pane(p: Pane) -> str:
    shown = []
    for index, msg in enumerate(p.messages):
        shown.append(message(msg))
        if index == 0 and p.replies_after_first and len(p.messages) > 1:
            n = len(p.messages) - 1
            shown.append(f'<div class="separator">{n} repl{"y" if n == 1 else "ies"}</div>')
    sub = f"<small>{html.escape(p.subtitle)}</small>" if p.subtitle else ""
    css = "pane thread" if p.thread else "pane"
    return f'<section class="{css}"><h1>{html.escape(p.title)}{sub}</h1>{"".join(shown)}</section>'


def page(panes: Iterable[Pane], title: str = "Slack messages (mock)") -> str:
    """A whole HTML document: no script, nothing loaded from anywhere."""
    body = "".join(pane(p) for p in panes)
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\';'
        " style-src 'unsafe-inline'\">"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    data = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    blocks = data["blocks"] if isinstance(data, dict) else data
    sys.stdout.write(page([Pane("message", [Message(blocks)])]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
