"""Every table ml-connector keeps, in SQLAlchemy Core.

Times are UTC epoch seconds (``Double``) so that leases, pacing and schedule slots compare the
same way on SQLite and PostgreSQL. Migrations in ``migrations/versions`` must match this file;
``tests/store/test_migrations.py`` checks they do.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ml_connector.redact import redact_optional, redact_payload

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Auto-incrementing 64-bit ids; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time: sa.Double[float] = sa.Double()


class RedactedText(sa.types.TypeDecorator[str]):
    """Text that may hold outside text (a source's error, a Slack answer): every value
    written passes the redactor, so no code path can store a secret an ERP echoed."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return redact_optional(value)


class RedactedString(sa.types.TypeDecorator[str]):
    """:class:`RedactedText` with a length (``String(n)``)."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return redact_optional(value)


class RedactedJSON(sa.types.TypeDecorator[Any]):
    """JSON whose strings pass the redactor on the way in (rendered messages, run details)."""

    impl = sa.JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        return redact_payload(value)


secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("ciphertext", sa.Text, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

# The position of each pipeline stream in its source; ``value`` is the stream's own JSON.
cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("pipeline", sa.String(100), primary_key=True),
    sa.Column("stream", sa.String(100), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

# The last posted version of each source record, so that updates can say what changed.
record_states = sa.Table(
    "record_states",
    metadata,
    sa.Column("pipeline", sa.String(100), primary_key=True),
    sa.Column("stream", sa.String(100), primary_key=True),
    sa.Column("record_key", sa.String(300), primary_key=True),
    sa.Column("fingerprint", sa.JSON, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

# Small caches that other processes may share (Intacct account titles …).
cache_entries = sa.Table(
    "cache_entries",
    metadata,
    sa.Column("namespace", sa.String(100), primary_key=True),
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("pipeline", sa.String(100), nullable=False),
    sa.Column("trigger", sa.String(30), nullable=False),  # schedule | catchup | manual | slack
    sa.Column("status", sa.String(20), nullable=False),  # running | succeeded | partial | failed
    sa.Column("started_at", Time, nullable=False),
    sa.Column("finished_at", Time),
    sa.Column("records_read", sa.Integer, nullable=False, server_default="0"),
    sa.Column("messages_queued", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", RedactedText),
    sa.Column("owner", sa.String(200)),
    sa.Column("heartbeat_at", Time),
    sa.Column("details", RedactedJSON),
    sa.Index("ix_runs_pipeline_started", "pipeline", "started_at"),
    sa.Index("ix_runs_started_at", "started_at"),  # retention's range scan
)

# One row per (schedule, fire time): the unique key is what makes a slot run once.
schedule_slots = sa.Table(
    "schedule_slots",
    metadata,
    sa.Column("schedule", sa.String(100), primary_key=True),
    sa.Column("fire_time", Time, primary_key=True),
    sa.Column("reason", RedactedString(200)),
    sa.Column("claimed_by", sa.String(200), nullable=False),
    sa.Column("claimed_at", Time, nullable=False),
    sa.Column("coalesced", sa.Integer, nullable=False, server_default="0"),
    sa.Column("run_id", sa.BigInteger),
    sa.Index("ix_schedule_slots_fire_time", "fire_time"),  # retention's range scan
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("dedupe_key", sa.String(400), nullable=False, unique=True),
    sa.Column("workspace", sa.String(100), nullable=False),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("pipeline", sa.String(100)),
    sa.Column("run_id", sa.BigInteger),
    sa.Column("kind", sa.String(60)),
    # pending | in_flight | unknown | delivered | dead | held
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("source", RedactedJSON, nullable=False),
    sa.Column("message", RedactedJSON, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("not_before", Time, nullable=False),
    sa.Column("lease_owner", sa.String(200)),
    sa.Column("lease_expires_at", Time),
    sa.Column("first_unknown_at", Time),
    sa.Column("delivered_at", Time),
    sa.Column("slack_ts", sa.String(40)),
    sa.Column("last_error", RedactedText),
    sa.Column("held_reason", RedactedText),
    sa.Column("replay_of", sa.BigInteger),
    sa.Index("ix_outbox_channel_status_id", "channel", "status", "id"),
    sa.Index("ix_outbox_status", "status"),
    sa.Index("ix_outbox_run_id", "run_id"),
    sa.Index("ix_outbox_status_delivered_at", "status", "delivered_at"),  # retention batches
)

delivery_attempts = sa.Table(
    "delivery_attempts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("outbox_id", sa.BigInteger, nullable=False),
    sa.Column("attempted_at", Time, nullable=False),
    sa.Column("outcome", sa.String(30), nullable=False),
    sa.Column("http_status", sa.Integer),
    sa.Column("slack_error", RedactedString(200)),
    sa.Column("slack_ts", sa.String(40)),
    sa.Column("duration_ms", sa.Integer),
    sa.Column("worker", sa.String(200)),
    sa.Column("detail", RedactedText),
    sa.Index("ix_delivery_attempts_outbox_id", "outbox_id"),
)

# The pace of each channel lives here, not in a process: every worker reads and moves it.
channel_pacing = sa.Table(
    "channel_pacing",
    metadata,
    sa.Column("workspace", sa.String(100), primary_key=True),
    sa.Column("channel", sa.String(40), primary_key=True),
    sa.Column("next_post_at", Time, nullable=False),
    sa.Column("paused_until", Time),
    sa.Column("lease_owner", sa.String(200)),
    sa.Column("lease_expires_at", Time),
    sa.Column("reconcile_not_before", Time),
)

# Per-workspace limits shared by every process (conversations.history's tiny budget …).
workspace_limits = sa.Table(
    "workspace_limits",
    metadata,
    sa.Column("workspace", sa.String(100), primary_key=True),
    sa.Column("method", sa.String(60), primary_key=True),
    sa.Column("next_call_at", Time, nullable=False),
)

slack_installations = sa.Table(
    "slack_installations",
    metadata,
    sa.Column("workspace", sa.String(100), primary_key=True),
    sa.Column("team_id", sa.String(40)),
    sa.Column("team_name", sa.String(200)),
    sa.Column("app_id", sa.String(40)),
    sa.Column("bot_user_id", sa.String(40)),
    sa.Column("bot_id", sa.String(40)),
    sa.Column("scopes", sa.Text),
    # names of vault secrets, never the tokens themselves
    sa.Column("bot_token_secret", sa.String(200), nullable=False),
    sa.Column("refresh_token_secret", sa.String(200)),
    sa.Column("token_expires_at", Time),
    sa.Column("status", sa.String(20), nullable=False),  # active | unusable
    sa.Column("unusable_reason", RedactedText),
    sa.Column("installed_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

oauth_states = sa.Table(
    "oauth_states",
    metadata,
    sa.Column("state", sa.String(100), primary_key=True),
    sa.Column("workspace", sa.String(100), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("expires_at", Time, nullable=False),
    sa.Column("used_at", Time),
    # Issued by /slack/install, so the redirect must come back with the browser's cookie
    # (false for `ml-connector slack install-url`, printed to the operator's terminal).
    sa.Column("browser_bound", sa.Boolean, nullable=False, server_default=sa.false()),
)

intacct_sessions = sa.Table(
    "intacct_sessions",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),  # company|user|entity
    sa.Column("session_ciphertext", sa.Text, nullable=False),
    sa.Column("endpoint", sa.String(500), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("expires_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

# Shared concurrency slots (Intacct's per-company request limit across processes).
request_slots = sa.Table(
    "request_slots",
    metadata,
    sa.Column("resource", sa.String(200), primary_key=True),
    sa.Column("slot", sa.Integer, primary_key=True),
    sa.Column("holder", sa.String(200)),
    sa.Column("expires_at", Time),
)

slack_events = sa.Table(
    "slack_events",
    metadata,
    sa.Column("event_id", sa.String(100), primary_key=True),
    sa.Column("team_id", sa.String(40)),
    sa.Column("event_type", sa.String(100)),
    sa.Column("received_at", Time, nullable=False),
    sa.Column("handled_at", Time),
    sa.Index("ix_slack_events_received_at", "received_at"),  # retention's range scan
)

# Signed Slack requests (slash commands) already accepted, by signature, until the
# signature's timestamp is outside Slack's 5-minute window: a replay is recognised by every
# process sharing the database.
slack_request_replays = sa.Table(
    "slack_request_replays",
    metadata,
    sa.Column("signature", sa.String(100), primary_key=True),
    sa.Column("endpoint", sa.String(40), nullable=False),
    sa.Column("received_at", Time, nullable=False),
    sa.Column("expires_at", Time, nullable=False, index=True),
)

# Live `serve` processes; SQLite allows one, PostgreSQL any number.
service_instances = sa.Table(
    "service_instances",
    metadata,
    sa.Column("instance_id", sa.String(200), primary_key=True),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", Time, nullable=False),
    sa.Column("heartbeat_at", Time, nullable=False),
)

# Intacct trigger deliveries already accepted, by idempotency key: a retry (same key) is
# acknowledged and dropped; a bearer token seen with another key or body is a replay.
intacct_trigger_events = sa.Table(
    "intacct_trigger_events",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("idempotency_key", sa.String(200), primary_key=True),
    sa.Column("token_id", sa.String(100), unique=True),  # the JWT's jti, or its digest
    sa.Column("form", sa.String(10), nullable=False),  # jwt | secret
    sa.Column("body_digest", sa.String(64), nullable=False),
    sa.Column("received_at", Time, nullable=False),
    sa.Column("expires_at", Time, nullable=False),
    sa.Index("ix_intacct_trigger_events_expires_at", "expires_at"),
)

# Targeted reads waiting to run, one row per record: events for a record coalesce into it.
intacct_trigger_reads = sa.Table(
    "intacct_trigger_reads",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("object", sa.String(40), primary_key=True),
    sa.Column("record_key", sa.String(100), primary_key=True),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("first_event_at", Time, nullable=False),
    sa.Column("due_at", Time, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("claimed_by", sa.String(200)),
    sa.Column("claimed_until", Time),
    # An event arrived while the row was claimed: the record is read again after the claim.
    sa.Column("again_at", Time),
    sa.Index("ix_intacct_trigger_reads_due_at", "due_at"),
)

# Fingerprints of the master keys in use, never the keys: a restore or a PostgreSQL backup can
# tell whether the key at hand is the one the secrets were encrypted with. ``retired_at`` is
# set when `secrets rotate-key` moves to a newer key.
master_keys = sa.Table(
    "master_keys",
    metadata,
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("recorded_at", Time, nullable=False),
    sa.Column("retired_at", Time),
)

# What retention has pruned from each table (``name``), so that `audit` and `replay` can tell
# an id that aged out (at most ``through_id``) from one that never existed: the highest id
# pruned, the latest cutoff applied (rows older than it are gone), the ``days`` then in force.
retention_marks = sa.Table(
    "retention_marks",
    metadata,
    sa.Column("name", sa.String(60), primary_key=True),
    sa.Column("through_id", sa.BigInteger),
    sa.Column("cutoff", Time, nullable=False),
    sa.Column("days", sa.Integer, nullable=False),
    sa.Column("pruned_rows", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("pruned_at", Time, nullable=False),
)

# One row per (pipeline, company) that the database knows something about: the company's
# own settings when it was added with `ml-connector companies add` (``settings``, validated
# like the file; NULL for a company the config file lists), and whether its polls are paused
# (by an operator, or by the scheduler after repeated failures). See store/companies.py.
companies = sa.Table(
    "companies",
    metadata,
    sa.Column("pipeline", sa.String(100), primary_key=True),
    sa.Column("company", sa.String(100), primary_key=True),
    sa.Column("settings", sa.JSON),
    sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("paused_reason", sa.String(20)),  # operator | failing
    sa.Column("paused_note", RedactedText),
    sa.Column("paused_at", Time),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

# Polls that are failing, one row per schedule (pipeline[.company].stream) while they fail:
# how many times in a row, until when the poll backs off, and whether the one alert and the
# auto-pause (companies.paused_reason = 'failing') have happened. A success deletes the row.
poll_health = sa.Table(
    "poll_health",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("pipeline", sa.String(100), nullable=False),
    sa.Column("company", sa.String(100), nullable=False),
    sa.Column("stream", sa.String(100)),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("first_failed_at", Time, nullable=False),
    sa.Column("last_failed_at", Time, nullable=False),
    sa.Column("retry_at", Time, nullable=False),
    sa.Column("last_error", RedactedText),
    sa.Column("alerted_at", Time),
    sa.Column("paused_at", Time),
)
