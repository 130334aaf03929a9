"""retention: marks of what was pruned, and the indexes its range scans use

Revision ID: 0005_i22_retention
Revises: 0004
Create Date: 2026-12-06 00:40:00

Pruning walks each growing table by time (``(status, delivered_at)``, ``started_at``, ``fire_time``,
``received_at``); without an index every prune cycle would read the whole table, even when
nothing has aged out.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_i22_retention"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (status, delivered_at), not delivered_at alone: without ANALYZE statistics SQLite prefers the
# equality on ix_outbox_status and sorts every delivered row for each batch.
INDEXES = (
    ("ix_outbox_status_delivered_at", "outbox", ["status", "delivered_at"]),
    ("ix_runs_started_at", "runs", ["started_at"]),
    ("ix_schedule_slots_fire_time", "schedule_slots", ["fire_time"]),
    ("ix_slack_events_received_at", "slack_events", ["received_at"]),
)


def upgrade() -> None:
    op.create_table(
        "retention_marks",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("through_id", sa.BigInteger(), nullable=True),
        sa.Column("cutoff", sa.Double(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("pruned_rows", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("pruned_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_retention_marks")),
    )
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _column in INDEXES:
        op.drop_index(name, table_name=table)
    op.drop_table("retention_marks")
