"""master key fingerprints

Revision ID: 0004
Revises: 0003_intacct_triggers
Create Date: 2026-12-04 21:50:00

The fingerprint of the key in use cannot be known here (migrations never see the key): the
vault records it the first time it opens the stored secrets (``Vault.ensure_canary``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003_intacct_triggers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "master_keys",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.Double(), nullable=False),
        sa.Column("retired_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_master_keys")),
    )


def downgrade() -> None:
    op.drop_table("master_keys")
