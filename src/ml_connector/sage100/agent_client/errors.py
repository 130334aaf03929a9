"""Failures of the connector's client for the Sage 100 agent.

They hang on the one tree in :mod:`ml_connector.errors` so a caller can
decide from the class alone: a record locked by a Sage 100 user or an agent that is down is
transient (retry with backoff), a bad company code or a rejected credential is permanent
(report once, hold the work)::

    ExternalError
    └── Sage100Error
        ├── Sage100TransientError (TransientError)      5xx, connection refused/reset, timeouts
        │   └── Sage100LockedError                      503 record_locked; ``retry_after`` set
        └── Sage100PermanentError (PermanentError)      400, 404, other 4xx, bad answers
            ├── Sage100CompanyNotFoundError             404 unknown company
            └── Sage100AuthError (CredentialsError)     401/403 and failed TLS handshakes

The agent's own failures (Sage 100 seen through BOI/ODBC/demo) live in
``ml_connector_agent.errors``; they reach the connector only as HTTP answers.
"""

from __future__ import annotations

from ml_connector.errors import (
    CredentialsError,
    ExternalError,
    PermanentError,
    TransientError,
)

SYSTEM = "sage100"


class Sage100Error(ExternalError):
    """A call from the connector to the Sage 100 agent failed."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message,
            system=SYSTEM,
            code=code,
            http_status=http_status,
            retry_after=retry_after,
        )


class Sage100TransientError(Sage100Error, TransientError):
    """The agent or the network failed in a way a later retry may not."""


class Sage100LockedError(Sage100TransientError):
    """A Sage 100 user holds the record or file; the agent already retried briefly."""


class Sage100PermanentError(Sage100Error, PermanentError):
    """The agent rejected the request itself; sending it again cannot help."""


class Sage100CompanyNotFoundError(Sage100PermanentError):
    """The agent does not serve the company code that was asked for."""


class Sage100AuthError(Sage100PermanentError, CredentialsError):
    """The API key or the certificates are not accepted (or the agent's are not trusted)."""
