"""The simulated workspace: channels, messages, apps, tokens and authorization codes.

Free of HTTP so the Web API methods, the OAuth flow and the inspection views share one source
of truth.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ml_connector.sim.slack import ids
from ml_connector.sim.slack.api_error import ApiError

# What the simulator's own bot token may do: post, read history and channel info.
DEFAULT_BOT_SCOPES = frozenset(
    {"chat:write", "channels:history", "channels:read", "groups:history", "groups:read"}
)
# "With token rotation, it expires every 12 hours."
# https://docs.slack.dev/authentication/using-token-rotation
ROTATING_TOKEN_TTL = 43200.0
CODE_TTL = 600.0
_CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")


@dataclass
class App:
    """A Slack app: OAuth client credentials and the bot user it installs."""

    name: str
    bot_name: str
    app_id: str
    client_id: str
    client_secret: str = field(repr=False)
    bot_user_id: str
    bot_id: str
    scopes: frozenset[str]
    token_rotation: bool = False
    code_ttl: float = CODE_TTL
    token_ttl: float = ROTATING_TOKEN_TTL
    redirect_uris: tuple[str, ...] = ()


@dataclass
class Grant:
    """What one bot access token stands for."""

    token: str = field(repr=False)
    app: App
    scopes: frozenset[str]
    expires_at: float | None = None
    revoked: bool = False


@dataclass
class AuthCode:
    """A single-use code from the authorize page, bound to client, scopes and redirect URI."""

    code: str = field(repr=False)
    client_id: str
    scopes: frozenset[str]
    redirect_uri: str | None
    expires_at: float
    used: bool = False


@dataclass
class RefreshGrant:
    token: str = field(repr=False)
    app: App
    scopes: frozenset[str]


@dataclass(frozen=True)
class Message:
    """A stored message, shaped as Slack returns it (research/slack.md §1)."""

    ts: str
    text: str
    blocks: tuple[dict[str, Any], ...]
    metadata: dict[str, Any] | None
    attachments: tuple[dict[str, Any], ...]
    user: str
    bot_id: str
    app_id: str
    team: str

    def as_api(self, *, include_metadata: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": self.text,
            "ts": self.ts,
            "user": self.user,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team,
        }
        if self.blocks:
            body["blocks"] = copy.deepcopy(list(self.blocks))
        if self.attachments:
            body["attachments"] = copy.deepcopy(list(self.attachments))
        if include_metadata and self.metadata is not None:
            body["metadata"] = copy.deepcopy(self.metadata)
        return body

    def as_record(self) -> dict[str, Any]:
        """Everything stored, for tests and the inspection API (metadata always present)."""
        body = self.as_api(include_metadata=True)
        body["blocks"] = copy.deepcopy(list(self.blocks))
        body["metadata"] = copy.deepcopy(self.metadata)
        return body


@dataclass
class Channel:
    id: str
    name: str
    created: int
    creator: str
    members: set[str] = field(default_factory=set)
    is_archived: bool = False
    messages: list[Message] = field(default_factory=list)
    last_ts_micros: int = 0


def ts_to_micros(ts: str) -> int:
    """``"1700000000.000100"`` → microseconds; ValueError when it is not a Slack timestamp."""
    whole, _, frac = ts.strip().partition(".")
    if not whole.isdigit() or (frac and (not frac.isdigit() or len(frac) > 6)):
        raise ValueError(f"not a Slack timestamp: {ts!r}")
    return int(whole) * 1_000_000 + int(frac.ljust(6, "0") or "0")


def micros_to_ts(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


class Workspace:
    """One Slack team with its channels, the simulator's default app and registered apps."""

    def __init__(self, rng: random.Random, team_name: str = "ML Connector Sim") -> None:
        self.rng = rng
        self.team_id = ids.slack_id(rng, "T")
        self.team_name = team_name
        self.installer_user_id = ids.slack_id(rng, "U")
        self.domain = "mlc-sim"
        self.channels: dict[str, Channel] = {}
        self.apps: dict[str, App] = {}
        self.grants: dict[str, Grant] = {}
        self.refresh_grants: dict[str, RefreshGrant] = {}
        self.codes: dict[str, AuthCode] = {}
        self.default_app = self._new_app("ml-connector", DEFAULT_BOT_SCOPES)
        self.bot_token = self.issue_token(self.default_app, DEFAULT_BOT_SCOPES, now=0.0).token

    @property
    def url(self) -> str:
        return f"https://{self.domain}.slack.com/"

    def _new_app(
        self,
        name: str,
        scopes: Iterable[str],
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        **options: Any,
    ) -> App:
        app = App(
            name=name,
            bot_name=re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "bot",
            app_id=ids.slack_id(self.rng, "A"),
            client_id=client_id or ids.client_id(self.rng),
            client_secret=client_secret or ids.client_secret(),
            bot_user_id=ids.slack_id(self.rng, "U"),
            bot_id=ids.slack_id(self.rng, "B"),
            scopes=frozenset(scopes),
            **options,
        )
        self.apps[app.client_id] = app
        return app

    def register_app(
        self,
        client_id: str,
        client_secret: str,
        *,
        scopes: Iterable[str],
        token_rotation: bool,
        code_ttl: float,
        token_ttl: float,
        redirect_uris: Iterable[str],
        name: str,
    ) -> App:
        if client_id in self.apps:
            raise ValueError(f"an app with client id {client_id} is already registered")
        return self._new_app(
            name,
            scopes,
            client_id=client_id,
            client_secret=client_secret,
            token_rotation=token_rotation,
            code_ttl=code_ttl,
            token_ttl=token_ttl,
            redirect_uris=tuple(redirect_uris),
        )

    # Tokens ---------------------------------------------------------------------------------

    def issue_token(self, app: App, scopes: frozenset[str], *, now: float) -> Grant:
        rotating = app.token_rotation
        grant = Grant(
            token=ids.bot_token(rotating=rotating),
            app=app,
            scopes=scopes,
            expires_at=now + app.token_ttl if rotating else None,
        )
        self.grants[grant.token] = grant
        return grant

    def issue_code(
        self, app: App, scopes: frozenset[str], redirect_uri: str | None, *, now: float
    ) -> AuthCode:
        code = AuthCode(ids.oauth_code(), app.client_id, scopes, redirect_uri, now + app.code_ttl)
        self.codes[code.code] = code
        return code

    def issue_refresh_token(self, app: App, scopes: frozenset[str]) -> RefreshGrant:
        refresh = RefreshGrant(ids.refresh_token(), app, scopes)
        self.refresh_grants[refresh.token] = refresh
        return refresh

    def authenticate(self, token: str | None, *, now: float) -> Grant:
        """The grant behind a token, or the error Slack gives for it."""
        if not token:
            raise ApiError("not_authed")
        grant = self.grants.get(token)
        if grant is None:
            raise ApiError("invalid_auth")
        if grant.revoked:
            raise ApiError("token_revoked")
        if grant.expires_at is not None and now >= grant.expires_at:
            raise ApiError("token_expired")
        return grant

    def set_revoked(self, token: str, revoked: bool) -> None:
        grant = self.grants.get(token)
        if grant is None:
            raise KeyError("no such token")
        grant.revoked = revoked

    # Channels -------------------------------------------------------------------------------

    def create_channel(self, name: str, *, bot_member: bool, now: float) -> Channel:
        name = name.lstrip("#")
        if not _CHANNEL_NAME.match(name):
            raise ValueError(
                f"invalid channel name {name!r}: lower-case letters, digits, - and _, "
                "at most 80 characters"
            )
        if any(channel.name == name for channel in self.channels.values()):
            raise ValueError(f"channel #{name} already exists")
        channel = Channel(
            id=ids.slack_id(self.rng, "C"),
            name=name,
            created=int(now),
            creator=self.default_app.bot_user_id,
        )
        if bot_member:
            channel.members.add(self.default_app.bot_user_id)
        self.channels[channel.id] = channel
        return channel

    def channel_by_id(self, channel_id: str) -> Channel:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise ApiError("channel_not_found")
        return channel

    def channel_by_ref(self, ref: str) -> Channel:
        """chat.postMessage takes "an encoded ID or channel name" (with or without ``#``)."""
        if ref in self.channels:
            return self.channels[ref]
        name = ref.removeprefix("#")
        for channel in self.channels.values():
            if channel.name == name:
                return channel
        raise ApiError("channel_not_found")

    def channel_named(self, name: str) -> Channel:
        name = name.removeprefix("#")
        for channel in self.channels.values():
            if channel.name == name:
                return channel
        raise KeyError(f"no channel #{name}")

    # Messages -------------------------------------------------------------------------------

    def next_ts(self, channel: Channel, *, now: float) -> str:
        """A ``ts`` strictly greater than every earlier one in the channel."""
        micros = max(int(now * 1_000_000), channel.last_ts_micros + 1)
        channel.last_ts_micros = micros
        return micros_to_ts(micros)
