"""Slack mrkdwn rendered as safe HTML, roughly as the Slack client shows it.

Syntax from https://docs.slack.dev/messaging/formatting-message-text/: ``*bold*``, ``_italic_``,
``~strike~``, ```code```, ````pre````, ``<url|label>`` links, ``<@U…>``/``<#C…>``/``<!here>``
mentions, and ``&amp; &lt; &gt;`` as the only escapes. Everything that reaches the output is
HTML-escaped first; only the tags added here are markup.

Automatic parsing, shown so the channel page looks like what people would see: a mrkdwn text
object without ``verbatim`` has its "URLs … auto-converted into links, conversation names …
link-ified, and certain mentions … automatically parsed"; with ``verbatim: true`` Slack "won't
modify any plain-text content" (https://docs.slack.dev/reference/block-kit/composition-objects/
text-object). Here that is: bare URLs (scheme, ``www.`` or a domain with a common TLD: Slack's
clients link those too, which the page takes as the stricter reading), ``#name`` of a channel
of the workspace, and the notifying mentions ``@here``, ``@channel`` and ``@everyone``. A
message's top-level ``text`` gets its URLs linked only.
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
_TLDS = "com|net|org|io|co|us|uk|ca|de|fr|info|biz|app|dev|ai"
_URL = (
    r"(?:https?://|mailto:)[^\s<>]+[^\s<>.,;:!?)\]'\"]"
    r"|(?<![\w@.-])(?:www\.)?(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+"
    rf"(?:{_TLDS})\b(?:/[^\s<>]*[^\s<>.,;:!?)\]'\"])?"
)
_AUTO_ALL = re.compile(
    rf"(?P<url>{_URL})"
    r"|(?<![\w#])#(?P<channel>[a-z0-9][a-z0-9_-]{0,79})"
    r"|(?<![\w@])@(?P<special>here|channel|everyone)\b"
)
_AUTO_URLS = re.compile(rf"(?P<url>{_URL})")
_PLACEHOLDER = re.compile("\x00(\\d+)\x00")


def unescape_slack(text: str) -> str:
    """Undo Slack's three escapes (and nothing else, unlike ``html.unescape``)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def mrkdwn_to_html(
    text: str,
    channel_names: Mapping[str, str] | None = None,
    *,
    verbatim: bool = False,
    urls_only: bool = False,
) -> str:
    """HTML for a mrkdwn string; ``channel_names`` turns ``<#C…>`` into ``#name``.

    Unless ``verbatim``, plain text is parsed automatically as Slack does (module docstring);
    ``urls_only`` limits that to URLs, as for a message's top-level text.
    """
    names = channel_names or {}
    auto = None if verbatim else (_AUTO_URLS if urls_only else _AUTO_ALL)
    context = _Context(names, frozenset(names.values()), auto)
    parts: list[str] = []
    for pre_index, chunk in enumerate(_PRE.split(text)):
        if pre_index % 2:
            parts.append(f"<pre>{html.escape(unescape_slack(chunk))}</pre>")
        else:
            parts.append(_inline(chunk, context))
    return "".join(parts).replace("\n", "<br>")


class _Context:
    def __init__(
        self, names: Mapping[str, str], channels: frozenset[str], auto: re.Pattern[str] | None
    ) -> None:
        self.names = names
        self.channels = channels
        self.auto = auto


def plain_to_html(text: str) -> str:
    """A ``plain_text`` object: escaped, with line breaks kept."""
    return html.escape(text).replace("\n", "<br>")


def _inline(text: str, context: _Context) -> str:
    out: list[str] = []
    position = 0
    for match in _CONTROL.finditer(text):
        out.append(_styled(text[position : match.start()], context))
        out.append(_control(match.group(1), context.names))
        position = match.end()
    out.append(_styled(text[position:], context))
    return "".join(out)


def _styled(text: str, context: _Context) -> str:
    out: list[str] = []
    for index, chunk in enumerate(_CODE.split(text)):
        plain = unescape_slack(chunk)
        if index % 2:
            out.append(f"<code>{html.escape(plain, quote=False)}</code>")
        else:
            out.append(_auto_linked(plain, context))
    return "".join(out)


def _auto_linked(text: str, context: _Context) -> str:
    """Styled plain text with what Slack would link turned into links and mentions.

    Links stand in the text as placeholders while the styles are applied, so ``*Acme.com*``
    is a bold link, as in Slack.
    """
    if context.auto is None:
        return _styles(text)
    links: list[str] = []

    def swap(match: re.Match[str]) -> str:
        channel = match.groupdict().get("channel")
        if channel is not None and channel not in context.channels:
            return match.group(0)  # "#word" that names no channel stays text
        if match.group("url") is not None:
            url = match.group("url")
            href = url if url.lower().startswith(_SAFE_SCHEMES) else f"http://{url}"
            links.append(
                f'<a href="{html.escape(href, quote=True)}" class="auto" '
                f'rel="noopener noreferrer">{html.escape(url)}</a>'
            )
        elif channel is not None:
            links.append(_mention(f"#{channel}"))
        else:
            links.append(_mention(f"@{match.group('special')}"))
        return f"\x00{len(links) - 1}\x00"

    styled = _styles(context.auto.sub(swap, text.replace("\x00", "")))
    return _PLACEHOLDER.sub(lambda m: links[int(m.group(1))], styled)


def _styles(text: str) -> str:
    escaped = html.escape(text, quote=False)
    for pattern, tag in _STYLES:
        escaped = pattern.sub(_wrap(tag), escaped)
    return escaped


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
