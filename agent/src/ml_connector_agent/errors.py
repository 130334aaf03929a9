"""The agent's own failures, apart from the connector's exception tree.

The agent is its own distribution (``pip install ml-connector-agent``) and must not import the
connector, so it keeps this small tree. What crosses to the connector is only the HTTP answer
(status, ``error`` code and ``retryable``, see ``openapi.json``); the connector maps those onto
its own classes in ``ml_connector.sage100.agent_client.errors``::

    AgentError
    ├── ConfigError                     bad agent.toml, key or certificate file; exit code 2
    └── BackendError                    Sage 100 (BOI, ODBC or demo data) failed a read
        ├── RecordLockedError           BOI 0 + "busy/in use/locked", ProvideX busy (transient)
        ├── BackendUnavailableError     driver missing at runtime, logon failed (transient)
        └── BackendQueryError           a read Sage 100 rejected (permanent)
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""


class ConfigError(AgentError):
    """The agent's configuration or files are wrong; ``problems`` holds one line per problem."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class BackendError(AgentError):
    """Sage 100 itself failed a read inside the agent; ``transient`` says whether to retry."""

    transient: bool = False

    def __init__(self, message: str, *, code: str = "backend_error") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class RecordLockedError(BackendError):
    """Another Sage 100 user holds the record or file (BOI 0 + message, ProvideX Error #0)."""

    transient = True

    def __init__(self, message: str) -> None:
        super().__init__(message, code="record_locked")


class BackendUnavailableError(BackendError):
    """Sage 100 cannot be reached now: logon failed, driver or data path not available."""

    transient = True

    def __init__(self, message: str) -> None:
        super().__init__(message, code="backend_unavailable")


class BackendQueryError(BackendError):
    """Sage 100 rejected the read (unknown table or column, bad filter)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="backend_error")
