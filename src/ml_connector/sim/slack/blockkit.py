"""Block Kit validation as strict as Slack's for the blocks a notifier sends.

Limits from https://docs.slack.dev/reference/block-kit/blocks and its per-block pages (section,
header, context, image, actions, markdown), cross-checked with slack_sdk's
``slack_sdk/models/blocks/blocks.py``. Problems read like Slack's ``invalid_blocks`` answers:
``"must be less than 3001 characters [json-pointer:/blocks/0/text/text]"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MAX_BLOCKS = 50  # messages; modals and Home tabs allow 100
MAX_BLOCK_ID = 255
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
SECTION_FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
IMAGE_URL_MAX = 3000
ALT_TEXT_MAX = 2000
MARKDOWN_TOTAL_MAX = 12000  # cumulative over all markdown blocks of one payload

# Block types Slack accepts in messages; the ones we send are checked in depth.
MESSAGE_BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)

_ALLOWED_KEYS: dict[str, frozenset[str]] = {
    "section": frozenset({"type", "block_id", "text", "fields", "accessory", "expand"}),
    "header": frozenset({"type", "block_id", "text"}),
    "context": frozenset({"type", "block_id", "elements"}),
    "divider": frozenset({"type", "block_id"}),
    "image": frozenset({"type", "block_id", "image_url", "slack_file", "alt_text", "title"}),
    "actions": frozenset({"type", "block_id", "elements"}),
    "markdown": frozenset({"type", "block_id", "text"}),
}
_TEXT_KEYS = {
    "plain_text": frozenset({"type", "text", "emoji"}),
    "mrkdwn": frozenset({"type", "text", "verbatim"}),
}


@dataclass(frozen=True)
class BlockProblem:
    message: str
    pointer: str

    def __str__(self) -> str:
        return f"{self.message} [json-pointer:{self.pointer}]"


def validate_blocks(blocks: list[Any]) -> list[BlockProblem]:
    """Every problem Slack would report for these message blocks (empty when valid)."""
    if len(blocks) > MAX_BLOCKS:
        return [BlockProblem(f"no more than {MAX_BLOCKS} items allowed", "/blocks")]
    problems: list[BlockProblem] = []
    seen_ids: set[str] = set()
    markdown_total = 0
    for index, block in enumerate(blocks):
        where = f"/blocks/{index}"
        if not isinstance(block, dict):
            problems.append(BlockProblem("must provide an object", where))
            continue
        problems.extend(_check_block(block, where, seen_ids))
        if block.get("type") == "markdown" and isinstance(block.get("text"), str):
            markdown_total += len(block["text"])
    if markdown_total > MARKDOWN_TOTAL_MAX:
        problems.append(
            BlockProblem(
                f"markdown blocks must total less than {MARKDOWN_TOTAL_MAX + 1} characters",
                "/blocks",
            )
        )
    return problems


def text_length(blocks: list[Any]) -> int:
    """Characters of text across all blocks: Slack's undocumented ``msg_blocks_too_long`` sum."""
    return sum(len(text) for text in _texts(blocks))


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                yield item
            else:
                yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def _check_block(block: dict[str, Any], where: str, seen_ids: set[str]) -> Iterator[BlockProblem]:
    kind = block.get("type")
    if not isinstance(kind, str):
        yield BlockProblem("missing required field: type", where)
        return
    if kind not in MESSAGE_BLOCK_TYPES:
        yield BlockProblem(f"unsupported type: {kind}", f"{where}/type")
        return
    allowed = _ALLOWED_KEYS.get(kind)
    if allowed is not None:
        for key in block:
            if key not in allowed:
                yield BlockProblem(f"unexpected property: {key}", f"{where}/{key}")
    if "block_id" in block:
        yield from _check_block_id(block["block_id"], f"{where}/block_id", seen_ids)
    checker = _CHECKERS.get(kind)
    if checker is not None:
        yield from checker(block, where)


def _check_block_id(value: Any, where: str, seen_ids: set[str]) -> Iterator[BlockProblem]:
    if not isinstance(value, str) or not value:
        yield BlockProblem("must be a non-empty string", where)
    elif len(value) > MAX_BLOCK_ID:
        yield BlockProblem(f"must be less than {MAX_BLOCK_ID + 1} characters", where)
    elif value in seen_ids:
        yield BlockProblem("duplicate block_id", where)
    else:
        seen_ids.add(value)


def _check_text(
    value: Any, where: str, max_length: int, *, plain_only: bool = False
) -> Iterator[BlockProblem]:
    if not isinstance(value, dict):
        yield BlockProblem("must provide an object", where)
        return
    kind = value.get("type")
    if kind not in _TEXT_KEYS:
        yield BlockProblem("must be one of plain_text, mrkdwn", f"{where}/type")
        return
    if plain_only and kind != "plain_text":
        yield BlockProblem("must be a plain_text text object", f"{where}/type")
    for key in value:
        if key not in _TEXT_KEYS[kind]:
            yield BlockProblem(f"unexpected property: {key}", f"{where}/{key}")
    text = value.get("text")
    if not isinstance(text, str):
        yield BlockProblem("missing required field: text", f"{where}/text")
    elif not text:
        yield BlockProblem("must be more than 0 characters", f"{where}/text")
    elif len(text) > max_length:
        yield BlockProblem(f"must be less than {max_length + 1} characters", f"{where}/text")


def _list_problem(value: Any, where: str, maximum: int) -> BlockProblem | None:
    """Slack's two complaints about a block's list of items: empty (or no list), too long."""
    if not isinstance(value, list) or not value:
        return BlockProblem("must provide a non-empty array", where)
    if len(value) > maximum:
        return BlockProblem(f"no more than {maximum} items allowed", where)
    return None


def _check_section(block: dict[str, Any], where: str) -> Iterator[BlockProblem]:
    has_text = "text" in block
    has_fields = "fields" in block
    if not has_text and not has_fields:
        yield BlockProblem("must define either `text` or `fields`", where)
    if has_text:
        yield from _check_text(block["text"], f"{where}/text", SECTION_TEXT_MAX)
    if has_fields:
        fields = block["fields"]
        problem = _list_problem(fields, f"{where}/fields", SECTION_FIELDS_MAX)
        if problem is not None:
            yield problem
        else:
            for index, item in enumerate(fields):
                yield from _check_text(item, f"{where}/fields/{index}", SECTION_FIELD_TEXT_MAX)
    if "accessory" in block:
        accessory = block["accessory"]
        if not isinstance(accessory, dict) or not isinstance(accessory.get("type"), str):
            yield BlockProblem("must provide an element object", f"{where}/accessory")


def _check_header(block: dict[str, Any], where: str) -> Iterator[BlockProblem]:
    if "text" not in block:
        yield BlockProblem("missing required field: text", where)
        return
    yield from _check_text(block["text"], f"{where}/text", HEADER_TEXT_MAX, plain_only=True)


def _check_context(block: dict[str, Any], where: str) -> Iterator[BlockProblem]:
    elements: Any = block.get("elements")
    problem = _list_problem(elements, f"{where}/elements", CONTEXT_ELEMENTS_MAX)
    if problem is not None:
        yield problem
        return
    for index, element in enumerate(elements):
        at = f"{where}/elements/{index}"
        if isinstance(element, dict) and element.get("type") == "image":
            yield from _check_image_fields(element, at)
        else:
            yield from _check_text(element, at, SECTION_TEXT_MAX)


def _check_image_fields(element: dict[str, Any], where: str) -> Iterator[BlockProblem]:
    url = element.get("image_url")
    if url is None and "slack_file" not in element:
        yield BlockProblem("must provide either `image_url` or `slack_file`", where)
    elif url is not None and (not isinstance(url, str) or not url):
        yield BlockProblem("must be a non-empty string", f"{where}/image_url")
    elif isinstance(url, str) and len(url) > IMAGE_URL_MAX:
        yield BlockProblem(
            f"must be less than {IMAGE_URL_MAX + 1} characters", f"{where}/image_url"
        )
    alt = element.get("alt_text")
    if not isinstance(alt, str) or not alt:
        yield BlockProblem("missing required field: alt_text", f"{where}/alt_text")
    elif len(alt) > ALT_TEXT_MAX:
        yield BlockProblem(f"must be less than {ALT_TEXT_MAX + 1} characters", f"{where}/alt_text")


def _check_image(block: dict[str, Any], where: str) -> Iterator[BlockProblem]:
    yield from _check_image_fields(block, where)
    if "title" in block:
        yield from _check_text(block["title"], f"{where}/title", ALT_TEXT_MAX, plain_only=True)


def _check_actions(block: dict[str, Any], where: str) -> Iterator[BlockProblem]:
    elements: Any = block.get("elements")
    problem = _list_problem(elements, f"{where}/elements", ACTIONS_ELEMENTS_MAX)
    if problem is not None:
        yield problem
    else:
        for index, element in enumerate(elements):
            if not isinstance(element, dict) or not isinstance(element.get("type"), str):
                yield BlockProblem("must provide an element object", f"{where}/elements/{index}")


def _check_markdown(block: dict[str, Any], where: str) -> Iterator[BlockProblem]:
    text = block.get("text")
    if not isinstance(text, str) or not text:
        yield BlockProblem("must be more than 0 characters", f"{where}/text")


_CHECKERS = {
    "section": _check_section,
    "header": _check_header,
    "context": _check_context,
    "image": _check_image,
    "actions": _check_actions,
    "markdown": _check_markdown,
}
