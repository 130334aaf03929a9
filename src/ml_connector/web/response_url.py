"""Posting a delayed answer to a slash command's ``response_url``.

Slack accepts up to five posts to a ``response_url`` within 30 minutes. A failed connection
or a 5xx is retried with backoff and full jitter; a 4xx (``expired_url``, ``used_url``) will
not change and is reported once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from typing import Any

import aiohttp

from ml_connector.backoff import full_jitter
from ml_connector.logging import get_logger

log = get_logger("ml_connector.web")

ATTEMPTS = 4
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
TIMEOUT = aiohttp.ClientTimeout(total=10)


def usable_url(value: str | None) -> bool:
    return bool(value) and str(value).startswith(("https://", "http://"))


async def post_response(
    http: aiohttp.ClientSession,
    url: str,
    message: Mapping[str, Any],
    *,
    rng: random.Random | None = None,
) -> bool:
    """``True`` once Slack has the message; ``False`` after a permanent failure or retries."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with http.post(url, json=dict(message), timeout=TIMEOUT) as answer:
                if answer.status < 300:
                    return True
                detail = (await answer.text())[:200]
                transient = answer.status >= 500 or answer.status == 429
        except (aiohttp.ClientError, TimeoutError) as exc:
            detail = type(exc).__name__
            transient = True
        if not transient:
            log.warning("slash command answer refused", status=answer.status, detail=detail)
            return False
        if attempt < ATTEMPTS:
            await asyncio.sleep(full_jitter(attempt, BACKOFF_BASE, BACKOFF_CAP, rng))
    log.error("slash command answer not delivered", attempts=ATTEMPTS, detail=detail)
    return False
