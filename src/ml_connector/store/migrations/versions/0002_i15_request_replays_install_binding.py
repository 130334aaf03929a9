"""#15 web hardening: slack_request_replays, oauth_states.browser_bound

Revision ID: i15_request_replays
Revises: 0001
Create Date: 2026-12-04 21:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i15_request_replays"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slack_request_replays",
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("endpoint", sa.String(length=40), nullable=False),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("signature", name=op.f("pk_slack_request_replays")),
    )
    with op.batch_alter_table("slack_request_replays") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_slack_request_replays_expires_at"), ["expires_at"], unique=False
        )
    with op.batch_alter_table("oauth_states") as batch_op:
        batch_op.add_column(
            sa.Column("browser_bound", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("oauth_states") as batch_op:
        batch_op.drop_column("browser_bound")
    with op.batch_alter_table("slack_request_replays") as batch_op:
        batch_op.drop_index(batch_op.f("ix_slack_request_replays_expires_at"))
    op.drop_table("slack_request_replays")
