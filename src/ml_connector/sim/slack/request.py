"""Turning an HTTP request into a Web API call the way Slack reads it.

Slack takes ``application/x-www-form-urlencoded`` or ``application/json`` bodies; "Tokens should
be passed as an HTTP Authorization header or alternatively, as a POST parameter"
(https://docs.slack.dev/reference/methods/chat.postMessage). A JSON body must carry its token
in the header, and tokens in the query string are refused for apps created after
2021-02-24 (https://api.slack.com/changelog/2020-11-no-more-tokens-in-querystrings-for-newly-created-apps),
so the simulator ignores both.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from ml_connector.sim.slack.api_error import ApiError, invalid_arguments

_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"


@dataclass(frozen=True)
class ApiCall:
    """The arguments and credentials of one Web API call."""

    method: str
    args: Mapping[str, Any]
    token: str | None = field(default=None, repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    is_json: bool = False

    def string(self, name: str, *, required: bool = False) -> str | None:
        value = self.args.get(name)
        if value is None or value == "":
            if required:
                raise invalid_arguments(f"missing required field: {name}")
            return None
        if not isinstance(value, str):
            raise invalid_arguments(f"{name} must be a string")
        return value

    def flag(self, name: str) -> bool:
        """Booleans arrive as ``true``/``false``/``1``/``0`` in forms, as JSON booleans in JSON."""
        value = self.args.get(name)
        if value is None or value == "":
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "1"}:
            return True
        if isinstance(value, str) and value.lower() in {"false", "0"}:
            return False
        raise invalid_arguments(f"{name} must be a boolean")

    def integer(self, name: str, default: int) -> int:
        value = self.args.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise invalid_arguments(f"{name} must be an integer")
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise invalid_arguments(f"{name} must be an integer") from exc


def loads_unicode_json(text: str) -> Any:
    """``json.loads`` that also refuses text which is not Unicode: a lone surrogate escape
    (``"\\ud800"``) is valid JSON syntax, but Slack's JSON decoder refuses it, as PHP's
    ``json_decode`` does (JSON_ERROR_UTF16, "Single unpaired UTF-16 surrogate"), and it
    cannot be stored as UTF-8. Raises ValueError for either."""
    value = json.loads(text)
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("a string holds an unpaired UTF-16 surrogate") from exc
    return value


async def read_call(request: web.Request, method: str) -> ApiCall:
    """Parse the body by its content type; ApiError for what Slack would refuse."""
    token, basic = _authorization(request.headers.get("Authorization", ""))
    if request.method == "GET":
        return ApiCall(method, dict(request.query), token, basic)
    body = await request.read()
    content_type = request.headers.get("Content-Type")
    if content_type is None:
        if body:
            raise ApiError("missing_post_type")
        return ApiCall(method, {}, token, basic)
    charset = request.charset
    if charset is not None and charset.lower().replace("-", "") != "utf8":
        raise ApiError("invalid_charset")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError("invalid_charset") from exc
    if request.content_type == _FORM:
        args = dict(parse_qsl(text, keep_blank_values=True))
        form_token = args.pop("token", None)
        return ApiCall(method, args, token or form_token, basic)
    if request.content_type == _JSON:
        try:
            parsed = loads_unicode_json(text) if text.strip() else {}
        except ValueError as exc:
            raise ApiError("invalid_json") from exc
        if not isinstance(parsed, dict):
            raise ApiError("json_not_object")
        parsed.pop("token", None)
        return ApiCall(method, parsed, token, basic, is_json=True)
    raise ApiError("invalid_post_type")


def _authorization(header: str) -> tuple[str | None, tuple[str, str] | None]:
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value, None
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        client_id, sep, secret = decoded.partition(":")
        if sep:
            return None, (client_id, secret)
    return None, None
