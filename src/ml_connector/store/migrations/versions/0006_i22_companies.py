"""companies: per-company settings added from the command line, and pauses (issue #22)

Revision ID: 0006_i22_companies
Revises: 0005_i22_retention
Create Date: 2026-12-06 00:45:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_i22_companies"
down_revision: str | None = "0005_i22_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("pipeline", sa.String(length=100), nullable=False),
        sa.Column("company", sa.String(length=100), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=True),
        sa.Column("paused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("paused_reason", sa.String(length=20), nullable=True),
        sa.Column("paused_note", sa.Text(), nullable=True),
        sa.Column("paused_at", sa.Double(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("pipeline", "company", name=op.f("pk_companies")),
    )


def downgrade() -> None:
    op.drop_table("companies")
