"""The TOML configuration file, validated with pydantic.

A wrong file gets one line per problem, naming the file, the dotted key, what was expected and
what was found. Unknown keys are errors: a misspelt key silently ignored is a channel that
never gets its alerts. Secrets are never written here, only referenced by vault name.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from ml_connector.errors import ConfigError
from ml_connector.schedule.spec import ScheduleSpec, TimeZoneName

DEFAULT_FILE = "ml-connector.toml"
ENV_VAR = "MLC_CONFIG"
INTACCT_GATEWAY = "https://api.intacct.com/ia/xml/xmlgw.phtml"
SLACK_API = "https://slack.com/api/"
# Intacct's record links (RECORD_URL) point into these domains.
INTACCT_LINK_HOSTS = ("intacct.com", "sageintacct.com")

CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,20}$")
_USERGROUP_ID = re.compile(r"^S[A-Z0-9]{6,20}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{6,20}$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,199}$")
_COMPANY_CODE = re.compile(r"^[A-Za-z0-9]{3}$")
_SECRET_LOOKALIKE = re.compile(r"^(xox[abposre]-|xapp-|-----BEGIN)")


def _channel_id(value: str) -> str:
    if not CHANNEL_ID.match(value):
        raise ValueError("expected a Slack channel id like C0123ABCD")
    return value


def _usergroup_id(value: str) -> str:
    if not _USERGROUP_ID.match(value):
        raise ValueError("expected a Slack user group id like S0123ABCD")
    return value


def _user_id(value: str) -> str:
    if not _USER_ID.match(value):
        raise ValueError("expected a Slack user id like U0123ABCD")
    return value


def _secret_ref(value: str) -> str:
    if _SECRET_LOOKALIKE.match(value):
        raise ValueError(
            "expected the NAME of a stored secret, but this looks like the secret itself; "
            "store it with `ml-connector secrets set NAME` and write NAME here"
        )
    if not _SECRET_NAME.match(value):
        raise ValueError("expected the name of a stored secret (letters, digits, . _ - : /)")
    return value


def _company_code(value: str) -> str:
    if not _COMPANY_CODE.match(value):
        raise ValueError("expected a three-character Sage 100 company code like ABC")
    return value.upper()


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("expected an http(s) URL")
    return value


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``: traffic that never leaves the machine.

    Not ``*.localhost``: RFC 6761 asks resolvers to keep those on loopback, but glibc without
    nss-myhostname sends them to DNS, which may answer with any address.
    """
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _secure_url(value: str) -> str:
    """A URL that carries credentials: https, or http only to this machine (the simulators).

    Over plain http a bearer key, an Intacct login or a Slack token crosses the network in
    clear, and a client certificate configured for it is never presented at all.
    """
    parsed = urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError("expected an https:// URL")
    if parsed.scheme == "http" and not is_loopback_host(parsed.hostname):
        raise ValueError(
            "expected an https:// URL: credentials would cross the network in clear over "
            "http://, which is accepted only for loopback hosts (127.0.0.1, ::1, localhost); "
            f"write https://{value[len('http://') :]}"
        )
    return value


def _entity_id(value: str) -> str:
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$", value) or "@" in value:
        raise ValueError("expected an Intacct entity id (location id) like E100")
    return value


ChannelId = Annotated[str, AfterValidator(_channel_id)]
EntityId = Annotated[str, AfterValidator(_entity_id)]
UserGroupId = Annotated[str, AfterValidator(_usergroup_id)]
UserId = Annotated[str, AfterValidator(_user_id)]
SecretRef = Annotated[str, AfterValidator(_secret_ref)]
CompanyCode = Annotated[str, AfterValidator(_company_code)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
# Every URL a credential is sent to (the agent, the Intacct gateway, Slack's API) or trust is
# taken from (Intacct's JWKS).
SecureUrl = Annotated[str, AfterValidator(_secure_url)]
FilePath = Annotated[Path, Field(strict=False)]


class Model(BaseModel):
    # Strict: TOML already has real numbers and booleans, so `port = "8080"` or
    # `post_interval = true` is a mistake to report, not a value to coerce. Paths are the
    # exception (TOML has no path type), see FilePath.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ServerConfig(Model):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # The status page is behind a bearer token or basic auth: a secret reference, never the value.
    status_token: SecretRef | None = None
    status_user: str | None = None
    status_password: SecretRef | None = None
    # /metrics is open unless one of these is set (Prometheus supports both schemes).
    metrics_token: SecretRef | None = None
    metrics_user: str | None = None
    metrics_password: SecretRef | None = None
    max_body_bytes: int = Field(1_048_576, ge=1024)
    # Every JSON body is parsed only if it nests no deeper than this (Slack's own payloads
    # stay under 15 levels); deeper is refused with 400 before the parser recurses.
    max_json_depth: int = Field(64, ge=2, le=1000)
    # Seconds a client has to send a request's headers (from connecting, or from its first
    # byte on a kept-alive connection), then its body (from the end of the headers).
    header_timeout: float = Field(10.0, gt=0, le=300)
    body_timeout: float = Field(20.0, gt=0, le=600)
    # Seconds a kept-alive connection may sit idle between requests.
    idle_timeout: float = Field(30.0, gt=0, le=3600)
    # Open connections at most; past it the oldest idle (then stalled) connection is closed
    # for the new one, and if every connection is busy the new one gets 503. Keep it below
    # the process's file-descriptor limit (`ulimit -n`).
    max_connections: int = Field(1000, ge=1, le=100_000)
    # Seconds between two beats of `serve`'s row in service_instances (what `status` shows as
    # up). A beat missed while the database is out is tried at the next one.
    instance_heartbeat: float = Field(15.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _auth_pairs(self) -> ServerConfig:
        for kind in ("status", "metrics"):
            if (getattr(self, f"{kind}_user") is None) != (
                getattr(self, f"{kind}_password") is None
            ):
                raise ValueError(f"{kind}_user and {kind}_password go together")
        return self


class DatabaseConfig(Model):
    # Off by default: an upgrade changes the schema only when someone asks for it
    # (`ml-connector db upgrade` or `serve --migrate`), after taking a backup.
    auto_migrate: bool = False


class SchedulingConfig(Model):
    """How scheduled polls share the process and their sources (issue #22).

    Polls of one slot start spread over ``jitter_seconds`` (each at its own fixed offset), at
    most ``max_concurrent_polls`` at once in the process and at most the connection's
    ``max_concurrent`` per Sage 100 agent or Intacct company. A poll that fails backs off on
    its own (exponential, with jitter, from ``backoff_base`` up to ``backoff_max``); after
    ``alert_after`` failures in a row one alert is posted, and after ``pause_after`` the
    company is paused (``companies resume`` lifts it) — the others never wait for it.
    """

    max_concurrent_polls: int = Field(64, ge=1, le=10_000)
    jitter_seconds: float = Field(30.0, ge=0, le=60)
    poll_timeout: float = Field(600.0, gt=0)
    alert_after: int = Field(3, ge=1)
    # None: never pause a failing company on its own.
    pause_after: int | None = Field(20, ge=1)
    backoff_base: float = Field(60.0, gt=0)
    backoff_max: float = Field(3600.0, gt=0)

    @model_validator(mode="after")
    def _order(self) -> SchedulingConfig:
        if self.pause_after is not None and self.pause_after < self.alert_after:
            raise ValueError(
                f"pause_after ({self.pause_after}) must be at least alert_after "
                f"({self.alert_after}): the alert comes before the pause"
            )
        if self.backoff_max < self.backoff_base:
            raise ValueError("backoff_max must be at least backoff_base")
        return self


class DeliveryConfig(Model):
    post_interval: float = Field(1.0, gt=0, description="seconds between posts to one channel")
    max_attempts: int = Field(8, ge=1)
    max_age: float = Field(24 * 3600.0, gt=0, description="seconds before a message dead-letters")
    backoff_base: float = Field(1.0, gt=0)
    backoff_max: float = Field(300.0, gt=0)
    lease_seconds: float = Field(60.0, gt=1)
    history_interval: float = Field(
        60.0, gt=0, description="conversations.history budget: about 1/min outside the Marketplace"
    )
    request_timeout: float = Field(10.0, gt=0)


class RetentionConfig(Model):
    """How long finished work is kept: delivered messages with their attempts, finished runs
    and schedule slots older than ``days`` are pruned by `serve`; undelivered messages and
    dead letters are kept however old they are."""

    days: int = Field(90, ge=1, le=36_500, description="days delivered messages are kept")


class SlackWorkspace(Model):
    api_base_url: SecureUrl = SLACK_API
    app_id: str | None = None
    client_id: str | None = None
    client_secret: SecretRef | None = None
    signing_secret: SecretRef | None = None
    # Single-workspace setup: a bot token stored with `secrets set` instead of an OAuth install.
    bot_token: SecretRef | None = None
    token_rotation: bool = False
    oauth_authorize_url: SecureUrl = "https://slack.com/oauth/v2/authorize"
    allowed_users: list[UserId] = []
    allowed_channels: list[ChannelId] = []
    # The Slack team this workspace must be installed into (T…); an install into another is
    # refused. Unset: the first install binds it.
    team_id: str | None = Field(None, pattern=r"^[TE][A-Z0-9]{6,20}$")
    # Overrides slack.allow_reinstall for this workspace.
    allow_reinstall: bool | None = None

    @model_validator(mode="after")
    def _oauth_pairs(self) -> SlackWorkspace:
        if (self.client_id is None) != (self.client_secret is None):
            raise ValueError("client_id and client_secret go together")
        return self


def _link_host(value: str) -> str:
    host = value.strip().lower().lstrip(".")
    if not re.match(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$", host):
        raise ValueError("expected a host name like intacct.com (no scheme, path or port)")
    return host


LinkHost = Annotated[str, AfterValidator(_link_host)]


class SlackConfig(Model):
    workspaces: dict[str, SlackWorkspace] = {}
    # An install that would replace a workspace's stored bot token is refused unless this
    # (or the workspace's own allow_reinstall) is true; the refusal page says so.
    allow_reinstall: bool = False
    # `/slack/install` asks for this password (a stored secret's name) when set.
    install_password: SecretRef | None = None
    # Install links (OAuth states) issued per minute, across all processes.
    install_rate_per_minute: int = Field(10, ge=1, le=1000)
    # Hosts (and their subdomains) that text we post may link to. Unset: the Intacct hosts
    # plus the hosts of the Sage 100 `record_link` templates configured.
    link_hosts: list[LinkHost] | None = None


JwtAlgorithm = Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]


class IntacctTriggers(Model):
    """Real-time triggers from this company (``docs/intacct-triggers.md``).

    Sage Intacct documents that a webhook delivery carries a bearer JWT and an X-Trusted-Context
    header with our client ID, but not the token's issuer, its key set, where the idempotency
    key travels or the trusted context's field names: those are configuration here, with the
    values seen so far as defaults. Only asymmetric algorithms are accepted.
    """

    # Webhook delivery (JWT): on when client_id is set.
    client_id: str | None = Field(None, min_length=1)
    jwt_issuer: str | None = Field(None, min_length=1)
    # The key set webhook tokens are checked against: fetched over http, anyone on the path
    # could hand us their own keys and forge triggers, so it is held to the same rule.
    jwks_url: SecureUrl | None = None
    jwt_public_key_file: FilePath | None = None
    jwt_algorithms: list[JwtAlgorithm] = Field(["RS256"], min_length=1)
    trusted_context_client_key: str = Field("clientId", min_length=1)
    idempotency_header: str = Field("Idempotency-Key", min_length=1)
    # Plain HTTP POST triggers / Smart Events: a secret issued by `intacct trigger-secret`.
    accept_secret: bool = True
    secret_header: str = Field("X-MLC-Trigger-Secret", min_length=1)
    # Events for one record within this many seconds become one read (and one message).
    coalesce_seconds: float = Field(2.0, ge=0, le=60)
    leeway_seconds: float = Field(30.0, ge=0, le=300)
    max_body_bytes: int = Field(65_536, ge=256, le=1_048_576)
    max_depth: int = Field(8, ge=2, le=64)

    @model_validator(mode="after")
    def _jwt_keys(self) -> IntacctTriggers:
        if self.client_id is None:
            return self
        if self.jwt_issuer is None:
            raise ValueError("client_id (webhook delivery) needs jwt_issuer as well")
        if (self.jwks_url is None) == (self.jwt_public_key_file is None):
            raise ValueError(
                "client_id (webhook delivery) needs one of jwks_url, jwt_public_key_file"
            )
        return self


class IntacctConnection(Model):
    type: Literal["intacct"]
    gateway_url: SecureUrl = INTACCT_GATEWAY
    sender_id: str = Field(min_length=1)
    sender_password: SecretRef
    company_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    user_password: SecretRef
    entity_id: str | None = None
    # Multi-entity companies: the entities a pipeline may read one by one, each through a
    # session scoped to it (the login's <locationid>), and whether the top level (which sees
    # every entity) is read as well. Leave entity_id unset when listing entities.
    entities: list[EntityId] = []
    top_level: bool = False
    max_concurrent: int = Field(2, ge=1, le=20)
    timeout: float = Field(60.0, gt=0)
    triggers: IntacctTriggers | None = None

    @model_validator(mode="after")
    def _entity_forms(self) -> IntacctConnection:
        if self.entities and self.entity_id is not None:
            raise ValueError(
                "entity_id and entities do not go together: entity_id scopes every session "
                "to one entity; list the entities in entities and remove entity_id"
            )
        if len(set(self.entities)) != len(self.entities):
            raise ValueError("entities: each entity once")
        return self

    def sessions(self) -> list[str | None]:
        """The entity of each session a per-entity pipeline opens (None: the top level)."""
        if not self.entities:
            return [self.entity_id]
        return [*([None] if self.top_level else []), *self.entities]


class Sage100Connection(Model):
    """One Sage 100 agent. The CA and client certificates are public files; the client's
    private key and the API key are vault secrets named here (``secrets set NAME``)."""

    type: Literal["sage100"]
    agent_url: SecureUrl
    # The company a pipeline polls when it names none (`companies` on the pipeline).
    company: CompanyCode | None = None
    auth: Literal["mtls", "api_key", "mtls+api_key"]
    ca_file: FilePath | None = None
    cert_file: FilePath | None = None
    client_key: SecretRef | None = None
    api_key: SecretRef | None = None
    timeout: float = Field(30.0, gt=0)
    # Polls (and connections) to this agent at once, across all its companies and streams;
    # connections naming the same agent_url share the smallest of their limits.
    max_concurrent: int = Field(4, ge=1, le=32)

    @model_validator(mode="before")
    @classmethod
    def _no_key_file(cls, data: Any) -> Any:
        if isinstance(data, dict) and "key_file" in data:
            raise ValueError(
                "key_file is no longer read: the client's private key lives in the vault. Run "
                "`ml-connector secrets set sage100.client_key < client.key`, set "
                'client_key = "sage100.client_key" and delete the key file'
            )
        return data

    @model_validator(mode="after")
    def _auth_fields(self) -> Sage100Connection:
        mtls = self.auth in ("mtls", "mtls+api_key")
        keyed = self.auth in ("api_key", "mtls+api_key")
        https = str(self.agent_url).startswith("https://")
        problems = []
        if mtls:
            missing = [
                n for n in ("ca_file", "cert_file", "client_key") if getattr(self, n) is None
            ]
            if missing:
                problems.append(f"auth = {self.auth!r} needs {', '.join(missing)}")
            if not https:
                problems.append(f"auth = {self.auth!r} needs an https agent_url")
        else:
            unused = [n for n in ("cert_file", "client_key") if getattr(self, n) is not None]
            if unused:
                problems.append(
                    f"auth = {self.auth!r} does not send {' or '.join(unused)}: remove it, "
                    "or use auth = 'mtls+api_key'"
                )
        if keyed and self.api_key is None:
            problems.append(f"auth = {self.auth!r} needs api_key (a secret reference)")
        if not keyed and self.api_key is not None:
            problems.append(
                f"auth = {self.auth!r} does not send api_key: remove it, or use "
                "auth = 'mtls+api_key'"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


Connection = Annotated[IntacctConnection | Sage100Connection, Field(discriminator="type")]


class IntacctChannels(Model):
    gl: ChannelId
    payments: ChannelId
    alerts: ChannelId


class IntacctThresholds(Model):
    overlap_minutes: float = Field(5.0, ge=0)
    top_accounts: int = Field(5, ge=1, le=20)
    top_payments: int = Field(5, ge=1, le=20)
    max_alert_lines: int = Field(10, ge=1, le=40)
    page_size: int = Field(1000, ge=1, le=2000)
    initial_lookback_hours: float = Field(24.0, gt=0)


class IntacctChannelOverrides(Model):
    gl: ChannelId | None = None
    payments: ChannelId | None = None
    alerts: ChannelId | None = None


class IntacctCompanySettings(Model):
    """One entity's own settings (``[pipelines.NAME.company.E100]`` or ``companies add``);
    what it leaves out it takes from the pipeline."""

    channels: IntacctChannelOverrides = IntacctChannelOverrides()
    mention_group: UserGroupId | None = None


class IntacctPipeline(Model):
    type: Literal["intacct"]
    connection: str
    workspace: str = "default"
    timezone: TimeZoneName | None = None
    schedule: ScheduleSpec | None = None
    channels: IntacctChannels
    mention_group: UserGroupId | None = None
    post_empty: bool = False
    thresholds: IntacctThresholds = IntacctThresholds()
    # Entries dated on or before this day are in a closed period (the GL summary flags them).
    books_closed_through: Annotated[date, Field(strict=False)] | None = None
    # With a connection that lists entities: one summary per entity (and one for the top
    # level if the connection reads it), or one for all of them from the top level.
    summarise: Literal["per_entity", "all"] = "per_entity"
    # Per-entity settings, keyed by entity id (the top level: the connection's company_id).
    company: dict[str, IntacctCompanySettings] = {}


StreamName = Literal["ap_invoices", "purchase_orders", "gl_postings", "gl_accounts"]
STREAM_SCHEDULES: dict[str, str] = {
    "ap_invoices": "*/15 * * * *",
    "purchase_orders": "*/15 * * * *",
    "gl_postings": "0 * * * *",
    "gl_accounts": "0 * * * *",
}


class RouteCondition(Model):
    field: str = Field(min_length=1)
    op: Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "contains"] = "eq"
    value: str | float | int | bool | list[str | float | int]


class RouteRule(Model):
    when: list[RouteCondition] = Field(min_length=1)
    channel: ChannelId
    # `also` posts to this channel in addition to the default; otherwise the rule replaces it.
    also: bool = False


class Sage100Stream(Model):
    enabled: bool = True
    channel: ChannelId
    schedule: ScheduleSpec | None = None
    routes: list[RouteRule] = []
    digest_threshold: int = Field(20, ge=1)
    overlap_minutes: float = Field(2.0, ge=0)
    record_link: str | None = None


class Sage100StreamOverrides(Model):
    """What one company changes in a stream; the rest comes from the pipeline's stream."""

    enabled: bool | None = None
    channel: ChannelId | None = None
    routes: list[RouteRule] | None = None
    record_link: str | None = None


class Sage100CompanySettings(Model):
    """One company's own settings (``[pipelines.NAME.company.ABC]`` or ``companies add``)."""

    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    streams: dict[StreamName, Sage100StreamOverrides] = {}


class Sage100Pipeline(Model):
    type: Literal["sage100"]
    connection: str
    workspace: str = "default"
    timezone: TimeZoneName | None = None
    # Sage 100 AP/PO amounts carry no currency of their own: the company's home currency.
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    streams: dict[StreamName, Sage100Stream]
    # The companies polled through the one connection: a list of codes, or "*" for every
    # company the agent serves. Unset: the connection's own `company`.
    companies: list[CompanyCode] | Literal["*"] | None = None
    # Per-company settings, keyed by company code; a company listed here is polled too.
    company: dict[CompanyCode, Sage100CompanySettings] = {}
    # Where "polls keep failing" alerts go; unset: the failing stream's own channel.
    alerts_channel: ChannelId | None = None

    @model_validator(mode="after")
    def _companies_once(self) -> Sage100Pipeline:
        if isinstance(self.companies, list) and len(set(self.companies)) != len(self.companies):
            raise ValueError("companies: each company code once")
        return self


Pipeline = Annotated[IntacctPipeline | Sage100Pipeline, Field(discriminator="type")]


class Config(Model):
    data_dir: FilePath = Path("data")
    database_url: str | None = None
    master_key_file: FilePath | None = None
    timezone: TimeZoneName = "UTC"
    public_base_url: HttpUrl | None = None
    log_format: Literal["console", "json"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    scheduling: SchedulingConfig = SchedulingConfig()
    retention: RetentionConfig = RetentionConfig()
    slack: SlackConfig = SlackConfig()
    connections: dict[str, Connection] = {}
    pipelines: dict[str, Pipeline] = {}

    # Set by load_config: where the file was, so relative paths resolve against it.
    source: FilePath | None = Field(default=None, exclude=True)
    # Set by load_config: the files `include` brought in, in the order they were merged,
    # and which file defined each connection, pipeline and company (dotted key → file).
    included: tuple[FilePath, ...] = Field(default=(), exclude=True)
    origins: dict[str, FilePath] = Field(default={}, exclude=True)

    @model_validator(mode="after")
    def _references(self) -> Config:
        problems: list[str] = []
        for name, pipeline in self.pipelines.items():
            connection = self.connections.get(pipeline.connection)
            if connection is None:
                problems.append(
                    f"pipelines.{name}.connection: expected one of the [connections] "
                    f"({', '.join(sorted(self.connections)) or 'none defined'}), "
                    f"got {pipeline.connection!r}"
                )
            elif connection.type != pipeline.type:
                problems.append(
                    f"pipelines.{name}.connection: expected a {pipeline.type} connection, "
                    f"got {pipeline.connection!r} of type {connection.type}"
                )
            elif (
                isinstance(pipeline, Sage100Pipeline)
                and isinstance(connection, Sage100Connection)
                and connection.company is None
                and pipeline.companies is None
                and not pipeline.company
            ):
                problems.append(
                    f"pipelines.{name}.companies: required key is missing (connection "
                    f"{pipeline.connection!r} names no company): list the company codes, "
                    'e.g. companies = ["ABC"], or "*" for every company the agent serves'
                )
            elif (
                isinstance(pipeline, IntacctPipeline)
                and isinstance(connection, IntacctConnection)
                and pipeline.summarise == "all"
            ):
                problems.extend(
                    f"pipelines.{name}.company.{code}: summarise = 'all' reads only the top "
                    f"level; per-entity settings need summarise = 'per_entity'"
                    for code in pipeline.company
                    if code != connection.company_id
                )
            if pipeline.workspace not in self.slack.workspaces:
                problems.append(
                    f"pipelines.{name}.workspace: expected one of the [slack.workspaces] "
                    f"({', '.join(sorted(self.slack.workspaces)) or 'none defined'}), "
                    f"got {pipeline.workspace!r}"
                )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def file_of(self, dotted: str) -> Path | None:
        """The file that defined the longest known prefix of ``dotted`` (a problem's key)."""
        parts = dotted.split(":", 1)[0].split(".")
        for size in range(len(parts), 0, -1):
            found = self.origins.get(".".join(parts[:size]))
            if found is not None:
                return found
        return self.source

    @property
    def base_dir(self) -> Path:
        return self.source.parent if self.source is not None else Path.cwd()

    def path(self, value: Path) -> Path:
        return value if value.is_absolute() else self.base_dir / value

    @property
    def data_path(self) -> Path:
        return self.path(self.data_dir)

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_path / 'ml-connector.db'}"

    @property
    def key_file(self) -> Path:
        return self.path(self.master_key_file or self.data_dir / "master.key")

    def allowed_link_hosts(self) -> tuple[str, ...]:
        """Hosts a posted message may link to: ``slack.link_hosts``, or by default Intacct's
        hosts and the hosts of the Sage 100 record-link templates configured."""
        if self.slack.link_hosts is not None:
            return tuple(self.slack.link_hosts)
        hosts = list(INTACCT_LINK_HOSTS)
        for pipeline in self.pipelines.values():
            if isinstance(pipeline, Sage100Pipeline):
                for stream in pipeline.streams.values():
                    host = urlsplit(stream.record_link or "").hostname
                    if host and host not in hosts:
                        hosts.append(host)
        return tuple(hosts)

    def pipeline_timezone(self, name: str) -> ZoneInfo:
        return ZoneInfo(self.pipelines[name].timezone or self.timezone)


def resolve_path(explicit: Path | str | None = None) -> Path:
    """``--config`` wins, then ``MLC_CONFIG``, then ``ml-connector.toml`` here."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return Path(DEFAULT_FILE)


def load_config(path: Path | str | None = None) -> Config:
    file = resolve_path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{file}: no such file; run `ml-connector init` or pass --config"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    return parse_config(data, file)


def parse_config(data: dict[str, Any], file: Path) -> Config:
    """Validate a config's data; ``include`` pulls in its tenant files first (each problem
    names the file that defined the key)."""
    from ml_connector.config_include import apply_includes

    included = apply_includes(data, file)
    try:
        config = Config.model_validate(included.data)
    except ValidationError as exc:
        problems = [
            f"{included.file_of(line, file)}: {line}"
            for line in describe_errors(exc, included.data)
        ]
        message = problems[0] if len(problems) == 1 else "\n".join(problems)
        raise ConfigError(message, problems) from None
    origins = {".".join(k): v.resolve() for k, v in included.origins.items()}
    return config.model_copy(
        update={
            "source": file.resolve(),
            "included": tuple(f.resolve() for f in included.files),
            "origins": origins if included.files else {},
        }
    )


_TAGS = {"intacct", "sage100"}
_EXPECTED = {
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "list_type": "expected a list",
}


def describe_errors(exc: ValidationError, data: dict[str, Any]) -> list[str]:
    """One ``dotted.key: expected …, got …`` line per problem pydantic found."""
    lines: list[str] = []
    errors = exc.errors()
    # `companies = [...] | "*"`: one line saying both forms, or the list's own problems.
    either = {
        tuple(_clean_loc(e["loc"]))
        for e in errors
        if any(str(p).startswith("literal[") for p in e["loc"]) and not isinstance(e["input"], list)
    }
    for error in errors:
        if any(str(p).startswith("literal[") for p in error["loc"]):
            if isinstance(error["input"], list):
                continue
            key = ".".join(str(part) for part in _clean_loc(error["loc"]))
            lines.append(f'{key}: expected a list like ["ABC"] or "*", got {_got(error)}')
            continue
        if tuple(_clean_loc(error["loc"])) in either:
            continue
        loc = _clean_loc(error["loc"])
        key = ".".join(str(part) for part in loc)
        kind = error["type"]
        message = str(error["msg"]).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            lines.append(f"{key}: unknown key (check its spelling and where it is placed)")
            continue
        if kind == "missing":
            lines.append(f"{key}: required key is missing")
            continue
        if kind == "union_tag_invalid" or kind == "union_tag_not_found":
            lines.append(f"{key}.type: expected one of 'intacct', 'sage100', got {_got(error)}")
            continue
        if kind == "value_error" and not loc:
            lines.extend(message.splitlines())
            continue
        expected = _EXPECTED.get(kind) or _expected(message)
        if "[key]" in error["loc"]:
            expected = f"not a known name; {expected}"
        if ", got " in expected:  # the validator already said what it got
            lines.append(f"{key}: {expected}" if key else expected)
            continue
        lines.append(f"{key}: {expected}, got {_got(error)}" if key else expected)
    return lines


def _expected(message: str) -> str:
    """Our validators say ``expected …``; pydantic's bounds say ``Input should be …``.

    Both become one ``expected …`` phrase, so every line reads ``key: expected X, got Y``.
    """
    if message.startswith("expected"):
        return message
    if message.startswith("String should have "):
        return "expected a string with " + message.removeprefix("String should have ")
    text = message.removeprefix("Input should be ")
    if text.startswith(("greater than", "less than")):
        return f"expected a value {text}"
    return f"expected {text}"


def _clean_loc(loc: tuple[int | str, ...]) -> list[int | str]:
    """Drop the union tag pydantic inserts: ``pipelines.x.intacct.gl`` → ``pipelines.x.gl``."""
    parts = list(loc)
    if len(parts) >= 3 and parts[0] in ("connections", "pipelines") and parts[2] in _TAGS:
        del parts[2]
    # "[key]" marks an error in a table's key (a mistyped stream name), which the key names.
    return [
        p
        for p in parts
        if not (
            isinstance(p, str)
            and (p.startswith(("function-after", "list[", "literal[")) or p == "[key]")
        )
    ]


def _got(error: Any) -> str:
    value = error.get("input")
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)
