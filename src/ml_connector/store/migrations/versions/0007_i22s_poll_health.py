"""poll_health: failing polls, their backoff, alert and auto-pause (issue #22 item 3)

Revision ID: 0007_i22s_poll_health
Revises: 0006_i22_companies
Create Date: 2026-12-06 01:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_i22s_poll_health"
down_revision: str | None = "0006_i22_companies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "poll_health",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("pipeline", sa.String(length=100), nullable=False),
        sa.Column("company", sa.String(length=100), nullable=False),
        sa.Column("stream", sa.String(length=100), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", sa.Double(), nullable=False),
        sa.Column("last_failed_at", sa.Double(), nullable=False),
        sa.Column("retry_at", sa.Double(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("alerted_at", sa.Double(), nullable=True),
        sa.Column("paused_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_poll_health")),
    )


def downgrade() -> None:
    op.drop_table("poll_health")
