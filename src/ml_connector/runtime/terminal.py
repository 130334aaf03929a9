"""Slack messages rendered in a terminal (rich), roughly as Slack shows them.

Used by the demo to print what was posted. Pure: Block Kit in, rich renderables out.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>|<([^<>]+)>")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~([^~\n]+)~(?![\w~])")
_CODE = re.compile(r"`([^`\n]+)`")
_EMOJI = re.compile(r":([a-z0-9_+-]+):")
# The shortcodes our messages use, as a terminal can show them.
EMOJI = {
    "rotating_light": "🚨",
    "red_circle": "🔴",
    "large_orange_circle": "🟠",
    "large_yellow_circle": "🟡",
    "large_blue_circle": "🔵",
    "large_green_circle": "🟢",
    "warning": "⚠",
    "white_check_mark": "✅",
    "x": "❌",
    "information_source": "ℹ",
    "moneybag": "💰",
    "package": "📦",
    "ledger": "📒",
    "receipt": "🧾",
    "bank": "🏦",
}


def mrkdwn_to_markup(text: str) -> str:
    """Slack mrkdwn to rich markup; everything else is escaped, never interpreted."""

    def link(match: re.Match[str]) -> str:
        if match.group(3) is not None:
            target = match.group(3)
            if target.startswith("!subteam^"):
                return "\x00b@" + target.split("|")[0].removeprefix("!subteam^") + "\x00e"
            return target
        return match.group(2)

    plain = _LINK.sub(link, text)
    plain = html.unescape(plain)
    plain = _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), plain)
    marked = escape(plain)
    marked = _CODE.sub(r"[cyan]\1[/cyan]", marked)
    marked = _BOLD.sub(r"[bold]\1[/bold]", marked)
    marked = _ITALIC.sub(r"[italic]\1[/italic]", marked)
    marked = _STRIKE.sub(r"[strike]\1[/strike]", marked)
    return marked.replace("\x00b", "[bold magenta]").replace("\x00e", "[/bold magenta]")


def _text(obj: Mapping[str, Any] | None) -> str:
    if not obj:
        return ""
    value = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return mrkdwn_to_markup(value)
    return escape(_EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), value))


def render_blocks(blocks: Sequence[Mapping[str, Any]], fallback: str) -> RenderableType:
    parts: list[RenderableType] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            parts.append(Text.from_markup(f"[bold]{_text(block.get('text'))}[/bold]"))
        elif kind == "section":
            if block.get("text"):
                parts.append(Text.from_markup(_text(block.get("text"))))
            fields = block.get("fields") or []
            if fields:
                grid = Table.grid(padding=(0, 3))
                grid.add_column()
                grid.add_column()
                cells = [Text.from_markup(_text(f)) for f in fields]
                for i in range(0, len(cells), 2):
                    grid.add_row(*cells[i : i + 2], *([] if i + 1 < len(cells) else [""]))
                parts.append(grid)
        elif kind == "context":
            line = "  ".join(_text(e) for e in block.get("elements", []) if e.get("text"))
            parts.append(Text.from_markup(f"[dim]{line}[/dim]"))
        elif kind == "divider":
            parts.append(Text("─" * 40, style="dim"))
        elif kind in ("rich_text", "markdown"):
            parts.append(Text(str(block.get("text", ""))))
    if not parts:
        parts.append(Text.from_markup(mrkdwn_to_markup(fallback)))
    return Group(*parts)


def render_message(channel: str, message: Mapping[str, Any]) -> Panel:
    ts = float(message.get("ts", 0) or 0)
    when = datetime.fromtimestamp(ts).strftime("%H:%M:%S") if ts else ""
    body = render_blocks(message.get("blocks") or [], str(message.get("text", "")))
    return Panel(
        body,
        title=f"[bold]#{escape(channel)}[/bold]",
        subtitle=when,
        title_align="left",
        subtitle_align="right",
        border_style="blue",
    )
