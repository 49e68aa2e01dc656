"""One-time web upload links (`/u/TOKEN`): made for a case, valid for a while, spent once.

Only the sha256 of a token is stored; the token itself exists in the link the patient got.

    tokens = UploadTokens(repository)
    token = tokens.issue("telegram:12345")          # the chat's case must exist
    grant = tokens.find(token)                       # .status: "valid" | "expired" | "spent" | "unknown"
    tokens.spend(token)                              # True once; False when it was spent or expired already
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import select

from storage.errors import StorageError
from storage.models import CaseRow, UploadTokenRow, utcnow
from storage.repository import Repository, _utc

VALID_FOR = timedelta(hours=24)


@dataclass(frozen=True)
class Grant:
    """What a token opens: the case's chat and language, and whether the token may still be used."""

    status: str                 # valid | expired | spent | unknown
    chat: str | None = None
    locale: str | None = None
    expires_at: datetime | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UploadTokens:
    def __init__(self, repository: Repository):
        self.repository = repository

    def issue(self, chat: str, valid_for: timedelta = VALID_FOR, now: datetime | None = None) -> str:
        """A new token for the chat's case (which must exist: the patient has reached the files step)."""
        now = now or utcnow()
        token = secrets.token_urlsafe(32)
        with self.repository._transaction(write=True) as session:
            case_id = session.exec(select(CaseRow.id).where(CaseRow.chat == chat)).first()
            if case_id is None:
                raise StorageError("no case for this chat: an upload link needs one")
            session.add(UploadTokenRow(token_hash=token_hash(token), case_id=case_id, created_at=now,
                                       expires_at=now + valid_for))
        return token

    def find(self, token: str, now: datetime | None = None) -> Grant:
        now = now or utcnow()
        with self.repository._transaction() as session:
            found = session.exec(select(UploadTokenRow, CaseRow).join(CaseRow, CaseRow.id == UploadTokenRow.case_id)
                                 .where(UploadTokenRow.token_hash == token_hash(token))).first()
            if found is None:
                return Grant("unknown")
            row, case = found
            expires = _utc(row.expires_at)
            status = "spent" if row.used_at is not None else "expired" if expires <= now else "valid"
            return Grant(status, case.chat, case.locale, expires)

    def spend(self, token: str, now: datetime | None = None) -> bool:
        """Mark the token used. True if this call spent it; False if it was unknown, spent or expired."""
        now = now or utcnow()
        with self.repository._transaction(write=True) as session:
            row = session.exec(select(UploadTokenRow).where(UploadTokenRow.token_hash == token_hash(token))
                               .with_for_update()).first()
            if row is None or row.used_at is not None or _utc(row.expires_at) <= now:
                return False
            row.used_at = now
            session.add(row)
            return True
