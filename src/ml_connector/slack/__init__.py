"""Slack: the Web API client and its error model, Block Kit messages, the OAuth v2 install.

The delivery path uses :func:`client_for` (a client whose token is managed per workspace) and
:class:`Message` from the formatters; the web server mounts :class:`Installer`.
"""

from ml_connector.slack.blocks import Message, RecordLink
from ml_connector.slack.client import (
    HistoryMessage,
    HistoryPage,
    PostResult,
    SlackApi,
    SlackClient,
    StaticToken,
    TokenSource,
)
from ml_connector.slack.errors import (
    SlackAmbiguousError,
    SlackCredentialsError,
    SlackError,
    SlackPermanentError,
    SlackRateLimitedError,
    SlackTransientError,
)
from ml_connector.slack.installations import Installation, OAuthStateError
from ml_connector.slack.oauth import Installer
from ml_connector.slack.tokens import (
    InstallationStatus,
    WorkspaceTokens,
    client_for,
    installation_status,
)

__all__ = [
    "HistoryMessage",
    "HistoryPage",
    "Installation",
    "InstallationStatus",
    "Installer",
    "Message",
    "OAuthStateError",
    "PostResult",
    "RecordLink",
    "SlackAmbiguousError",
    "SlackApi",
    "SlackClient",
    "SlackCredentialsError",
    "SlackError",
    "SlackPermanentError",
    "SlackRateLimitedError",
    "SlackTransientError",
    "StaticToken",
    "TokenSource",
    "WorkspaceTokens",
    "client_for",
    "installation_status",
]
