"""Resumable uploads on their way in, shared by every instance through the database.

    store = IncomingUploads(repository)
    incoming = store.create("web:…", "chat", "scan.zip", length)   # checks the case's quota; raises CaseFull
    lease = store.take(incoming.id, writer)       # one writer at a time across processes; None: someone writes
    store.renew(incoming.id, writer, offset)      # while streaming: keeps the lease, commits the offset
    store.release(incoming.id, writer, offset, answer)   # done (or cut): the offset any instance resumes from

The lease is a compare-and-set UPDATE (`… WHERE id = :id AND (writer IS NULL OR lease_until < :now)`), the
same on SQLite and PostgreSQL: of two simultaneous PATCHes exactly one gets it. A writer that dies leaves
its lease to run out (LEASE); its partial tail past the committed offset is cut by the next writer.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from storage.models import CaseRow, IncomingRow, utcnow
from storage.quota import CaseLimits, usage
from storage.repository import Repository

LEASE = timedelta(seconds=30)     # how long a writer's claim lasts without renewal


@dataclass(frozen=True)
class Incoming:
    """An upload on its way in: who owns it, what it is called, how long it will be, how far it came."""

    id: str
    owner: str           # the chat it belongs to ("web:…", "telegram:…")
    via: str             # "chat" (the visitor's cookie) or "link:<token hash>" (a one-time upload page)
    name: str            # the patient's name for it (display only)
    length: int
    offset: int          # bytes committed: where any instance resumes
    created: datetime
    answer: dict | None = None   # the channel's answer, once complete
    writer: str | None = None


def _plain(row: IncomingRow) -> Incoming:
    return Incoming(row.id, row.owner, row.via, row.name, row.length, row.committed, row.created_at, row.answer,
                    row.writer)


class IncomingUploads:
    def __init__(self, repository: Repository, limits: CaseLimits | None = None):
        self.repository = repository
        self.limits = limits or repository.limits

    def create(self, upload_id: str, owner: str, via: str, name: str, length: int,
               now: datetime | None = None) -> Incoming:
        """Record a new upload; `CaseFull` if it would take the owner's case past its limits."""
        with self.repository._transaction(write=True) as session:
            _one_owner_at_a_time(session, owner)
            case_id = session.exec(select(CaseRow.id).where(CaseRow.chat == owner)).first()
            self.limits.check(usage(session, case_id, owner), adding_bytes=length)
            row = IncomingRow(id=upload_id, case_id=case_id, owner=owner, via=via, name=name[:255], length=length,
                              created_at=now or utcnow())
            session.add(row)
            session.flush()
            return _plain(row)

    def get(self, upload_id: str) -> Incoming | None:
        with self.repository._transaction() as session:
            row = session.get(IncomingRow, upload_id)
            return _plain(row) if row is not None else None

    def take(self, upload_id: str, writer: str, now: datetime | None = None) -> Incoming | None:
        """Claim the upload for `writer` if nobody holds a live lease; the record as claimed, or None.
        The owner's case must still have room for it (files stored meanwhile count): else `CaseFull`."""
        now = now or utcnow()
        with self.repository._transaction(write=True) as session:
            taken = session.execute(
                sa.update(IncomingRow)
                .where(IncomingRow.id == upload_id,
                       sa.or_(IncomingRow.writer.is_(None), IncomingRow.lease_until < now))
                .values(writer=writer, lease_until=now + LEASE)).rowcount
            if taken != 1:
                return None
            row = session.get(IncomingRow, upload_id)
            if row.answer is None:
                case_id = session.exec(select(CaseRow.id).where(CaseRow.chat == row.owner)).first()
                self.limits.check(usage(session, case_id, row.owner, excluding=upload_id), adding_bytes=row.length)
            return _plain(row)

    def renew(self, upload_id: str, writer: str, offset: int, now: datetime | None = None) -> bool:
        """Extend the writer's lease and commit `offset`; False if the lease is no longer the writer's."""
        now = now or utcnow()
        with self.repository._transaction(write=True) as session:
            return session.execute(
                sa.update(IncomingRow).where(IncomingRow.id == upload_id, IncomingRow.writer == writer)
                .values(lease_until=now + LEASE, committed=offset)).rowcount == 1

    def release(self, upload_id: str, writer: str, offset: int, answer: dict | None = None) -> bool:
        """The writer is done: commit `offset` (and the answer, when complete) and free the lease."""
        values = {"writer": None, "lease_until": None, "committed": offset}
        if answer is not None:
            values["answer"] = answer
        with self.repository._transaction(write=True) as session:
            return session.execute(
                sa.update(IncomingRow).where(IncomingRow.id == upload_id, IncomingRow.writer == writer)
                .values(**values)).rowcount == 1

    def forget(self, upload_id: str) -> None:
        with self.repository._transaction(write=True) as session:
            session.execute(sa.delete(IncomingRow).where(IncomingRow.id == upload_id))

    def forgotten(self, older_than: timedelta, now: datetime | None = None) -> list[str]:
        """Uploads created before `now - older_than` that nobody is writing: to be swept."""
        now = now or utcnow()
        with self.repository._transaction() as session:
            return list(session.exec(select(IncomingRow.id).where(
                IncomingRow.created_at < now - older_than,
                sa.or_(IncomingRow.writer.is_(None), IncomingRow.lease_until < now))).all())


def _one_owner_at_a_time(session: Session, owner: str) -> None:
    """Creations for one owner queue, so two at once cannot both fit in the room left for one.
    SQLite: the write transaction (BEGIN IMMEDIATE) already does; PostgreSQL: a transaction advisory lock."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(owner.encode()).digest()[:8], "big", signed=True)
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
