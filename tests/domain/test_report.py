"""Structured report lines and their renderers: a terminal sees plain words, Markdown sees the
outside text (pod events, log lines, queries) escaped so it is never read as markup.

The Markdown is checked by what a CommonMark renderer (markdown-it) makes of it, which is what
a reader of the post-mortem sees."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.domain.report import (
    Code,
    Faint,
    Line,
    Link,
    Mark,
    Strong,
    line,
    map_text,
    markdown_line,
    plain_line,
    plain_text,
    span_text,
)

COMMONMARK = MarkdownIt("commonmark")
# Text from outside that means something to Slack or Markdown.
HOSTILE = r"<!channel> ping <@U0123> *urgent* _now_ `rm -rf /` [click](http://evil.example) \o/"


def inline_tokens(markdown: str) -> list[Token]:
    found: list[Token] = []
    for block in COMMONMARK.parse(markdown):
        if block.type == "inline":
            found += block.children or []
    return found


def block_types(markdown: str) -> list[str]:
    return [t.type for t in COMMONMARK.parse(markdown)]


def shown(markdown: str) -> str:
    """The text a reader sees once the Markdown is rendered."""
    return "".join(t.content for t in inline_tokens(markdown) if t.type in ("text", "code_inline"))


def markup(markdown: str) -> list[str]:
    """What the renderer read as formatting rather than text."""
    return [t.type for t in inline_tokens(markdown) if t.type != "text"]


# Building lines -----------------------------------------------------------------------------


def test_line_drops_empty_text_and_keeps_everything_else() -> None:
    built = line("pod ", "", Code("api-7f9c"), " is ", Strong("CrashLoopBackOff"), mark=Mark.ERROR)
    assert built.spans == ("pod ", Code("api-7f9c"), " is ", Strong("CrashLoopBackOff"))
    assert built.mark is Mark.ERROR
    assert built.bullet is False
    assert line(bullet=True) == Line((), None, True)


def test_span_text_is_what_each_span_says() -> None:
    assert [span_text(s) for s in ("a", Code("b"), Strong("c"), Faint("d"))] == list("abcd")
    assert span_text(Link("https://grafana.example/d/x", "Dashboard")) == "Dashboard"


def test_map_text_changes_every_piece_of_text_and_keeps_the_shape() -> None:
    secret = "hunter2"
    lines = [
        line("password=hunter2 in ", Code("DSN=pg://u:hunter2@db"), mark=Mark.WARNING),
        line(Strong("hunter2"), Faint("(hunter2)"), bullet=True),
        line(Link("https://logs.example/?q=hunter2", "log hunter2")),
    ]
    scrubbed = map_text(lines, lambda text: text.replace(secret, "[REDACTED]"))
    assert scrubbed == (
        line("password=[REDACTED] in ", Code("DSN=pg://u:[REDACTED]@db"), mark=Mark.WARNING),
        line(Strong("[REDACTED]"), Faint("([REDACTED])"), bullet=True),
        line(Link("https://logs.example/?q=[REDACTED]", "log [REDACTED]")),
    )
    assert all(secret not in plain_line(ln) for ln in scrubbed)
    assert secret in plain_line(lines[0])  # the originals are left as they were


# Plain text for terminals -------------------------------------------------------------------


def test_a_plain_line_is_words_without_markup() -> None:
    ln = line(
        "pod ",
        Code("api-7f9c"),
        " restarted ",
        Strong("14"),
        " times ",
        Faint("(last hour)"),
        mark=Mark.PROBLEM,
        bullet=True,
    )
    assert plain_line(ln) == "- [FAIL] pod api-7f9c restarted 14 times (last hour)"


def test_a_plain_link_shows_its_address() -> None:
    ln = line("see ", Link("https://grafana.example/d/api", "the dashboard"))
    assert plain_line(ln) == "see the dashboard (https://grafana.example/d/api)"


def test_every_mark_reads_as_a_bracketed_word_in_a_terminal() -> None:
    rendered = {mark: plain_line(line("x", mark=mark)) for mark in Mark}
    for mark, text in rendered.items():
        prefix = text.removesuffix(" x")
        assert prefix.startswith("[") and prefix.endswith("]"), mark
        assert prefix[1:-1].isascii() and prefix[1:-1].isalpha(), mark
        assert ":" not in text
    assert len(set(rendered.values())) == len(Mark)  # each reads differently
    assert rendered[Mark.OK] == "[ok] x"
    assert rendered[Mark.PROBLEM] == "[FAIL] x"


def test_plain_output_leaves_outside_text_exactly_as_it_was() -> None:
    assert plain_line(line(HOSTILE)) == HOSTILE
    assert plain_line(line(Code("a `b` c"))) == "a `b` c"


def test_plain_text_puts_each_line_on_its_own() -> None:
    lines = [line("first", mark=Mark.OK), line("second", bullet=True), line()]
    assert plain_text(lines) == "[ok] first\n- second\n"
    assert plain_text([]) == ""


# Markdown -----------------------------------------------------------------------------------


def test_markdown_escapes_slack_mentions_and_markup_in_outside_text() -> None:
    assert markdown_line(line("<!channel> *x* _y_ `z`")) == r"\<!channel\> \*x\* \_y\_ \`z\`"


def test_outside_text_is_shown_as_written_and_never_read_as_markup() -> None:
    for text in (HOSTILE, "# not a heading", "> not a quote", "| a | b |", r"C:\temp\*"):
        markdown = markdown_line(line(text))
        assert shown(markdown) == text, markdown
        assert markup(markdown) == [], markdown
        assert block_types(markdown) == ["paragraph_open", "inline", "paragraph_close"]


def test_outside_html_is_not_passed_through() -> None:
    markdown = markdown_line(line("<script>alert(1)</script> <b>bold</b>"))
    assert "<script>" not in COMMONMARK.render(markdown)
    assert shown(markdown) == "<script>alert(1)</script> <b>bold</b>"


def test_code_spans_show_their_text_verbatim() -> None:
    for text in ("kubectl get pods -l app=api", "*not bold*", "a`b", "``", "say `hi`"):
        markdown = markdown_line(line(Code(text)))
        tokens = inline_tokens(markdown)
        assert [t.type for t in tokens] == ["code_inline"], markdown
        assert tokens[0].content == text, markdown


def test_strong_and_faint_are_formatted_with_their_text_escaped() -> None:
    markdown = markdown_line(line(Strong("*5xx* spike"), " ", Faint("no _query_ text")))
    assert markup(markdown) == ["strong_open", "strong_close", "em_open", "em_close"]
    assert shown(markdown) == "*5xx* spike no _query_ text"


def test_a_web_link_is_a_link_with_its_label_escaped() -> None:
    markdown = markdown_line(line(Link("https://grafana.example/d/api?from=now-1h", "API [p99]")))
    tokens = inline_tokens(markdown)
    assert [t.type for t in tokens] == ["link_open", "text", "link_close"]
    assert tokens[0].attrGet("href") == "https://grafana.example/d/api?from=now-1h"
    assert tokens[1].content == "API [p99]"


def test_a_link_address_with_spaces_or_brackets_still_makes_one_link() -> None:
    url = "https://logs.example/search?q=level:error app:(api)&to=>now"
    markdown = markdown_line(line(Link(url, "logs")))
    tokens = inline_tokens(markdown)
    assert [t.type for t in tokens] == ["link_open", "text", "link_close"]
    href = str(tokens[0].attrGet("href"))
    assert " " not in href
    assert href.startswith("https://logs.example/search?q=level:error%20app:(api)")
    assert tokens[1].content == "logs"


def test_a_link_that_is_not_a_web_address_is_shown_not_linked() -> None:
    for url in ("javascript:alert(1)", "slack://channel?id=C1", "file:///etc/passwd"):
        markdown = markdown_line(line(Link(url, "open me")))
        assert "link_open" not in markup(markdown), markdown
        assert shown(markdown) == f"open me ({url})"


def test_marks_and_bullets_render_as_words_in_a_list_item() -> None:
    markdown = markdown_line(
        line("pod ", Code("api-1"), " OOMKilled", mark=Mark.PROBLEM, bullet=True)
    )
    assert markdown.startswith("- ")
    assert "bullet_list_open" in block_types(markdown)
    assert shown(markdown) == "[FAIL] pod api-1 OOMKilled"
    assert "link_open" not in markup(markdown)


def test_a_mark_alone_is_text_not_a_link_reference() -> None:
    markdown = markdown_line(line("disk at 91%", mark=Mark.WARNING))
    assert shown(markdown) == "[WARN] disk at 91%"
    assert markup(markdown) == []


def test_a_link_address_with_angle_brackets_backslashes_or_newlines_is_still_one_link() -> None:
    for url in (
        "https://grafana.example/explore?q=rate(x[5m])<0.5",
        "https://files.example/share\\",
        "https://evil.example/a\nb",
    ):
        tokens = inline_tokens(markdown_line(line(Link(url, "Dashboard"))))
        assert [t.type for t in tokens] == ["link_open", "text", "link_close"], url
        assert tokens[1].content == "Dashboard"


def test_strikethrough_entities_and_list_markers_in_outside_text_stay_text() -> None:
    for text in ("~~gone~~ &amp; more", "1. looks like a list", "- a dash first", "+ plus"):
        markdown = markdown_line(line(text))
        assert block_types(markdown) == ["paragraph_open", "inline", "paragraph_close"], text
        assert shown(markdown) == text
    assert "\\~\\~" in markdown_line(line("~~gone~~"))  # GitHub would strike it through
