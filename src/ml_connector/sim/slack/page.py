"""The simulator's HTML page: every channel and its messages, rendered roughly like Slack.

Plain server-rendered HTML with a meta refresh, so the demo needs no JavaScript. Every string
from a message goes through :mod:`mrkdwn` or ``html.escape``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ml_connector.sim.slack.mrkdwn import mrkdwn_to_html, plain_to_html
from ml_connector.sim.slack.state import Channel, Message

REFRESH_SECONDS = 3

_STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;display:flex;
color:#1d1c1d}
nav{width:15rem;background:#3f0e40;color:#fff;min-height:100vh;padding:1rem}
nav a{color:#cfc3cf;text-decoration:none;display:block;padding:.2rem 0}
nav a.current{color:#fff;font-weight:bold}
main{flex:1;padding:1rem 2rem;max-width:60rem}
.msg{border-bottom:1px solid #eee;padding:.6rem 0}
.meta{color:#616061;font-size:.8rem}
.header{font-size:1.15rem;font-weight:bold;margin:.3rem 0}
.fields{display:grid;grid-template-columns:1fr 1fr;gap:.3rem 1.5rem;margin:.3rem 0}
.context{color:#616061;font-size:.8rem;margin:.3rem 0}
.mention{background:#e8f5fa;color:#1264a3;border-radius:3px;padding:0 2px}
code{background:#f6f6f6;border:1px solid #ddd;border-radius:3px;padding:0 3px;color:#e01e5a}
pre{background:#f6f6f6;border:1px solid #ddd;padding:.5rem;white-space:pre-wrap}
.metadata{color:#616061;font-size:.75rem;font-family:monospace}
"""


def render_page(channels: Sequence[Channel], selected: Channel | None, *, team_name: str) -> str:
    names = {channel.id: channel.name for channel in channels}
    nav = "".join(
        _nav_link(c, current=selected is not None and c.id == selected.id) for c in channels
    )
    if selected is None:
        body = "<p>No channels.</p>"
    else:
        messages = "".join(render_message(m, names) for m in reversed(selected.messages))
        body = (
            f"<h2># {html.escape(selected.name)} "
            f'<span class="meta">{html.escape(selected.id)}</span></h2>'
            + (messages or "<p>No messages yet.</p>")
        )
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        f"<title>{html.escape(team_name)} · Slack simulator</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<nav><strong>{html.escape(team_name)}</strong><br><br>{nav}</nav>"
        f"<main>{body}</main></body></html>"
    )


def _nav_link(channel: Channel, *, current: bool) -> str:
    css = ' class="current"' if current else ""
    return (
        f'<a href="/?channel={html.escape(channel.id)}"{css}>'
        f"# {html.escape(channel.name)} ({len(channel.messages)})</a>"
    )


def render_message(message: Message, names: Mapping[str, str]) -> str:
    when = datetime.fromtimestamp(float(message.ts), tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if message.blocks:
        content = "".join(render_block(block, names) for block in message.blocks)
    else:
        content = f"<div>{mrkdwn_to_html(message.text, names, urls_only=True)}</div>"
    metadata = ""
    if message.metadata is not None:
        metadata = (
            f'<div class="metadata">metadata: '
            f"{html.escape(json.dumps(message.metadata, sort_keys=True))}</div>"
        )
    return (
        f'<div class="msg"><div class="meta">{html.escape(message.user)} · '
        f"{html.escape(when)} · ts {html.escape(message.ts)}</div>{content}{metadata}</div>"
    )


def render_block(block: Mapping[str, Any], names: Mapping[str, str]) -> str:
    kind = block.get("type")
    if kind == "header":
        return f'<div class="header">{_text(block.get("text"), names)}</div>'
    if kind == "section":
        parts = []
        if "text" in block:
            parts.append(f"<div>{_text(block['text'], names)}</div>")
        if "fields" in block:
            cells = "".join(f"<div>{_text(f, names)}</div>" for f in block["fields"])
            parts.append(f'<div class="fields">{cells}</div>')
        return "".join(parts)
    if kind == "context":
        items = " · ".join(
            html.escape(str(e.get("alt_text", ""))) if e.get("type") == "image" else _text(e, names)
            for e in block.get("elements", [])
        )
        return f'<div class="context">{items}</div>'
    if kind == "divider":
        return "<hr>"
    if kind == "markdown":
        return f"<pre>{html.escape(str(block.get('text', '')))}</pre>"
    return f"<pre>{html.escape(json.dumps(block, indent=1, sort_keys=True))}</pre>"


def _text(obj: Any, names: Mapping[str, str]) -> str:
    if not isinstance(obj, Mapping):
        return ""
    text = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return mrkdwn_to_html(text, names, verbatim=obj.get("verbatim") is True)
    return plain_to_html(text)
