"""Slack mrkdwn rendered as safe HTML, roughly as the Slack client shows it.

Syntax from https://docs.slack.dev/messaging/formatting-message-text/: ``*bold*``, ``_italic_``,
``~strike~``, ```code```, ````pre````, ``<url|label>`` links, ``<@U…>``/``<#C…>``/``<!here>``
mentions, and ``&amp; &lt; &gt;`` as the only escapes. Everything that reaches the output is
HTML-escaped first; only the tags added here are markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping

_CONTROL = re.compile(r"<([^<>\n]*)>")
_PRE = re.compile(r"```(.+?)```", re.DOTALL)
_CODE = re.compile(r"`([^`\n]+)`")
_STYLES = (
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])"), "b"),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])"), "i"),
    (re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])"), "s"),
)
_SAFE_SCHEMES = ("http://", "https://", "mailto:")


def unescape_slack(text: str) -> str:
    """Undo Slack's three escapes (and nothing else, unlike ``html.unescape``)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def mrkdwn_to_html(text: str, channel_names: Mapping[str, str] | None = None) -> str:
    """HTML for a mrkdwn string; ``channel_names`` turns ``<#C…>`` into ``#name``."""
    names = channel_names or {}
    parts: list[str] = []
    for pre_index, chunk in enumerate(_PRE.split(text)):
        if pre_index % 2:
            parts.append(f"<pre>{html.escape(unescape_slack(chunk))}</pre>")
        else:
            parts.append(_inline(chunk, names))
    return "".join(parts).replace("\n", "<br>")


def plain_to_html(text: str) -> str:
    """A ``plain_text`` object: escaped, with line breaks kept."""
    return html.escape(text).replace("\n", "<br>")


def _inline(text: str, names: Mapping[str, str]) -> str:
    out: list[str] = []
    position = 0
    for match in _CONTROL.finditer(text):
        out.append(_styled(text[position : match.start()]))
        out.append(_control(match.group(1), names))
        position = match.end()
    out.append(_styled(text[position:]))
    return "".join(out)


def _styled(text: str) -> str:
    out: list[str] = []
    for index, chunk in enumerate(_CODE.split(text)):
        escaped = html.escape(unescape_slack(chunk), quote=False)
        if index % 2:
            out.append(f"<code>{escaped}</code>")
        else:
            for pattern, tag in _STYLES:
                escaped = pattern.sub(_wrap(tag), escaped)
            out.append(escaped)
    return "".join(out)


def _wrap(tag: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        return f"<{tag}>{match.group(1)}</{tag}>"

    return replace


def _control(body: str, names: Mapping[str, str]) -> str:
    target, _, label = body.partition("|")
    target = unescape_slack(target)
    label = unescape_slack(label)
    if target.startswith("@"):
        return _mention("@" + (label or target[1:]))
    if target.startswith("#"):
        channel_id = target[1:]
        return _mention("#" + (label or names.get(channel_id, channel_id)))
    if target.startswith("!"):
        special = target[1:].split("^")[0]
        return _mention(label or "@" + special)
    if target.lower().startswith(_SAFE_SCHEMES):
        href = html.escape(target, quote=True)
        return f'<a href="{href}" rel="noopener noreferrer">{html.escape(label or target)}</a>'
    return html.escape(label or target)


def _mention(text: str) -> str:
    return f'<span class="mention">{html.escape(text)}</span>'
