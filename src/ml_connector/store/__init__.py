"""Storage: SQLAlchemy Core tables, Alembic migrations and small repository functions."""

from ml_connector.store.engine import make_engine
from ml_connector.store.migrate import current_revision, head_revision, migrate

__all__ = ["current_revision", "head_revision", "make_engine", "migrate"]
