"""The tables. Rows never leave `storage/`: the repository turns them into `dialogs.case.Case`.

Any change here needs a migration in `storage/migrations/versions/`
(`alembic -c storage/alembic.ini revision --autogenerate -m "..."`);
`tests/test_storage.py` fails while the models and the migrations disagree.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


# Named constraints: SQLite's batch migrations need names to alter them later.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def _timestamp() -> Any:
    return Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), nullable=False)


def _case_fk() -> Any:
    return Field(sa_column_args=[sa.ForeignKey("cases.id", ondelete="CASCADE")],
                 nullable=False, index=True)


class CaseRow(SQLModel, table=True):
    __tablename__ = "cases"
    # AUTOINCREMENT on SQLite: an erased case's id (and so its upload folder name) is never reused.
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    chat: str = Field(sa_type=sa.String(200), unique=True, nullable=False)
    locale: str = Field(sa_type=sa.String(35), nullable=False)
    state: str = Field(sa_type=sa.String(64), nullable=False)
    consent: bool = Field(default=False, nullable=False)
    answers: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    history: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    status: str = Field(default="open", sa_type=sa.String(32), nullable=False, index=True)
    created_at: datetime = _timestamp()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True),
                                 nullable=False, index=True)


class UploadRow(SQLModel, table=True):
    __tablename__ = "uploads"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = _case_fk()
    path: str = Field(sa_type=sa.String(1024), nullable=False)   # relative to DATA_DIR when under it
    name: str = Field(sa_type=sa.String(1024), nullable=False)   # the patient's name for it, display only
    size: int = Field(sa_type=sa.BigInteger, nullable=False)
    sha256: str = Field(sa_type=sa.String(64), nullable=False)
    created_at: datetime = _timestamp()


class ReportRow(SQLModel, table=True):
    __tablename__ = "reports"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = _case_fk()
    report: dict[str, Any] = Field(sa_column_kwargs={"name": "json"}, sa_type=sa.JSON, nullable=False)
    created_at: datetime = _timestamp()


class HandoffRow(SQLModel, table=True):
    __tablename__ = "handoffs"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = _case_fk()
    handoff: dict[str, Any] = Field(sa_column_kwargs={"name": "json"}, sa_type=sa.JSON, nullable=False)
    claimed_by: str | None = Field(default=None, sa_type=sa.String(200), nullable=True)
    replied_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True), nullable=True)
    created_at: datetime = _timestamp()


class CoordinatorRow(SQLModel, table=True):
    """A coordinator's dashboard account (`scanpass coordinator add`)."""
    __tablename__ = "coordinators"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_type=sa.String(200), unique=True, nullable=False)
    password_hash: str = Field(sa_type=sa.String(255), nullable=False)   # argon2id, never the password
    locale: str = Field(default="en", sa_type=sa.String(35), nullable=False)
    failed_logins: int = Field(default=0, nullable=False)               # in a row; reset by a good login
    locked_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True), nullable=True)
    created_at: datetime = _timestamp()


class CoordinatorSessionRow(SQLModel, table=True):
    """A signed-in dashboard browser. Only a hash of the cookie's token is kept."""
    __tablename__ = "coordinator_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_type=sa.String(64), unique=True, nullable=False)
    coordinator_id: int = Field(sa_column_args=[sa.ForeignKey("coordinators.id", ondelete="CASCADE")],
                                nullable=False, index=True)
    csrf: str = Field(sa_type=sa.String(64), nullable=False)      # the token every form of this session carries
    browser: str = Field(sa_type=sa.String(64), nullable=False)   # hash of what identifies the browser it began in
    created_at: datetime = _timestamp()
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False, index=True)


class UploadTokenRow(SQLModel, table=True):
    """A one-time web upload link (`/u/TOKEN`) given to a Telegram patient for files too large for the Bot API."""
    __tablename__ = "upload_tokens"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_type=sa.String(64), unique=True, nullable=False)
    case_id: int = _case_fk()
    created_at: datetime = _timestamp()
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True), nullable=True)


class MessageRow(SQLModel, table=True):
    """The outbox: a message for a patient or a coordinator, recorded in the step that produced it and
    delivered afterwards by whichever process runs its channel (retried until the channel takes it)."""
    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int | None = Field(default=None, sa_column_args=[sa.ForeignKey("cases.id", ondelete="CASCADE")],
                                nullable=True, index=True)
    chat: str = Field(sa_type=sa.String(200), nullable=False, index=True)   # where it goes: "telegram:42", "web:…"
    key: str = Field(sa_type=sa.String(200), unique=True, nullable=False)   # what makes it one message, once
    body: dict[str, Any] = Field(sa_type=sa.JSON, nullable=False)           # replies + locale, or a text/document
    state: str = Field(default="queued", sa_type=sa.String(16), nullable=False, index=True)  # queued sent failed
    attempts: int = Field(default=0, nullable=False)
    error: str | None = Field(default=None, sa_type=sa.String(200), nullable=True)  # the last failure's kind
    created_at: datetime = _timestamp()
    sent_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True), nullable=True)


class JobRow(SQLModel, table=True):
    """A job of the embedded queue (SQLite, one process). On PostgreSQL jobs live in procrastinate's tables."""
    __tablename__ = "jobs"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_type=sa.String(32), nullable=False)
    key: str = Field(sa_type=sa.String(200), unique=True, nullable=False)
    params: dict[str, Any] = Field(sa_type=sa.JSON, nullable=False)
    state: str = Field(default="queued", sa_type=sa.String(16), nullable=False, index=True)  # queued running done failed
    attempts: int = Field(default=0, nullable=False)
    run_after: datetime = _timestamp()
    lease_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True), nullable=True)
    error: str | None = Field(default=None, sa_type=sa.String(200), nullable=True)
    created_at: datetime = _timestamp()


class ProgressRow(SQLModel, table=True):
    """A check or download under way for a chat: what any instance shows while it runs. The token ties it
    to the one job that may finish it (a job run twice finds it gone and does nothing)."""
    __tablename__ = "progress"

    chat: str = Field(sa_type=sa.String(200), primary_key=True)
    case_id: int = _case_fk()
    kind: str = Field(sa_type=sa.String(16), nullable=False)         # check | download
    token: str = Field(sa_type=sa.String(64), nullable=False)
    done: int = Field(default=0, sa_type=sa.BigInteger, nullable=False)
    total: int | None = Field(default=None, sa_type=sa.BigInteger, nullable=True)
    updated_at: datetime = _timestamp()


class IncomingRow(SQLModel, table=True):
    """A resumable (tus) upload on its way in, shared by every instance: who owns it, how far it has come,
    who is writing it right now (a lease), and the channel's answer once complete. Its bytes are
    DATA_DIR/incoming/<id>.part until then."""
    __tablename__ = "incoming_uploads"

    id: str = Field(sa_type=sa.String(32), primary_key=True)          # 128 random bits, hex
    case_id: int | None = Field(default=None, sa_column_args=[sa.ForeignKey("cases.id", ondelete="CASCADE")],
                                nullable=True, index=True)              # the owner's case, when it has one
    owner: str = Field(sa_type=sa.String(200), nullable=False, index=True)   # the chat ("web:…", "telegram:…")
    via: str = Field(sa_type=sa.String(200), nullable=False)          # "chat" or "link:<token hash>"
    name: str = Field(sa_type=sa.String(255), nullable=False)         # the patient's name for it, display only
    length: int = Field(sa_type=sa.BigInteger, nullable=False)
    committed: int = Field(default=0, sa_type=sa.BigInteger, nullable=False)   # bytes safely on disk
    writer: str | None = Field(default=None, sa_type=sa.String(32), nullable=True)   # the PATCH holding the lease
    lease_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True), nullable=True)
    answer: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON(none_as_null=True), nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True),
                                 nullable=False, index=True)


metadata = SQLModel.metadata
