"""``agent.toml``: what the agent serves, how it proves itself, and how it reaches Sage 100.

Relative paths are taken from the file's own directory, so the folder made by
``agent init-certs`` can be moved as a whole. Secrets never live in the file: API keys are
stored as hashes, and the Sage 100 password is read from the environment variable named in
``password_env``.

Example::

    companies = ["ABC"]

    [server]
    host = "0.0.0.0"
    port = 8443

    [tls]
    cert_file = "certs/agent.pem"
    key_file = "certs/agent.key"
    client_ca_file = "certs/ca.pem"   # required by mtls

    [auth]
    mode = "mtls"                     # or "api_key", or "mtls+api_key"

    [backend]
    kind = "odbc"                     # or "boi", "demo"

    [backend.odbc]
    directory = 'C:\\Sage\\Sage 100\\MAS90'
    user = "connector"
    password_env = "SAGE100_PASSWORD"

    [[api_keys]]                      # appended by `agent add-key`
    id = "k3f9a1c2"
    hash = "sha256:…"
    created = "2024-05-01T10:00:00Z"
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ml_connector_agent.errors import ConfigError
from ml_connector_agent.paging import InvalidRequest, parse_company_code


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSection(_Model):
    host: str = "0.0.0.0"
    port: int = Field(default=8443, ge=0, le=65535)


#: Where the passphrase of the agent's encrypted private keys comes from, unless configured.
PASSPHRASE_ENV = "ML_CONNECTOR_AGENT_KEY_PASSPHRASE"


class TlsSection(_Model):
    cert_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = None
    #: The environment variable holding the passphrase of ``key_file`` (PKCS#8, encrypted).
    key_passphrase_env: str = PASSPHRASE_ENV
    #: Windows: a file holding the passphrase sealed with DPAPI for the service account
    #: (``ml-connector-agent init --dpapi``); used when the environment variable is unset.
    key_passphrase_dpapi: Path | None = None


class AuthSection(_Model):
    mode: Literal["mtls", "api_key", "mtls+api_key"] = "mtls"
    #: mtls: the client certificate subjects accepted (RFC 4514, e.g.
    #: ``"CN=ml-connector,O=ml-connector"``). Empty: any certificate the CA signed. ``init``
    #: writes the subject of the one client certificate it issues. Unused by ``api_key``
    #: (no certificate is asked for), so switching ``mode`` alone keeps working.
    client_subjects: list[str] = []

    @field_validator("client_subjects")
    @classmethod
    def _subjects(cls, value: list[str]) -> list[str]:
        return [normal_subject(v) for v in value]

    @property
    def needs_client_cert(self) -> bool:
        return self.mode in ("mtls", "mtls+api_key")

    @property
    def needs_api_key(self) -> bool:
        return self.mode in ("api_key", "mtls+api_key")


def normal_subject(text: str) -> str:
    """An RFC 4514 subject as ``cryptography`` writes a certificate's (spacing, case of the
    attribute names), so a configured subject compares equal to the certificate's; a space
    after a separating comma is allowed, as people write it."""
    try:
        name = x509.Name.from_rfc4514_string(re.sub(r"(?<!\\),\s+", ",", text.strip()))
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is not an RFC 4514 subject like 'CN=ml-connector,O=ml-connector'"
        ) from exc
    return name.rfc4514_string()


class LockSection(_Model):
    """How long the agent itself waits out a Sage 100 record lock before answering 503."""

    attempts: int = Field(default=3, ge=1, le=20)
    delay_seconds: float = Field(default=0.25, ge=0, le=10)
    retry_after_seconds: int = Field(default=5, ge=0, le=3600)


class DemoSection(_Model):
    data_dir: Path = Path("demo-data")
    seed: int = 100
    activity_seconds: float = Field(default=0, ge=0)


class OdbcSection(_Model):
    edition: Literal["providex", "sqlserver"] = "providex"
    driver: str = "MAS 90 4.0 ODBC Driver"
    directory: str | None = None
    user: str | None = None
    password_env: str | None = None
    #: SQL Server (Premium) edition: a full ODBC connection string; ``{company}`` is replaced
    #: by the company code (e.g. ``Database=MAS_{company}``).
    connection_string: str | None = None
    timeout_seconds: int = Field(default=30, ge=1)


class BoiSection(_Model):
    home: str = r"C:\Sage\Sage 100\MAS90\Home"
    user: str | None = None
    password_env: str | None = None
    prog_id: str = "ProvideX.Script"
    #: Per BOI object, the indexes whose key begins with an audit date (``YYYYMMDD``, e.g. one
    #: led by DateCreated and one by DateUpdated). With them a changed-since read browses only
    #: the days since then (``nSetBrowseIndex`` + ``nSetBrowseFilter(day)``); without them the
    #: object is walked whole. The index names are install-specific and not in our sources:
    #: take them from Sage's File Layouts for your version (docs/agent-windows.md).
    date_indexes: dict[str, list[str]] = {}


class BackendSection(_Model):
    kind: Literal["demo", "odbc", "boi"] = "demo"
    demo: DemoSection = DemoSection()
    odbc: OdbcSection = OdbcSection()
    boi: BoiSection = BoiSection()


class ApiKeyEntry(_Model):
    id: str
    hash: str
    created: str | None = None

    @field_validator("hash")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme, _, digest = value.partition(":")
        if scheme != "sha256" or len(digest) != 64:
            raise ValueError("expected 'sha256:' followed by 64 hex digits")
        return value


class AgentConfig(_Model):
    companies: list[str] = Field(min_length=1)
    server: ServerSection = ServerSection()
    tls: TlsSection = TlsSection()
    auth: AuthSection = AuthSection()
    locks: LockSection = LockSection()
    backend: BackendSection = BackendSection()
    api_keys: list[ApiKeyEntry] = []
    #: Directory that relative paths are resolved against (the config file's own).
    base_dir: Path = Path(".")

    @field_validator("companies")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        try:
            return [parse_company_code(code) for code in value]
        except InvalidRequest as exc:
            raise ValueError(str(exc)) from exc

    def path(self, value: Path) -> Path:
        return value if value.is_absolute() else self.base_dir / value

    def problems_for_serving(self, *, insecure_dev: bool) -> list[str]:
        """What is missing for the chosen auth mode; empty when the agent can start."""
        problems = []
        if not insecure_dev:
            if self.tls.cert_file is None or self.tls.key_file is None:
                problems.append(
                    "tls.cert_file and tls.key_file are required: the agent serves HTTPS only "
                    "(run `ml-connector-agent init-certs`, or --insecure-dev for a local test)"
                )
            if self.auth.needs_client_cert and self.tls.client_ca_file is None:
                problems.append(f"tls.client_ca_file is required by auth.mode = {self.auth.mode}")
        if (self.auth.needs_api_key or insecure_dev) and not self.api_keys:
            problems.append(
                "no API keys configured: run `ml-connector-agent add-key --config FILE`"
            )
        return problems


def load_config(path: Path) -> AgentConfig:
    """Read and validate ``path``; every problem names the file and the key."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    raw["base_dir"] = str(path.resolve().parent)
    try:
        return AgentConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{path}: {'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError(f"{path}: invalid agent configuration", problems) from exc
