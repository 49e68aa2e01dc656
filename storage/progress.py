"""Progress of a check or a download under way, per chat, where every instance can read it.

    token = progress.start("web:…", case_id, "check")   # inside the step that asks for the job
    progress.update("web:…", token, 120, 3000)          # from the job, at most every PROGRESS_EVERY seconds
    progress.finish("web:…", token)                     # inside the step that ends it: False if not this job's

The token ties the row to one job: a job run twice (after a crash) finds the row gone and does nothing.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import select

from storage.models import ProgressRow, utcnow


@dataclass(frozen=True)
class Progress:
    kind: str
    token: str
    done: int
    total: int | None


class ProgressBoard:
    def __init__(self, repository):
        self.repository = repository

    def start(self, chat: str, case_id: int, kind: str) -> str:
        token = secrets.token_hex(16)
        with self.repository.transaction(write=True) as session:
            session.execute(sa.delete(ProgressRow).where(ProgressRow.chat == chat))
            session.add(ProgressRow(chat=chat, case_id=case_id, kind=kind, token=token, done=0, total=None,
                                    updated_at=utcnow()))
        return token

    def get(self, chat: str) -> Progress | None:
        with self.repository.transaction() as session:
            row = session.get(ProgressRow, chat)
            return Progress(row.kind, row.token, row.done, row.total) if row else None

    def update(self, chat: str, token: str, done: int, total: int | None) -> None:
        with self.repository.transaction(write=True) as session:
            session.execute(sa.update(ProgressRow).where(ProgressRow.chat == chat, ProgressRow.token == token)
                            .values(done=done, total=total, updated_at=utcnow()))

    def current(self, chat: str, token: str) -> bool:
        with self.repository.transaction() as session:
            return session.exec(select(ProgressRow.chat).where(ProgressRow.chat == chat,
                                                               ProgressRow.token == token)).first() is not None

    def finish(self, chat: str, token: str) -> bool:
        """End the job's progress (inside its finishing step). False when it is not this job's any more."""
        with self.repository.transaction(write=True) as session:
            gone = session.execute(sa.delete(ProgressRow).where(ProgressRow.chat == chat, ProgressRow.token == token))
            return gone.rowcount == 1
