"""Block Kit as Slack checks it, for the fake Slack: every limit that makes Slack refuse a
message with `invalid_blocks` (a view with `invalid_arguments`), reported as Slack reports it,
one `[ERROR] … [json-pointer:…]` line per problem in `response_metadata.messages`.

The limits follow Slack's Block Kit reference:
- blocks, https://docs.slack.dev/reference/block-kit/blocks: at most 50 blocks in a message and
  100 in a modal; `block_id` at most 255 characters and unique in the message; a section needs
  `text` (at most 3000) or `fields` (at most 10, each at most 2000); a header's text is
  plain_text of at most 150; a context block has 1 to 10 elements; an actions block 1 to 25;
- button, https://docs.slack.dev/reference/block-kit/block-elements/button-element: text is
  plain_text of at most 75, `value` at most 2000, `url` at most 3000, `action_id` at most 255
  and unique among the action_ids of its block;
- text objects, https://docs.slack.dev/reference/block-kit/composition-objects/text-object:
  `plain_text` or `mrkdwn`, with 1 to 3000 characters (an empty text is refused).
The error line shapes are Slack's own, e.g. "no more than 50 items allowed
[json-pointer:/blocks]" as chat.postMessage answers it.
"""

from __future__ import annotations

from typing import Any

MESSAGE_BLOCKS, MODAL_BLOCKS = 50, 100
MAX_ID = 255
BLOCK_TYPES = {
    "section", "divider", "image", "actions", "context", "input", "file", "header", "video",
    "rich_text", "markdown",
}  # fmt: skip
TEXT_TYPES = ("plain_text", "mrkdwn")


class _Check:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, what: str, at: str) -> None:
        self.errors.append(f"[ERROR] {what} [json-pointer:{at}]")

    def string(self, value: Any, at: str, *, most: int, least: int = 1) -> None:
        if not isinstance(value, str):
            self.fail("must provide a string", at)
        elif len(value) < least:
            self.fail(f"must be more than {least - 1} characters", at)
        elif len(value) > most:
            self.fail(f"must be less than {most + 1} characters", at)

    def items(self, value: Any, at: str, *, most: int, least: int = 1) -> list[Any]:
        if not isinstance(value, list):
            self.fail("must provide an array", at)
            return []
        if len(value) > most:
            self.fail(f"no more than {most} items allowed", at)
        elif len(value) < least:
            self.fail(f"must provide at least {least} items", at)
        return value

    def text(self, obj: Any, at: str, *, most: int = 3000, plain: bool = False) -> None:
        if not isinstance(obj, dict):
            self.fail("must provide an object", at)
            return
        kinds = ("plain_text",) if plain else TEXT_TYPES
        if obj.get("type") not in kinds:
            self.fail(f"must be one of the following: {', '.join(kinds)}", f"{at}/type")
        self.string(obj.get("text"), f"{at}/text", most=most)

    def element(self, el: Any, at: str, action_ids: set[str]) -> None:
        if not isinstance(el, dict) or not isinstance(el.get("type"), str):
            self.fail("missing required field: type", at)
            return
        if "action_id" in el:
            self.string(el["action_id"], f"{at}/action_id", most=MAX_ID)
            if el["action_id"] in action_ids:
                self.fail(f"duplicate action_id: {el['action_id']}", f"{at}/action_id")
            action_ids.add(str(el["action_id"]))
        if el["type"] == "button":
            self.text(el.get("text"), f"{at}/text", most=75, plain=True)
            if "value" in el:
                self.string(el["value"], f"{at}/value", most=2000)
            if "url" in el:
                self.string(el["url"], f"{at}/url", most=3000)
            if el.get("style") not in (None, "primary", "danger"):
                self.fail("must be one of the following: primary, danger", f"{at}/style")
        elif el["type"] == "image":
            self.string(el.get("image_url"), f"{at}/image_url", most=3000)
            self.string(el.get("alt_text"), f"{at}/alt_text", most=2000)

    def block(self, block: Any, at: str, block_ids: set[str]) -> None:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            self.fail("missing required field: type", at)
            return
        kind = block["type"]
        if kind not in BLOCK_TYPES:
            self.fail(f"unsupported type: {kind}", f"{at}/type")
            return
        if "block_id" in block:
            self.string(block["block_id"], f"{at}/block_id", most=MAX_ID)
            if block["block_id"] in block_ids:
                self.fail(f"duplicate block_id: {block['block_id']}", f"{at}/block_id")
            block_ids.add(str(block["block_id"]))
        action_ids: set[str] = set()
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.fail("must provide one of the following: text, fields", at)
            if "text" in block:
                self.text(block["text"], f"{at}/text")
            if "fields" in block:
                for i, f in enumerate(self.items(block["fields"], f"{at}/fields", most=10)):
                    self.text(f, f"{at}/fields/{i}", most=2000)
            if "accessory" in block:
                self.element(block["accessory"], f"{at}/accessory", action_ids)
        elif kind == "header":
            self.text(block.get("text"), f"{at}/text", most=150, plain=True)
        elif kind == "context":
            for i, el in enumerate(self.items(block.get("elements"), f"{at}/elements", most=10)):
                if isinstance(el, dict) and el.get("type") in TEXT_TYPES:
                    self.text(el, f"{at}/elements/{i}")
                else:
                    self.element(el, f"{at}/elements/{i}", action_ids)
        elif kind == "actions":
            for i, el in enumerate(self.items(block.get("elements"), f"{at}/elements", most=25)):
                self.element(el, f"{at}/elements/{i}", action_ids)
        elif kind == "image":
            self.string(block.get("image_url"), f"{at}/image_url", most=3000)
            self.string(block.get("alt_text"), f"{at}/alt_text", most=2000)
        elif kind == "input":
            self.text(block.get("label"), f"{at}/label", most=2000, plain=True)
            self.element(block.get("element"), f"{at}/element", action_ids)


def block_errors(blocks: Any, *, most: int = MESSAGE_BLOCKS) -> list[str]:
    """Slack's error lines for a blocks array; empty when Slack would accept it."""
    check = _Check()
    block_ids: set[str] = set()
    for i, block in enumerate(check.items(blocks, "/blocks", most=most, least=0)):
        check.block(block, f"/blocks/{i}", block_ids)
    return check.errors
