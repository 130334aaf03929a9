"""Message ``metadata``: ``{"event_type": str, "event_payload": object}``.

Shape from https://docs.slack.dev/messaging/message-metadata and the official type
``MessageMetadata`` (payload values: string, number, boolean, an object of those, or an array
of such objects). In a form body it arrives as a JSON string. Slack documents
``invalid_metadata_format``, ``invalid_metadata_schema`` and ``metadata_too_large`` but not
the size limit, so the limit is a simulator setting.
"""

from __future__ import annotations

import json
from typing import Any

from ml_connector.sim.slack.api_error import ApiError
from ml_connector.sim.slack.request import loads_unicode_json

DEFAULT_MAX_BYTES = 8192


def parse_metadata(raw: Any, *, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """The metadata object, or ApiError with the code Slack gives for what is wrong."""
    if isinstance(raw, str):
        try:
            raw = loads_unicode_json(raw)
        except ValueError as exc:
            raise ApiError("invalid_metadata_format") from exc
    if not isinstance(raw, dict):
        raise ApiError("invalid_metadata_format")
    event_type = raw.get("event_type")
    payload = raw.get("event_payload")
    if not isinstance(event_type, str) or not event_type.strip():
        raise ApiError("invalid_metadata_schema")
    if not isinstance(payload, dict) or not all(
        isinstance(key, str) and _payload_value_ok(value) for key, value in payload.items()
    ):
        raise ApiError("invalid_metadata_schema")
    if set(raw) - {"event_type", "event_payload"}:
        raise ApiError("invalid_metadata_schema")
    size = len(json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > max_bytes:
        raise ApiError("metadata_too_large")
    return {"event_type": event_type, "event_payload": payload}


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _flat_object(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and _scalar(v) for k, v in value.items()
    )


def _payload_value_ok(value: Any) -> bool:
    if _scalar(value) or _flat_object(value):
        return True
    # The official type allows arrays of flat objects only, not arrays of scalars.
    return isinstance(value, list) and all(_flat_object(v) for v in value)
