"""Engines and migrations: `make_engine(url)` and `migrate(url)` (alembic `upgrade head`)."""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Execution option that makes a SQLite transaction take the write lock at BEGIN
# (BEGIN IMMEDIATE): steps of other processes wait instead of losing updates.
WRITE = "scanpass_write"


def make_engine(url: str | sa.URL) -> Engine:
    """An engine set up for ScanPass: on SQLite foreign keys on, WAL, a busy timeout and
    transactions we begin ourselves (so a step can BEGIN IMMEDIATE)."""
    url = sa.make_url(url)
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):  # noqa: ANN001
        dbapi_connection.isolation_level = None          # pysqlite: no implicit BEGIN; see _begin
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if url.database and url.database != ":memory:":
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):  # noqa: ANN001
        immediate = connection.get_execution_options().get(WRITE)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def alembic_config(url: str | sa.URL | None = None, engine: Engine | None = None) -> Config:
    """An alembic Config built in code; `script_location` is the package's own migrations folder."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # ConfigParser interpolates '%'; URLs may carry percent-escapes.
        config.set_main_option("sqlalchemy.url",
                               sa.make_url(url).render_as_string(hide_password=False).replace("%", "%%"))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def migrate(url: str | sa.URL | Engine) -> None:
    """Bring the database at `url` (or behind an engine) to the newest schema."""
    if isinstance(url, Engine):
        command.upgrade(alembic_config(engine=url), "head")
        return
    engine = make_engine(url)
    try:
        command.upgrade(alembic_config(engine=engine), "head")
    finally:
        engine.dispose()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
