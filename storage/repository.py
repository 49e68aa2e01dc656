"""Loads and saves cases. A conversation step is one transaction; steps of one chat never interleave.

    repository = Repository(settings.database_url, settings.data_dir).open()   # migrates
    with repository.step("telegram:12345") as case:      # locked, loaded (or new)
        replies = dialogs.step(case, event)               # change it
    # saved and committed here; an exception inside the block saves nothing

Everything handed out is a plain `dialogs.case.Case`; ORM rows never leave a session.
Until `case.consent` is true only chat, locale, state and status are kept
("Nothing but the language is stored until the patient agrees").
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import re
import secrets
import shutil
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dialogs.case import Case, Upload
from storage.config import Settings
from storage.errors import CaseFull, ConsentRequired, NestedStep, StorageError, UploadTooLarge
from storage.models import CaseRow, HandoffRow, IncomingRow, MessageRow, ProgressRow, ReportRow, UploadRow, \
    UploadTokenRow, utcnow
from storage.quota import CaseLimits, stored_usage
from storage.schema import WRITE, make_engine, migrate

MB = 1024 * 1024
CHUNK = MB
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,8}")
_NAME_LIMIT = 255


class Repository:
    def __init__(self, url: str, data_dir: Path | str, *, max_upload_mb: int = 2048,
                 limits: CaseLimits = CaseLimits()) -> None:
        self.url = url
        self.data_dir = Path(data_dir).resolve()
        self.max_upload_bytes = max_upload_mb * MB
        self.limits = limits                       # MAX_CASE_MB and MAX_CASE_FILES, for every channel
        self._engine: Engine | None = None
        self._locks: dict[str, list] = {}          # chat → [Lock, number of threads using or waiting]
        self._locks_guard = threading.Lock()
        self._local = threading.local()            # .steps: chat → files stored during that open step
        # SQLite has one writer at a time; threads of this process queue here instead of in SQLite's
        # busy handler, which sleeps up to 100 ms between tries (other processes still wait there).
        self._sqlite_writer = threading.Lock() if url.startswith("sqlite") else None

    @classmethod
    def from_settings(cls, settings: Settings) -> Repository:
        return cls(settings.database_url, settings.data_dir, max_upload_mb=settings.max_upload_mb,
                   limits=CaseLimits.from_settings(settings))

    # ---- lifecycle -------------------------------------------------------------------------

    def open(self) -> Repository:
        """Connect and bring the schema to the newest migration. Idempotent."""
        if self._engine is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            engine = make_engine(self.url)
            try:
                migrate(engine)
            except BaseException:
                engine.dispose()
                raise
            self._engine = engine
        return self

    def ping(self) -> None:
        """A quick `SELECT 1`: raises if the database cannot be reached."""
        with self._require_engine().connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> Repository:
        return self.open()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- the conversation step -------------------------------------------------------------

    @contextmanager
    def step(self, chat: str) -> Iterator[Case]:
        """Load the chat's case (a new one if there is none), let the caller change it, save it.

        One transaction, under a per-chat lock in this process and, on PostgreSQL, a row lock
        (SQLite: the database write lock, BEGIN IMMEDIATE). On an exception nothing is saved and
        files stored with `store_upload` during the step are deleted. Keep the block short: do not
        download inside it, and from asyncio call it in a worker thread, never across an `await`.
        """
        with self._chat_lock(chat) as stored_files:
            try:
                with self._transaction(write=True) as session:
                    row = self._lock_case(session, chat)
                    loaded: dict[int, Case] = {}
                    case = self._to_cases(session, [row], loaded)[0]
                    self._local.session = session
                    try:
                        yield case
                        dropped = self._save(session, row, case, loaded[row.id])
                    finally:
                        self._local.session = None
            except BaseException:
                for path in stored_files:
                    path.unlink(missing_ok=True)
                raise
        case.id = row.id
        case_dir = self._case_dir(row.id)
        for path in dropped:
            if path.parent == case_dir:
                path.unlink(missing_ok=True)

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[Session]:
        """The open step's session when called inside a step of this thread (so what is written joins
        that step's transaction), else a transaction of its own."""
        current = getattr(self._local, "session", None)
        if current is not None:
            yield current
            return
        with self._transaction(write=write) as session:
            yield session

    @property
    def dialect(self) -> str:
        return self._require_engine().dialect.name

    # ---- reading ---------------------------------------------------------------------------

    def load(self, chat: str) -> Case | None:
        """The chat's case as last committed, or None. Takes no lock."""
        with self._transaction() as session:
            row = session.exec(select(CaseRow).where(CaseRow.chat == chat)).first()
            return self._to_cases(session, [row])[0] if row else None

    def get(self, case_id: int) -> Case | None:
        with self._transaction() as session:
            row = session.get(CaseRow, case_id)
            return self._to_cases(session, [row])[0] if row else None

    def cases(self, status: str | None = None, limit: int = 50) -> list[Case]:
        """Most recently updated first."""
        with self._transaction() as session:
            query = select(CaseRow)
            if status is not None:
                query = query.where(CaseRow.status == status)
            query = query.order_by(CaseRow.updated_at.desc(), CaseRow.id.desc()).limit(limit)
            return self._to_cases(session, session.exec(query).all())

    # ---- files -----------------------------------------------------------------------------

    def upload_dir(self, case: Case) -> Path:
        """DATA_DIR/uploads/<case id>/, created. Named by the case id only, never by anything a patient typed."""
        if case.id is None:
            raise StorageError("the case has no id yet: store uploads inside step() or after it")
        directory = self._case_dir(case.id)
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def store_upload(self, case: Case, source: BinaryIO, name: str) -> Upload:
        """Copy a binary stream into the case's upload folder under a generated name, counting
        size and sha256 on the way. Over MAX_UPLOAD_MB: `UploadTooLarge`; past the case's MAX_CASE_MB or
        MAX_CASE_FILES (with the files it holds): `CaseFull`; either way no file is left.

        The returned `Upload` is not added to `case.uploads`: the dialog does that."""
        if not case.consent:
            raise ConsentRequired("no file is stored before the patient agrees")
        path = self.upload_dir(case) / (secrets.token_hex(16) + _extension(name))
        with self._transaction() as session:
            held = stored_usage(session, case.id)
        self.limits.check(held, adding_bytes=0)
        room = self.limits.max_mb * MB - held.bytes
        digest, size = hashlib.sha256(), 0
        try:
            with open(path, "xb") as out:
                while chunk := source.read(CHUNK):
                    if not isinstance(chunk, bytes | bytearray | memoryview):
                        raise TypeError("store_upload needs a binary stream")
                    size += len(chunk)
                    if size > self.max_upload_bytes:
                        raise UploadTooLarge(self.max_upload_bytes)
                    if size > room:
                        raise CaseFull("bytes", self.limits.max_mb)
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        stored_files = getattr(self._local, "steps", {}).get(case.chat)
        if stored_files is not None:
            stored_files.append(path)
        return Upload(path=str(path), name=name[:_NAME_LIMIT], size=size, sha256=digest.hexdigest())

    # ---- erasing ---------------------------------------------------------------------------

    def delete(self, chat: str) -> bool:
        """Erase the chat's case: its row, uploads, reports, handoffs and its upload folder.
        False if there was no case."""
        with self._chat_lock(chat), self._transaction(write=True) as session:
            row = session.exec(select(CaseRow).where(CaseRow.chat == chat).with_for_update()).first()
            if row is None:
                return False
            case_id = row.id
            incoming = _delete_rows(session, case_id)
        shutil.rmtree(self._case_dir(case_id), ignore_errors=True)
        self._forget_incoming(incoming)
        return True

    def purge(self, retention_days: int, now: datetime | None = None) -> int:
        """Erase cases (rows and files) not updated for `retention_days`; returns how many.
        Also removes upload folders older than that which belong to no case."""
        if retention_days < 0:
            raise ValueError("retention_days must not be negative")
        now = _utc(now or utcnow())
        cutoff = now - timedelta(days=retention_days)
        with self._transaction() as session:
            stale = session.exec(select(CaseRow.id, CaseRow.chat).where(CaseRow.updated_at < cutoff)).all()
        erased = 0
        for case_id, chat in stale:
            with self._chat_lock(chat), self._transaction(write=True) as session:
                row = session.exec(select(CaseRow).where(CaseRow.id == case_id).with_for_update()).first()
                if row is None or _utc(row.updated_at) >= cutoff:    # erased or touched meanwhile
                    continue
                incoming = _delete_rows(session, case_id)
            shutil.rmtree(self._case_dir(case_id), ignore_errors=True)
            self._forget_incoming(incoming)
            erased += 1
        self._purge_orphan_dirs(cutoff)
        return erased

    # ---- internals -------------------------------------------------------------------------

    def _require_engine(self) -> Engine:
        if self._engine is None:
            raise StorageError("Repository is not open: call open() first")
        return self._engine

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back on an exception."""
        writer = self._sqlite_writer if write and self._sqlite_writer else contextlib.nullcontext()
        with writer, self._require_engine().connect() as connection:
            if write:
                connection.execution_options(**{WRITE: True})
            with connection.begin(), Session(bind=connection, expire_on_commit=False, autoflush=False) as session:
                yield session
                session.flush()

    @contextmanager
    def _chat_lock(self, chat: str) -> Iterator[list[Path]]:
        steps = getattr(self._local, "steps", None)
        if steps is None:
            steps = self._local.steps = {}
        if steps:
            # The same chat would wait for itself; on SQLite any second writer in this thread would
            # too (one write transaction per database); on PostgreSQL row locks taken in varying
            # orders can deadlock. So: one step (or delete, or purge) at a time per thread.
            raise NestedStep(f"this thread is inside the step for {next(iter(steps))!r}; "
                             f"finish it before touching {chat!r}")
        with self._locks_guard:
            entry = self._locks.setdefault(chat, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                steps[chat] = stored_files = []
                try:
                    yield stored_files
                finally:
                    del steps[chat]
        finally:
            with self._locks_guard:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[chat]

    def _lock_case(self, session: Session, chat: str) -> CaseRow:
        """The chat's row, locked FOR UPDATE (PostgreSQL); inserted first if there is none.
        Two first steps racing: both insert-or-nothing, then both wait on the same row lock."""
        query = select(CaseRow).where(CaseRow.chat == chat).with_for_update()
        row = session.exec(query).first()
        if row is None:
            blank, now = Case(chat=chat), utcnow()
            values = dict(chat=chat, locale=blank.locale, state=blank.state, consent=False, answers={},
                          history=[], status=blank.status, created_at=now, updated_at=now)
            dialect = session.get_bind().dialect.name
            if dialect == "postgresql":
                insert = postgresql.insert(CaseRow).values(values).on_conflict_do_nothing(index_elements=["chat"])
            elif dialect == "sqlite":
                insert = sqlite.insert(CaseRow).values(values).on_conflict_do_nothing(index_elements=["chat"])
            else:
                insert = sa.insert(CaseRow).values(values)
            session.execute(insert)
            row = session.exec(query).one()
        return row

    def _to_cases(self, session: Session, rows: Iterable[CaseRow], loaded: dict[int, Case] | None = None) -> list[Case]:
        """Plain cases from rows; `loaded` (when given) receives each case as read, to spare unchanged writes."""
        rows = list(rows)
        ids = [row.id for row in rows]
        if not ids:
            return []
        uploads: dict[int, list[Upload]] = {i: [] for i in ids}
        for u in session.exec(select(UploadRow).where(UploadRow.case_id.in_(ids)).order_by(UploadRow.id)):
            uploads[u.case_id].append(Upload(path=self._disk_path(u.path), name=u.name, size=u.size, sha256=u.sha256))
        reports = {r.case_id: r.report for r in
                   session.exec(select(ReportRow).where(ReportRow.case_id.in_(ids)).order_by(ReportRow.id))}
        handoffs = {h.case_id: h.handoff for h in
                    session.exec(select(HandoffRow).where(HandoffRow.case_id.in_(ids)).order_by(HandoffRow.id))}
        if loaded is not None:  # the rows' own documents: the caller changes only the copies below
            loaded.update({row.id: Case(chat=row.chat, uploads=list(uploads[row.id]), report=reports.get(row.id),
                                        handoff=handoffs.get(row.id)) for row in rows})
        return [Case(chat=row.chat, id=row.id, locale=row.locale, state=row.state, consent=row.consent,
                     answers=copy.deepcopy(row.answers), history=list(row.history), uploads=uploads[row.id],
                     report=copy.deepcopy(reports.get(row.id)), handoff=copy.deepcopy(handoffs.get(row.id)),
                     status=row.status)
                for row in rows]

    def _save(self, session: Session, row: CaseRow, case: Case, loaded: Case) -> list[Path]:
        """Write the case into its locked row and sync its uploads, report and handoff (those that differ
        from `loaded`, the case as read). Returns the files of uploads the case no longer lists (deleted
        after the commit)."""
        if case.chat != row.chat:
            raise StorageError("a step may not change the case's chat")
        # Before consent: nothing but the language (and where the conversation stands).
        kept = case if case.consent else Case(chat=case.chat, locale=case.locale, state=case.state,
                                              status=case.status)
        now = utcnow()
        row.locale, row.state, row.consent, row.status = kept.locale, kept.state, bool(kept.consent), kept.status
        row.answers, row.history = copy.deepcopy(kept.answers), list(kept.history)
        row.updated_at = now
        session.add(row)

        dropped = []
        if kept.uploads != loaded.uploads:
            dropped = self._sync_uploads(session, row.id, kept.uploads, now)
        if kept.report != loaded.report:
            _sync_document(session, ReportRow, "report", row.id, kept.report, now, renew_created=True)
        if kept.handoff != loaded.handoff:
            _sync_document(session, HandoffRow, "handoff", row.id, kept.handoff, now, renew_created=False)
        return dropped

    def _sync_uploads(self, session: Session, case_id: int, uploads: list[Upload], now: datetime) -> list[Path]:
        dropped = []
        wanted = {self._stored_path(u.path): u for u in uploads}
        existing = session.exec(select(UploadRow).where(UploadRow.case_id == case_id)).all()
        for upload_row in existing:
            upload = wanted.pop(upload_row.path, None)
            if upload is None:
                session.delete(upload_row)
                dropped.append(Path(self._disk_path(upload_row.path)))
            elif (upload_row.name, upload_row.size, upload_row.sha256) != (upload.name, upload.size, upload.sha256):
                upload_row.name, upload_row.size, upload_row.sha256 = upload.name[:1024], upload.size, upload.sha256
                session.add(upload_row)
        for path, upload in wanted.items():
            session.add(UploadRow(case_id=case_id, path=path, name=upload.name[:1024], size=upload.size,
                                  sha256=upload.sha256, created_at=now))
        return dropped

    def incoming_part(self, upload_id: str) -> Path:
        """DATA_DIR/incoming/<id>.part: the bytes of an upload on its way in (`storage.incoming`)."""
        return self.data_dir / "incoming" / f"{upload_id}.part"

    def _forget_incoming(self, upload_ids: Iterable[str]) -> None:
        for upload_id in upload_ids:
            self.incoming_part(upload_id).unlink(missing_ok=True)

    def _case_dir(self, case_id: int) -> Path:
        return self.data_dir / "uploads" / str(int(case_id))

    def _stored_path(self, path: str) -> str:
        """Paths under DATA_DIR are stored relative to it, so the data folder can move."""
        p = Path(path)
        if p.is_absolute() and p.is_relative_to(self.data_dir):
            return p.relative_to(self.data_dir).as_posix()
        return str(p)

    def _disk_path(self, stored: str) -> str:
        p = Path(stored)
        return str(p if p.is_absolute() else self.data_dir / p)

    def _purge_orphan_dirs(self, cutoff: datetime) -> None:
        root = self.data_dir / "uploads"
        if not root.is_dir():
            return
        with self._transaction() as session:
            known = set(session.exec(select(CaseRow.id)).all())
        for directory in root.iterdir():
            if (directory.is_dir() and directory.name.isdigit() and int(directory.name) not in known
                    and directory.stat().st_mtime < cutoff.timestamp()):
                shutil.rmtree(directory, ignore_errors=True)


def _delete_rows(session: Session, case_id: int) -> list[str]:
    """Deletes the case's rows; returns the ids of its incoming uploads, whose partial files go after the commit."""
    chat = session.exec(select(CaseRow.chat).where(CaseRow.id == case_id)).one()
    incoming = list(session.exec(select(IncomingRow.id).where(
        sa.or_(IncomingRow.case_id == case_id, IncomingRow.owner == chat))).all())
    session.execute(sa.delete(IncomingRow).where(IncomingRow.id.in_(incoming)))
    for table in (UploadRow, ReportRow, HandoffRow, UploadTokenRow, MessageRow, ProgressRow):
        session.execute(sa.delete(table).where(table.case_id == case_id))
    session.execute(sa.delete(CaseRow).where(CaseRow.id == case_id))
    return incoming


def _sync_document(session: Session, table: type, attribute: str, case_id: int, document: dict | None,
                   now: datetime, renew_created: bool) -> None:
    """One current JSON document per case (report or handoff): insert, update in place, or delete."""
    rows = session.exec(select(table).where(table.case_id == case_id).order_by(table.id)).all()
    if document is None:
        for r in rows:
            session.delete(r)
        return
    if not rows:
        session.add(table(case_id=case_id, created_at=now, **{attribute: copy.deepcopy(document)}))
        return
    *older, current = rows
    for r in older:
        session.delete(r)
    if getattr(current, attribute) != document:
        setattr(current, attribute, copy.deepcopy(document))
        if renew_created:
            current.created_at = now
        session.add(current)


def _extension(name: str) -> str:
    """The patient's extension if it is short and plain (".dcm", ".zip"), else none."""
    suffix = Path(name.replace("\\", "/")).suffix
    return suffix.lower() if _EXTENSION.fullmatch(suffix) else ""


def _utc(moment: datetime) -> datetime:
    """Aware UTC; naive values (SQLite gives those back) are taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
