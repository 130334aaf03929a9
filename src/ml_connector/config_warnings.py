"""Things a config may say that are valid but will not work as meant: warned, not refused.

Kept apart from the validation in :mod:`ml_connector.config` (which refuses), so a warning
never blocks a start and each one is a small pure check.
"""

from __future__ import annotations

from ml_connector.config import Config


def public_base_url_warning(config: Config) -> str | None:
    """Slack only calls https Request URLs (events, commands, OAuth redirect)."""
    url = config.public_base_url
    if url is None or not url.lower().startswith("http://"):
        return None
    return (
        f"{config.source or 'config'}: public_base_url: Slack sends events, slash commands "
        f"and OAuth redirects only to https URLs, got {url!r}; put the service behind TLS and use https://"
    )


def config_warnings(config: Config) -> list[str]:
    return [w for w in (public_base_url_warning(config),) if w is not None]
