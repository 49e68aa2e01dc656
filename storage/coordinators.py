"""Dashboard accounts and their signed-in browsers: the storage side (rows in, plain objects out).

    accounts = Coordinators(repository)                 # an open Repository: same engine, same transactions
    accounts.add("li.wei", password_hash, "zh_Hans")
    accounts.failed_login(account.id, now, limit=5, lock_for=timedelta(minutes=15))

Passwords never reach this module, only their hashes; of a session only the sha256 of its cookie's token
is kept. The rules (how many failures, how long a lock or a session lasts) belong to `bot.web.auth`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import select

from storage.errors import StorageError
from storage.models import CoordinatorRow, CoordinatorSessionRow
from storage.repository import Repository, _utc


class CoordinatorExists(StorageError):
    """`add` was given a username that already has an account."""


@dataclass(frozen=True)
class Coordinator:
    id: int
    username: str
    password_hash: str
    locale: str
    failed_logins: int              # in a row, since the last good login or lock
    locked_until: datetime | None   # aware UTC

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


@dataclass(frozen=True)
class CoordinatorSession:
    """A signed-in browser: whose it is, the CSRF token its forms carry, the browser it began in."""
    coordinator: Coordinator
    csrf: str
    browser: str
    expires_at: datetime            # aware UTC


class Coordinators:
    def __init__(self, repository: Repository) -> None:
        self.repository = repository

    # ---- accounts --------------------------------------------------------------------------

    def add(self, username: str, password_hash: str, locale: str) -> Coordinator:
        with self.repository._transaction(write=True) as session:
            if session.exec(select(CoordinatorRow).where(CoordinatorRow.username == username)).first():
                raise CoordinatorExists(f"coordinator {username!r} already exists")
            row = CoordinatorRow(username=username, password_hash=password_hash, locale=locale)
            session.add(row)
            session.flush()
            return _coordinator(row)

    def all(self) -> list[Coordinator]:
        with self.repository._transaction() as session:
            return [_coordinator(row) for row in
                    session.exec(select(CoordinatorRow).order_by(CoordinatorRow.username)).all()]

    def find(self, username: str) -> Coordinator | None:
        with self.repository._transaction() as session:
            row = session.exec(select(CoordinatorRow).where(CoordinatorRow.username == username)).first()
            return _coordinator(row) if row else None

    def remove(self, username: str) -> bool:
        """Delete the account and every session it has. False if there was none."""
        with self.repository._transaction(write=True) as session:
            row = session.exec(select(CoordinatorRow).where(CoordinatorRow.username == username)).first()
            if row is None:
                return False
            session.execute(sa.delete(CoordinatorSessionRow).where(CoordinatorSessionRow.coordinator_id == row.id))
            session.delete(row)
            return True

    # ---- logins ----------------------------------------------------------------------------

    def failed_login(self, coordinator_id: int, now: datetime, limit: int, lock_for: timedelta) -> Coordinator:
        """Count one more failure in a row; the `limit`-th locks the account for `lock_for` (and starts
        the count again for when the lock ends)."""
        with self.repository._transaction(write=True) as session:
            row = session.exec(select(CoordinatorRow).where(CoordinatorRow.id == coordinator_id)
                               .with_for_update()).one()
            row.failed_logins += 1
            if row.failed_logins >= limit:
                row.failed_logins, row.locked_until = 0, now + lock_for
            session.add(row)
            session.flush()
            return _coordinator(row)

    def good_login(self, coordinator_id: int, password_hash: str | None = None) -> None:
        """Reset the failure count and any lock; store `password_hash` when the hash was renewed."""
        values: dict = {"failed_logins": 0, "locked_until": None}
        if password_hash:
            values["password_hash"] = password_hash
        with self.repository._transaction(write=True) as session:
            session.execute(sa.update(CoordinatorRow).where(CoordinatorRow.id == coordinator_id).values(**values))

    # ---- sessions --------------------------------------------------------------------------

    def begin_session(self, coordinator_id: int, token_hash: str, csrf: str, browser: str,
                      now: datetime, expires_at: datetime) -> None:
        """Keep a new session; sessions that have expired (anyone's) are deleted on the way."""
        with self.repository._transaction(write=True) as session:
            session.execute(sa.delete(CoordinatorSessionRow).where(CoordinatorSessionRow.expires_at <= now))
            session.add(CoordinatorSessionRow(token_hash=token_hash, coordinator_id=coordinator_id, csrf=csrf,
                                              browser=browser, created_at=now, expires_at=expires_at))

    def session(self, token_hash: str) -> CoordinatorSession | None:
        with self.repository._transaction() as session:
            found = session.exec(select(CoordinatorSessionRow, CoordinatorRow)
                                 .join(CoordinatorRow, CoordinatorRow.id == CoordinatorSessionRow.coordinator_id)
                                 .where(CoordinatorSessionRow.token_hash == token_hash)).first()
            if found is None:
                return None
            row, account = found
            return CoordinatorSession(coordinator=_coordinator(account), csrf=row.csrf, browser=row.browser,
                                      expires_at=_utc(row.expires_at))

    def end_session(self, token_hash: str) -> None:
        with self.repository._transaction(write=True) as session:
            session.execute(sa.delete(CoordinatorSessionRow).where(CoordinatorSessionRow.token_hash == token_hash))


def _coordinator(row: CoordinatorRow) -> Coordinator:
    return Coordinator(id=row.id, username=row.username, password_hash=row.password_hash, locale=row.locale,
                       failed_logins=row.failed_logins,
                       locked_until=_utc(row.locked_until) if row.locked_until else None)
