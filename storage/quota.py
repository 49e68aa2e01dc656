"""How much one case may hold: MAX_CASE_MB and MAX_CASE_FILES over its stored files and the uploads on
their way in, so no patient (or visitor without a case yet) fills the shared disk for everyone.

    limits = CaseLimits.from_settings(settings)
    used = usage(session, case_id, owner)           # stored uploads + unfinished incoming ones
    limits.check(used, adding_bytes=size)           # raises CaseFull
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from storage.errors import CaseFull
from storage.models import IncomingRow, UploadRow

MB = 1024 * 1024


@dataclass(frozen=True)
class Usage:
    bytes: int = 0
    files: int = 0


@dataclass(frozen=True)
class CaseLimits:
    max_mb: int = 4096
    max_files: int = 5000

    @classmethod
    def from_settings(cls, settings) -> CaseLimits:
        return cls(settings.max_case_mb, settings.max_case_files)

    def check(self, used: Usage, adding_bytes: int = 0, adding_files: int = 1) -> None:
        """Raises `CaseFull` if `used` plus what is being added passes a limit (the limits are inclusive)."""
        if used.files + adding_files > self.max_files:
            raise CaseFull("files", self.max_files)
        if used.bytes + adding_bytes > self.max_mb * MB:
            raise CaseFull("bytes", self.max_mb)


def usage(session: Session, case_id: int | None, owner: str, excluding: str | None = None) -> Usage:
    """What the case holds: its stored uploads, plus the owner's unfinished incoming uploads (declared
    lengths: they are reservations), except `excluding` (the one being checked)."""
    stored = stored_usage(session, case_id) if case_id is not None else Usage()
    query = (sa.select(sa.func.coalesce(sa.func.sum(IncomingRow.length), 0), sa.func.count(IncomingRow.id))
             .where(IncomingRow.owner == owner, IncomingRow.answer.is_(None)))
    if excluding is not None:
        query = query.where(IncomingRow.id != excluding)
    size, count = session.execute(query).one()
    return Usage(stored.bytes + int(size), stored.files + int(count))


def stored_usage(session: Session, case_id: int) -> Usage:
    """The case's stored uploads only (what `Repository.store_upload` adds to)."""
    size, count = session.execute(sa.select(sa.func.coalesce(sa.func.sum(UploadRow.size), 0),
                                            sa.func.count(UploadRow.id)).where(UploadRow.case_id == case_id)).one()
    return Usage(int(size), int(count))
