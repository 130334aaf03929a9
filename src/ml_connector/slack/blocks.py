"""Block Kit messages for ml-connector's message kinds: summaries, alerts and digests.

Every builder takes ERP text as plain ``str`` and escapes it (see :mod:`.mrkdwn`); text built
here with links or bold is :class:`~.mrkdwn.Mrkdwn` and passes through. Slack's limits
(https://docs.slack.dev/reference/block-kit/blocks) are met by folding the tail into
"… and N more" rather than by failing: a GL run with 4,000 entries must still produce a
message Slack accepts, because a message Slack refuses is a message nobody reads.

Besides the documented limits, Slack refuses messages whose blocks together carry about 13.2k
characters with ``msg_blocks_too_long`` (slackapi/bolt-js#2509, undocumented); we stay under
:data:`MAX_TOTAL_BLOCK_TEXT`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ml_connector.slack.mrkdwn import (
    BLANK,
    Mrkdwn,
    blank_to_dash,
    bold,
    clean,
    escape,
    fold_lines,
    link,
    more,
    slack_len,
    truncate,
)

Block = dict[str, Any]

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 2000
MAX_MESSAGE_TEXT = 40_000
MAX_TOTAL_BLOCK_TEXT = 12_000
# The notification fallback is read on a lock screen; a summary, not the whole message.
MAX_FALLBACK_TEXT = 3_000

Severity = Literal["critical", "warning", "info"]

_SEVERITY_HEADER = {
    "critical": ":rotating_light:",
    "warning": ":warning:",
    "info": ":information_source:",
}
_SEVERITY_MARK = {
    "critical": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":large_blue_circle:",
}


@dataclass(frozen=True)
class RecordLink:
    """A link to a record in the ERP; ``url`` may be ``None`` when no link template is set."""

    label: str
    url: str | None = None


@dataclass(frozen=True)
class Message:
    """What goes into ``chat.postMessage``: the notification ``text`` and the ``blocks``."""

    text: str
    blocks: tuple[Block, ...] = ()

    def to_payload(self) -> dict[str, Any]:
        """Arguments for ``chat.postMessage``; unfurls off so a record link stays one line."""
        return {
            "text": self.text,
            "blocks": [dict(block) for block in self.blocks],
            "unfurl_links": False,
            "unfurl_media": False,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Message:
        """Rebuild from :meth:`to_payload` output (as stored in the outbox)."""
        return cls(text=str(payload["text"]), blocks=tuple(payload.get("blocks") or ()))


def mrkdwn_text(text: str) -> Block:
    """A mrkdwn text object that Slack shows as written: ``verbatim`` stops Slack from
    turning bare URLs, channel names and ``@here``-like words in ERP text into links and
    mentions; the markup we build (``<url|label>``, ``<!subteam^…>``) still works
    (https://docs.slack.dev/reference/block-kit/composition-objects/text-object)."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _block_text_len(block: Block) -> int:
    """Characters of text a block carries, as Slack sums them for ``msg_blocks_too_long``."""
    total = 0
    text = block.get("text")
    if isinstance(text, dict):
        total += slack_len(str(text.get("text", "")))
    for key in ("fields", "elements"):
        for item in block.get(key) or ():
            if isinstance(item, dict):
                total += slack_len(str(item.get("text", "")))
    return total


def header(title: str) -> Block:
    """A header (plain text, not mrkdwn: nothing to escape, 150 characters at most)."""
    text = truncate(blank_to_dash(" ".join(clean(title).split())), MAX_HEADER_TEXT)
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def section(text: str) -> Block:
    """A mrkdwn section; ERP text is escaped, and cut to 3000 characters with an ellipsis."""
    body = truncate(blank_to_dash(escape(text)), MAX_SECTION_TEXT)
    return {"type": "section", "text": mrkdwn_text(body)}


def section_lines(lines: Sequence[str]) -> Block:
    """One line per item; lines past 3000 characters fold into "… and N more"."""
    escaped = [blank_to_dash(escape(line)) for line in lines]
    return {"type": "section", "text": mrkdwn_text(fold_lines(escaped, MAX_SECTION_TEXT) or BLANK)}


def field_text(label: str, value: str) -> Mrkdwn:
    """``*Label*`` over its value, as Slack shows fields in two columns."""
    text = f"{bold(blank_to_dash(label))}\n{blank_to_dash(escape(value))}"
    return Mrkdwn(truncate(text, MAX_FIELD_TEXT))


def _fields_blocks(texts: Sequence[str]) -> list[Block]:
    return [
        {"type": "section", "fields": [mrkdwn_text(t) for t in texts[i : i + MAX_FIELDS]]}
        for i in range(0, len(texts), MAX_FIELDS)
    ]


def fields(pairs: Iterable[tuple[str, str]]) -> list[Block]:
    """Label/value pairs as section fields, ten to a section."""
    return _fields_blocks([field_text(label, value) for label, value in pairs])


def summary_table(
    rows: Iterable[tuple[str, str]], *, heading: tuple[str, str] | None = None
) -> list[Block]:
    """A two-column table (e.g. account → amount) as fields: left cell, right cell, per row.

    Slack lays fields out two per line, so alternating name and value reads as a table; each
    section holds five rows. A ``heading`` row is repeated in bold at the top of each section.
    """
    cells: list[str] = []
    for name, value in rows:
        cells.append(truncate(blank_to_dash(escape(name)), MAX_FIELD_TEXT))
        cells.append(truncate(blank_to_dash(escape(value)), MAX_FIELD_TEXT))
    if heading is None:
        return _fields_blocks(cells)
    top = [bold(blank_to_dash(heading[0])), bold(blank_to_dash(heading[1]))]
    per_section = MAX_FIELDS - len(top)
    return [
        {"type": "section", "fields": [mrkdwn_text(t) for t in [*top, *cells[i : i + per_section]]]}
        for i in range(0, len(cells), per_section)
    ]


def context(parts: Sequence[str]) -> Block:
    """A small grey line (source, run, "as of"); past ten elements the tail folds."""
    texts = [truncate(blank_to_dash(escape(part)), MAX_CONTEXT_TEXT) for part in parts]
    if len(texts) > MAX_CONTEXT_ELEMENTS:
        shown = MAX_CONTEXT_ELEMENTS - 1
        texts = [*texts[:shown], more(len(texts) - shown)]
    return {"type": "context", "elements": [mrkdwn_text(t) for t in texts or [BLANK]]}


def record_links(links: Sequence[RecordLink]) -> Block:
    """One clickable line per record (plain label when there is no URL)."""
    return section_lines([link(r.url, r.label) if r.url else escape(r.label) for r in links])


def divider() -> Block:
    return {"type": "divider"}


def compose(text: str, blocks: Sequence[Block]) -> Message:
    """A message within Slack's message-wide limits: 50 blocks and the total-text ceiling.

    Blocks past either limit are replaced by one context line saying how many were left out;
    the fallback ``text`` is escaped and kept short enough for a notification.
    """
    fallback = truncate(blank_to_dash(" ".join(escape(text).split())), MAX_FALLBACK_TEXT)
    kept: list[Block] = []
    used = 0
    for index, block in enumerate(blocks):
        size = _block_text_len(block)
        last_slot = len(kept) == MAX_BLOCKS - 1 and index < len(blocks) - 1
        if used + size > MAX_TOTAL_BLOCK_TEXT - 100 or last_slot:
            kept.append(context([Mrkdwn(f"_{more(len(blocks) - index)} blocks not shown_")]))
            break
        kept.append(dict(block))
        used += size
    return Message(text=fallback, blocks=tuple(kept))


def _context_line(parts: Sequence[str]) -> list[Block]:
    return [context(parts)] if parts else []


def summary_message(
    title: str,
    *,
    summary: str | None = None,
    facts: Sequence[tuple[str, str]] = (),
    table: Sequence[tuple[str, str]] = (),
    table_heading: tuple[str, str] | None = None,
    links: Sequence[RecordLink] = (),
    footer: Sequence[str] = (),
    fallback: str | None = None,
) -> Message:
    """A run summary: header, a sentence, key facts, a table, record links, a context line."""
    blocks: list[Block] = [header(title)]
    if summary:
        blocks.append(section(summary))
    blocks.extend(fields(facts))
    if table:
        blocks.extend(summary_table(table, heading=table_heading))
    if links:
        blocks.append(record_links(links))
    blocks.extend(_context_line(footer))
    return compose(fallback or _fallback(title, summary), blocks)


def alert_message(
    title: str,
    *,
    severity: Severity = "critical",
    summary: str | None = None,
    facts: Sequence[tuple[str, str]] = (),
    lines: Sequence[str] = (),
    links: Sequence[RecordLink] = (),
    footer: Sequence[str] = (),
    mention: Mrkdwn | None = None,
) -> Message:
    """An alert: a siren header, a coloured severity mark, what is wrong, and where to look.

    Block Kit has no colours, so the severity is carried by emoji in the header and the
    context line; ``mention`` (e.g. ``<!subteam^S0123>``) is added to the fallback text
    too, because only the fallback drives the notification.
    """
    emoji = _SEVERITY_HEADER[severity]
    blocks: list[Block] = [header(f"{emoji} {title}")]
    mark = Mrkdwn(f"{_SEVERITY_MARK[severity]} *{severity.capitalize()}*")
    blocks.append(context([mark, *footer]))
    if summary or mention:
        lead = escape(summary) if summary else Mrkdwn("")
        blocks.append(section(Mrkdwn(f"{mention} {lead}".strip() if mention else lead)))
    blocks.extend(fields(facts))
    if lines:
        blocks.append(section_lines(lines))
    if links:
        blocks.append(record_links(links))
    text = Mrkdwn(f"{emoji} {escape(_fallback(title, summary))}")
    return compose(Mrkdwn(f"{mention} {text}") if mention else text, blocks)


def digest_message(
    title: str,
    items: Sequence[str],
    *,
    summary: str | None = None,
    facts: Sequence[tuple[str, str]] = (),
    footer: Sequence[str] = (),
    noun: str = "items",
) -> Message:
    """Many small events as one message: a count, the first items, "… and N more"."""
    count = f"{len(items):,} {noun}"
    blocks: list[Block] = [header(title)]
    blocks.append(section(Mrkdwn(f"{bold(count)} {escape(summary)}" if summary else bold(count))))
    blocks.extend(fields(facts))
    if items:
        blocks.append(section_lines(items))
    blocks.extend(_context_line(footer))
    return compose(f"{clean(title)}: {count}", blocks)


def _fallback(title: str, summary: str | None) -> str:
    title = clean(title)
    return f"{title}: {clean(summary)}" if summary else title
