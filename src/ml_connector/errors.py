"""The one exception hierarchy of ml-connector.

Callers decide what to do with a failure from its class alone: retry it, reconcile it, hold
the work, or report it once. Every module raises from this tree and nothing else escapes a
public function (library exceptions are wrapped with ``raise ... from``)::

    MLConnectorError
    ├── ConfigError                    bad config file or option; exit code 2
    ├── VaultError                     secrets at rest
    │   ├── MasterKeyError             key missing, wrong for the stored secrets, or file too open
    │   ├── CorruptSecretError         one stored secret is damaged (the key opens the others)
    │   └── SecretNotFoundError        a referenced secret was never stored
    ├── StoreError                     database unusable (unreachable, migrations not current)
    │   ├── SchemaBehindError          the database is older than the code: migrate first
    │   ├── SchemaAheadError           a newer ml-connector upgraded it: run that version
    │   └── BackupError                a backup or restore refused or failed; nothing changed
    ├── RunSupersededError             permanent: the run was declared dead and another took its
    │                                  place, so it may commit nothing (its messages, its cursor)
    └── ExternalError                  a call to Slack, Intacct or the Sage 100 agent failed
        ├── TransientError             retry with backoff and jitter
        │   ├── RateLimitedError       retry after ``retry_after`` seconds
        │   └── AmbiguousError         the request may have taken effect: reconcile first
        └── PermanentError             retrying cannot help; report once
            └── CredentialsError       the credential or installation is unusable: hold the work

Each system adds leaves (``SlackError`` …) by mixing its own base with one of these, so
``except TransientError`` works whatever system raised it.
"""

from __future__ import annotations

from ml_connector.redact import redact_text


class MLConnectorError(Exception):
    """Base of every error ml-connector raises on purpose."""


class ConfigError(MLConnectorError):
    """The configuration is wrong; ``problems`` holds one line per problem."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class VaultError(MLConnectorError):
    """Secrets could not be stored or read."""


class MasterKeyError(VaultError):
    """The master key is missing, unreadable, too open, or does not open the stored secrets."""


class CorruptSecretError(VaultError):
    """One stored secret cannot be opened although the master key opens the vault: its row is
    damaged (or was written under a key no longer held); it must be set again."""


class SecretNotFoundError(VaultError):
    """A secret referenced by name has not been stored."""


class StoreError(MLConnectorError):
    """The database cannot be used."""


class SchemaBehindError(StoreError):
    """The database's schema is older than this code's; a migration must run first."""


class SchemaAheadError(StoreError):
    """The database's schema revision is unknown to this code: a newer version wrote it."""


class BackupError(StoreError):
    """A backup or restore was refused (wrong key, newer archive …) or failed."""


class RunSupersededError(MLConnectorError):
    """A pipeline run tried to commit after it had been declared dead (its heartbeat went
    missing) and, usually, another run of the same key had started in its place.

    Permanent: retrying the same run cannot help, since its window now belongs to the run that
    replaced it; committing anyway would post what that run posts a second time. The run is
    recorded failed ("superseded") with nothing queued and its cursor where it was.
    """

    def __init__(self, message: str, *, run_id: int, superseded_by: int | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.superseded_by = superseded_by


class ExternalError(MLConnectorError):
    """A call to an external system failed.

    ``system`` names it (``slack``, ``intacct``, ``sage100``); ``transient`` says whether a
    retry may succeed; ``ambiguous`` says the request may already have taken effect.
    """

    transient: bool = False
    ambiguous: bool = False

    def __init__(
        self,
        message: str,
        *,
        system: str = "external",
        code: str | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        # A source's answer is outside text and may echo what it was sent (a password, a
        # key): masked here, before anything can truncate, format, store or post it.
        message = redact_text(message)
        super().__init__(message)
        self.message = message
        self.system = system
        self.code = code
        self.http_status = http_status
        self.retry_after = retry_after

    @property
    def kind(self) -> str:
        """One word for logs, metrics and the audit trail."""
        if isinstance(self, RateLimitedError):
            return "rate_limited"
        if isinstance(self, AmbiguousError):
            return "ambiguous"
        if isinstance(self, CredentialsError):
            return "credentials"
        if self.transient:
            return "transient"
        return "permanent"


class TransientError(ExternalError):
    """Retrying later may succeed."""

    transient = True


class RateLimitedError(TransientError):
    """The system asked us to slow down; ``retry_after`` is its wish in seconds."""


class AmbiguousError(TransientError):
    """The request was sent and may have been applied; the answer was lost."""

    ambiguous = True


class PermanentError(ExternalError):
    """Retrying the same request cannot succeed."""


class CredentialsError(PermanentError):
    """The credential or installation is unusable until a person fixes it."""
