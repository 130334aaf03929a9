"""Knobs of the delivery path; defaults match Slack's real limits."""

from __future__ import annotations

from dataclasses import dataclass

from ml_connector.config import DeliveryConfig


@dataclass(frozen=True)
class DeliverySettings:
    post_interval: float = 1.0
    max_attempts: int = 8
    max_age: float = 24 * 3600.0
    backoff_base: float = 1.0
    backoff_max: float = 300.0
    lease_seconds: float = 60.0
    history_interval: float = 60.0
    # How long one worker keeps a channel before letting others have a turn.
    channel_hold: float = 30.0
    # Wait this long after an ambiguous send before asking Slack what arrived.
    reconcile_delay: float = 2.0
    # Margin before the first unknown send when reading history (clock skew with Slack).
    reconcile_margin: float = 300.0
    # How often a held (unusable) workspace is probed with auth.test.
    probe_interval: float = 30.0
    # Idle poll when nothing is due; the worker otherwise sleeps exactly until the next due post.
    idle_poll: float = 0.5
    max_channels: int = 64

    @classmethod
    def from_config(cls, config: DeliveryConfig, **overrides: float | int) -> DeliverySettings:
        values: dict[str, float | int] = {
            "post_interval": config.post_interval,
            "max_attempts": config.max_attempts,
            "max_age": config.max_age,
            "backoff_base": config.backoff_base,
            "backoff_max": config.backoff_max,
            "lease_seconds": config.lease_seconds,
            "history_interval": config.history_interval,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
