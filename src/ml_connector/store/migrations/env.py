"""Alembic environment: always handed a live connection by ``ml_connector.store.migrate``."""

from __future__ import annotations

from alembic import context

from ml_connector.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through ml_connector.store.migrate, which passes a connection"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
