"""Alembic environment for ScanPass. Run through `storage.migrate(url)`, or for new revisions:
`alembic -c storage/alembic.ini revision --autogenerate -m "..."` (DATABASE_URL or .env names the database)."""
from __future__ import annotations

from alembic import context
from sqlalchemy import text

import storage.models
from storage.config import Settings
from storage.schema import make_engine

config = context.config
target_metadata = storage.models.metadata

# Any number: a PostgreSQL advisory lock id so two processes starting together migrate one after the other.
_MIGRATION_LOCK = 0x5CA9_0001


def run_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = config.attributes.get("engine")
    owned = engine is None
    if owned:
        engine = make_engine(config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=target_metadata,
                              render_as_batch=True)   # SQLite: ALTER via table copies
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
                context.run_migrations()
    finally:
        if owned:
            engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
