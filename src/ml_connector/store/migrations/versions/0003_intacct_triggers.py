"""intacct triggers: the idempotency ledger and the queue of targeted reads (issue #21)

Revision ID: 0003_intacct_triggers
Revises: i15_request_replays
Create Date: 2026-12-04 21:40:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_intacct_triggers"
down_revision: str | None = "i15_request_replays"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "intacct_trigger_events",
        sa.Column("connection", sa.String(length=100), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("token_id", sa.String(length=100), nullable=True),
        sa.Column("form", sa.String(length=10), nullable=False),
        sa.Column("body_digest", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint(
            "connection", "idempotency_key", name=op.f("pk_intacct_trigger_events")
        ),
        sa.UniqueConstraint("token_id", name=op.f("uq_intacct_trigger_events_token_id")),
    )
    with op.batch_alter_table("intacct_trigger_events", schema=None) as batch_op:
        batch_op.create_index("ix_intacct_trigger_events_expires_at", ["expires_at"], unique=False)
    op.create_table(
        "intacct_trigger_reads",
        sa.Column("connection", sa.String(length=100), nullable=False),
        sa.Column("object", sa.String(length=40), nullable=False),
        sa.Column("record_key", sa.String(length=100), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("first_event_at", sa.Double(), nullable=False),
        sa.Column("due_at", sa.Double(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claimed_until", sa.Double(), nullable=True),
        sa.Column("again_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint(
            "connection", "object", "record_key", name=op.f("pk_intacct_trigger_reads")
        ),
    )
    with op.batch_alter_table("intacct_trigger_reads", schema=None) as batch_op:
        batch_op.create_index("ix_intacct_trigger_reads_due_at", ["due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("intacct_trigger_reads", schema=None) as batch_op:
        batch_op.drop_index("ix_intacct_trigger_reads_due_at")
    op.drop_table("intacct_trigger_reads")
    with op.batch_alter_table("intacct_trigger_events", schema=None) as batch_op:
        batch_op.drop_index("ix_intacct_trigger_events_expires_at")
    op.drop_table("intacct_trigger_events")
