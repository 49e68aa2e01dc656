"""Fixtures shared by test modules: a database URL for SQLite and, where a server answers, PostgreSQL."""
from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

POSTGRES_URL = os.environ.get("SCANPASS_TEST_DATABASE_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def postgres_server():
    """An admin engine on the test database, or a skip saying why there is none (checked once)."""
    url = sa.make_url(POSTGRES_URL)
    shown = url.render_as_string(hide_password=True)
    engine = sa.create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except Exception as error:  # noqa: BLE001 — any failure to connect means: skip, with the reason
        engine.dispose()
        pytest.skip(f"PostgreSQL not reachable at {shown}: {str(error).strip().splitlines()[0]}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'scanpass.db'}"
        return
    admin = request.getfixturevalue("postgres_server")
    schema = f"scanpass_test_{uuid.uuid4().hex[:16]}"
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:   # a connection left open by the test must fail the teardown, not hang it
        with admin.begin() as connection:
            connection.execute(sa.text("SET LOCAL lock_timeout = '20s'"))
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


