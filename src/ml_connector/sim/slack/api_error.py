"""The simulator's internal signal for an ``ok: false`` answer.

Raised deep inside a Web API method and turned into the HTTP 200 JSON body Slack sends; it
never leaves the simulator, so it is not part of ml-connector's exception tree.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """``{"ok": false, "error": code, **extra}`` with HTTP 200."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.code, **self.extra}


class RateLimitExceeded(Exception):
    """HTTP 429 with ``Retry-After`` in whole seconds and ``{"ok": false, "error": "ratelimited"}``.

    Raised by a method's own limiter; the server turns it into the answer.
    """

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


def invalid_arguments(problem: str) -> ApiError:
    """Slack's ``invalid_arguments`` answer, with the reason in ``response_metadata``."""
    return ApiError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {problem}"]})
