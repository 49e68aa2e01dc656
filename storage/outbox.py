"""The outbox: messages for patients and coordinators, recorded in the step that produced them.

    outbox = Outbox(repository)
    outbox.record("telegram:42", "check:ab12", {"locale": "ru", "replies": [...]}, case_id=7)  # inside a step
    outbox.newer("web:…", after=12)          # what a web page has not shown yet
    outbox.sent(message_id) / outbox.failed(message_id, "TimedOut")

A key makes a message happen once: recording the same key twice keeps the first. Push channels
(Telegram) have each message delivered by a job; pull channels (the web page, the terminal) read theirs.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import select

from storage.models import MessageRow, utcnow


@dataclass(frozen=True)
class Message:
    id: int
    case_id: int | None
    chat: str
    key: str
    body: dict
    state: str            # queued | sent | failed (failed: given up after the last retry)
    attempts: int
    error: str | None
    created_at: datetime
    sent_at: datetime | None


def _message(row: MessageRow) -> Message:
    return Message(row.id, row.case_id, row.chat, row.key, row.body, row.state, row.attempts, row.error,
                   row.created_at, row.sent_at)


class Outbox:
    def __init__(self, repository):
        self.repository = repository

    def record(self, chat: str, key: str, body: dict, case_id: int | None = None) -> int | None:
        """Record a message (inside a step: in its transaction). Returns its id, or None when a message
        with this key exists already."""
        with self.repository.transaction(write=True) as session:
            if session.exec(select(MessageRow.id).where(MessageRow.key == key)).first() is not None:
                return None
            row = MessageRow(case_id=case_id, chat=chat, key=key[:200], body=body, created_at=utcnow())
            session.add(row)
            session.flush()
            return row.id

    def get(self, message_id: int) -> Message | None:
        with self.repository.transaction() as session:
            row = session.get(MessageRow, message_id)
            return _message(row) if row else None

    def newer(self, chat: str, after: int = 0) -> list[Message]:
        """The chat's messages after id `after`, oldest first (a page passes the last id it showed)."""
        with self.repository.transaction() as session:
            rows = session.exec(select(MessageRow).where(MessageRow.chat == chat, MessageRow.id > after)
                                .order_by(MessageRow.id)).all()
            return [_message(row) for row in rows]

    def for_case(self, case_id: int) -> list[Message]:
        with self.repository.transaction() as session:
            rows = session.exec(select(MessageRow).where(MessageRow.case_id == case_id).order_by(MessageRow.id)).all()
            return [_message(row) for row in rows]

    def by_key(self, key: str) -> Message | None:
        with self.repository.transaction() as session:
            row = session.exec(select(MessageRow).where(MessageRow.key == key)).first()
            return _message(row) if row else None

    def sent(self, message_ids: list[int] | int) -> None:
        ids = [message_ids] if isinstance(message_ids, int) else list(message_ids)
        if not ids:
            return
        with self.repository.transaction(write=True) as session:
            session.execute(sa.update(MessageRow).where(MessageRow.id.in_(ids), MessageRow.state != "sent")
                            .values(state="sent", sent_at=utcnow(), error=None))

    def failed(self, message_id: int, error: str, final: bool = False) -> int:
        """One more failed attempt (its kind, never its text: it may quote the patient); returns the count."""
        with self.repository.transaction(write=True) as session:
            row = session.get(MessageRow, message_id)
            if row is None:
                return 0
            row.attempts += 1
            row.error = error[:200]
            if final:
                row.state = "failed"
            session.add(row)
            return row.attempts

    def queued(self, prefix: str) -> list[Message]:
        """Undelivered messages of a push channel ("telegram:"), oldest first."""
        with self.repository.transaction() as session:
            rows = session.exec(select(MessageRow).where(MessageRow.state == "queued",
                                                         MessageRow.chat.startswith(prefix))
                                .order_by(MessageRow.id)).all()
            return [_message(row) for row in rows]
