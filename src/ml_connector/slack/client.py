"""The Slack Web API client: slack_sdk's AsyncWebClient, with every failure classified.

slack_sdk's own retry handlers are off (``retry_handlers=[]``): the delivery path owns retries,
because only it knows whether a post may be repeated. What this module adds is the answer to
"did Slack get it?" for every way a call can fail:

* refused or timed out while connecting: nothing was sent → :class:`SlackTransientError`;
* the connection dropped or the read timed out after the request was written, or Slack said
  ``internal_error``/``fatal_error``: the message may be in the channel →
  :class:`SlackAmbiguousError` (for calls without side effects this is plain transient);
* HTTP 429 → :class:`SlackRateLimitedError` with ``Retry-After``;
* a token Slack rejects → :class:`SlackCredentialsError`, and the token source is told so it
  can mark the installation unusable instead of letting the work retry forever.

aiohttp's connect timeout is separate from its read timeout so that a timeout while
connecting (nothing sent) is not mistaken for one while waiting for the answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from ml_connector.config import SLACK_API
from ml_connector.logging import get_logger
from ml_connector.slack.errors import (
    SlackAmbiguousError,
    SlackCredentialsError,
    SlackError,
    SlackPermanentError,
    SlackTransientError,
    api_error,
)

log = get_logger("ml_connector.slack")

DEFAULT_TIMEOUT = 10.0
DEFAULT_CONNECT_TIMEOUT = 5.0

# conversations.history pages: Slack's maximum is 1000, but apps outside the Marketplace may
# get as few as 15 per call; asking for more is harmless, Slack answers with what it allows.
HISTORY_PAGE = 200


class TokenSource(Protocol):
    """Where a client gets its bot token, and whom it tells when Slack rejects it."""

    workspace: str

    async def token(self) -> str:
        """The current bot token; raises :class:`SlackCredentialsError` if none is usable."""
        ...

    async def refresh_expired(self) -> bool:
        """Slack said ``token_expired``: refresh now; ``True`` if a new token is ready."""
        ...

    async def rejected(self, error: SlackCredentialsError) -> None:
        """Slack refused the token: record that the installation needs a person."""
        ...


class StaticToken:
    """A fixed token (tests, a one-off ``test-post``); rejections are only logged."""

    def __init__(self, token: str, workspace: str = "default") -> None:
        self._token = token
        self.workspace = workspace

    def __repr__(self) -> str:
        return f"StaticToken(workspace={self.workspace!r})"

    async def token(self) -> str:
        return self._token

    async def refresh_expired(self) -> bool:
        return False

    async def rejected(self, error: SlackCredentialsError) -> None:
        log.error("slack token rejected", workspace=self.workspace, error=error.code)


@dataclass(frozen=True)
class PostResult:
    ts: str
    channel: str


@dataclass(frozen=True)
class HistoryMessage:
    """A message as ``conversations.history`` returns it; ``metadata`` only for app posts."""

    ts: str
    text: str
    bot_id: str | None
    metadata: Mapping[str, Any] | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> HistoryMessage:
        metadata = data.get("metadata")
        return cls(
            ts=str(data.get("ts", "")),
            text=str(data.get("text", "")),
            bot_id=data.get("bot_id"),
            metadata=metadata if isinstance(metadata, Mapping) else None,
            raw=data,
        )


@dataclass(frozen=True)
class HistoryPage:
    messages: list[HistoryMessage]
    next_cursor: str | None
    has_more: bool


@dataclass(frozen=True)
class AuthInfo:
    team_id: str
    team: str
    user_id: str
    bot_id: str | None
    url: str


@dataclass(frozen=True)
class ChannelInfo:
    id: str
    name: str
    is_private: bool
    is_archived: bool
    is_member: bool


Invoke = Callable[[AsyncWebClient], Awaitable[Any]]


class SlackApi:
    """One aiohttp session to one Slack API base URL; turns every failure into a SlackError."""

    def __init__(
        self,
        base_url: str = SLACK_API,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"SlackApi({self.base_url!r})"

    async def __aenter__(self) -> SlackApi:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self, token: str | None) -> AsyncWebClient:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(
                    total=self.timeout, connect=self.connect_timeout, sock_read=self.timeout
                )
            )
        return AsyncWebClient(
            token=token,
            base_url=self.base_url,
            session=self._session,
            timeout=max(1, round(self.timeout)),
            retry_handlers=[],
        )

    async def call(
        self, method: str, invoke: Invoke, *, token: str | None, side_effects: bool
    ) -> Mapping[str, Any]:
        """Run one API call; ``side_effects`` says whether a lost answer is ambiguous."""
        try:
            response = await invoke(self._client(token))
        except SlackApiError as exc:
            raise _from_api_error(method, exc, side_effects=side_effects) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise _from_transport(method, exc, side_effects=side_effects) from None
        except SlackClientError as exc:
            raise SlackPermanentError(f"Slack {method}: {exc}", method=method) from None
        data = response.data
        if not isinstance(data, Mapping):
            raise _unreadable(method, 200, side_effects=side_effects)
        return data


def _unreadable(method: str, status: int | None, *, side_effects: bool) -> SlackError:
    """An answer that is not Slack's JSON (an HTML page from a proxy or an outage)."""
    message = f"Slack {method}: HTTP {status} with a body that is not Slack's JSON"
    if status is not None and status >= 500:
        return SlackTransientError(message, method=method, http_status=status)
    if status == 200 and side_effects:
        return SlackAmbiguousError(message, method=method, http_status=status)
    if status == 200:
        return SlackTransientError(message, method=method, http_status=status)
    return SlackPermanentError(message, method=method, http_status=status)


def _from_api_error(method: str, exc: SlackApiError, *, side_effects: bool) -> SlackError:
    response = exc.response
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    headers = getattr(response, "headers", None) or {}
    data = getattr(response, "data", None)
    retry_after = headers.get("Retry-After") or headers.get("retry-after")
    if not isinstance(data, Mapping) or ("error" not in data and "ok" not in data):
        if status == 429:
            return api_error(method, http_status=429, code=None, retry_after_header=retry_after)
        return _unreadable(method, status, side_effects=side_effects)
    code = data.get("error")
    detail = None
    if code == "missing_scope":
        detail = f"needs {data.get('needed', '?')}, has {data.get('provided', '?')}"
    error = api_error(
        method,
        http_status=status,
        code=str(code) if code else None,
        retry_after_header=retry_after,
        detail=detail,
    )
    if isinstance(error, SlackAmbiguousError) and not side_effects:
        return SlackTransientError(
            error.message, method=method, code=error.code, http_status=status
        )
    return error


def _from_transport(method: str, exc: BaseException, *, side_effects: bool) -> SlackError:
    """Classify a failure below HTTP by whether the request can have reached Slack."""
    reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, aiohttp.InvalidURL):
        return SlackPermanentError(f"Slack {method}: bad API URL ({reason})", method=method)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        # An untrusted certificate is configuration (a proxy, a wrong CA bundle), not weather.
        return SlackPermanentError(
            f"Slack {method}: TLS certificate not trusted ({reason})", method=method
        )
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return SlackTransientError(f"Slack {method}: could not connect ({reason})", method=method)
    if not side_effects:
        return SlackTransientError(f"Slack {method}: no answer ({reason})", method=method)
    if isinstance(exc, TimeoutError):
        what = "timed out waiting for the answer"
    else:
        what = "connection lost after the request was sent"
    return SlackAmbiguousError(f"Slack {method}: {what}; it may have been applied", method=method)


class SlackClient:
    """The calls ml-connector makes with a workspace's bot token."""

    def __init__(
        self,
        tokens: TokenSource | str,
        *,
        base_url: str = SLACK_API,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        api: SlackApi | None = None,
    ) -> None:
        self.tokens: TokenSource = StaticToken(tokens) if isinstance(tokens, str) else tokens
        self.api = api or SlackApi(base_url, timeout=timeout, connect_timeout=connect_timeout)
        self._owns_api = api is None

    def __repr__(self) -> str:
        return f"SlackClient(workspace={self.tokens.workspace!r}, {self.api.base_url!r})"

    async def __aenter__(self) -> SlackClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_api:
            await self.api.aclose()

    async def _call(self, method: str, invoke: Invoke, *, side_effects: bool) -> Mapping[str, Any]:
        """A call with the workspace's token; an expired token is refreshed and tried once more.

        ``token_expired`` is refused at authentication, before anything is done, so the retry
        cannot duplicate a post.
        """
        token = await self.tokens.token()
        try:
            return await self.api.call(method, invoke, token=token, side_effects=side_effects)
        except SlackCredentialsError as exc:
            if exc.code == "token_expired" and await self.tokens.refresh_expired():
                token = await self.tokens.token()
                try:
                    return await self.api.call(
                        method, invoke, token=token, side_effects=side_effects
                    )
                except SlackCredentialsError as again:
                    exc = again
            await self.tokens.rejected(exc)
            raise exc from None

    async def post_message(
        self,
        channel: str,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> PostResult:
        """``chat.postMessage``; ``metadata`` is ``{"event_type": …, "event_payload": {…}}``.

        Unfurls are off: a message about a vendor must not grow a preview of its website.
        ``parse="none"``: Slack leaves the fallback text as written (no automatic links or
        mentions); the markup we built is kept.
        """

        def invoke(web: AsyncWebClient) -> Awaitable[Any]:
            return web.chat_postMessage(
                channel=channel,
                text=text,
                blocks=[dict(b) for b in blocks] if blocks else None,
                metadata=dict(metadata) if metadata else None,
                unfurl_links=False,
                unfurl_media=False,
                parse="none",
            )

        data = await self._call("chat.postMessage", invoke, side_effects=True)
        ts = data.get("ts")
        if not isinstance(ts, str) or not ts:
            # Slack said ok but gave no ts: the post happened, we cannot say where.
            raise SlackAmbiguousError(
                "Slack chat.postMessage: ok without a ts", method="chat.postMessage"
            )
        return PostResult(ts=ts, channel=str(data.get("channel") or channel))

    async def history(
        self,
        channel: str,
        *,
        oldest: str | None = None,
        latest: str | None = None,
        limit: int = HISTORY_PAGE,
        cursor: str | None = None,
    ) -> HistoryPage:
        """One page of ``conversations.history`` with every message's metadata."""

        def invoke(web: AsyncWebClient) -> Awaitable[Any]:
            return web.conversations_history(
                channel=channel,
                oldest=oldest,
                latest=latest,
                limit=limit,
                cursor=cursor,
                include_all_metadata=True,
            )

        data = await self._call("conversations.history", invoke, side_effects=False)
        messages = [
            HistoryMessage.from_api(m) for m in data.get("messages") or () if isinstance(m, dict)
        ]
        meta = data.get("response_metadata")
        next_cursor = meta.get("next_cursor") if isinstance(meta, Mapping) else None
        return HistoryPage(
            messages=messages,
            next_cursor=str(next_cursor) if next_cursor else None,
            has_more=bool(data.get("has_more")),
        )

    async def iter_history(
        self, channel: str, *, oldest: str | None = None, limit: int = HISTORY_PAGE
    ) -> AsyncIterator[HistoryMessage]:
        """Every message since ``oldest``, page by page (each page is one rate-limited call)."""
        cursor: str | None = None
        while True:
            page = await self.history(channel, oldest=oldest, limit=limit, cursor=cursor)
            for message in page.messages:
                yield message
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def auth_test(self) -> AuthInfo:
        def invoke(web: AsyncWebClient) -> Awaitable[Any]:
            return web.auth_test()

        data = await self._call("auth.test", invoke, side_effects=False)
        return AuthInfo(
            team_id=str(data.get("team_id", "")),
            team=str(data.get("team", "")),
            user_id=str(data.get("user_id", "")),
            bot_id=data.get("bot_id"),
            url=str(data.get("url", "")),
        )

    async def conversation_info(self, channel: str) -> ChannelInfo:
        def invoke(web: AsyncWebClient) -> Awaitable[Any]:
            return web.conversations_info(channel=channel)

        data = await self._call("conversations.info", invoke, side_effects=False)
        info = data.get("channel")
        if not isinstance(info, Mapping):
            raise SlackPermanentError(
                "Slack conversations.info: answer without a channel", method="conversations.info"
            )
        return ChannelInfo(
            id=str(info.get("id", channel)),
            name=str(info.get("name", "")),
            is_private=bool(info.get("is_private")),
            is_archived=bool(info.get("is_archived")),
            is_member=bool(info.get("is_member")),
        )
