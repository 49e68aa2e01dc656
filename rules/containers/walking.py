"""One batch opened in a worker: its members yielded in order, nested archives expanded one level deep."""
from __future__ import annotations

import io
import logging
import os
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from rules.containers import tar_archives, zip_archives
from rules.containers.budget import Budget, LimitHit, Limits
from rules.containers.kinds import BATCH_KINDS, SNIFF, container_kind
from rules.containers.members import UNREADABLE, Batch, Entry, Item
from rules.containers.streams import CHUNK, Replay, read_head, read_up_to

log = logging.getLogger(__name__)


def walk(batch: Batch, limits: Limits = Limits(), scratch: Path | None = None) -> Iterator[Item | Entry]:
    """Open one batch and yield its members in order; never raises on bad input."""
    walker = Walker(limits, scratch)
    try:
        yield from walker.batch(batch)
    except LimitHit as hit:
        yield Entry(batch.display, UNREADABLE, hit.code, hit.limit)
    except Exception:
        log.info("a batch stopped early", exc_info=log.isEnabledFor(logging.DEBUG))
        yield Entry(batch.display, UNREADABLE, "read_error" if batch.kind == "files" else "corrupt_archive")


class Walker:
    """Reads one batch; nested containers are expanded here, one level deep."""

    def __init__(self, limits: Limits, scratch: Path | None):
        self.limits, self.scratch = limits, scratch
        self.budget = Budget(limits)

    def batch(self, batch: Batch) -> Iterator[Item | Entry]:
        quiet = batch.quiet or ("",) * len(batch.members)
        if batch.kind == "files":
            yield from self.files(batch, quiet)
        elif batch.kind == "zip":
            zf = zip_archives.opened(batch.container)  # kept open for the next batch of the same zip
            yield from zip_archives.members(self, zf, batch.display, batch.members, quiet, depth=0)
        elif batch.kind == "iso":
            import pycdlib  # discs only, as py7zr for 7z only: a check of plain files never loads them

            from rules.containers import disc_images

            iso = pycdlib.PyCdlib()
            iso.open(batch.container)
            try:
                yield from disc_images.members(self, iso, batch.display, batch.members, quiet, depth=0)
            finally:
                iso.close()
        elif batch.kind == "stream":
            with open(batch.container, "rb") as fp:
                kind = container_kind(read_up_to(fp, SNIFF, b""))
                fp.seek(0)
                yield from self.stream(batch.display, fp, kind, depth=0)
        else:
            raise ValueError(f"unknown batch kind {batch.kind!r}")

    # ---- containers

    def files(self, batch: Batch, quiet: tuple[str, ...]) -> Iterator[Item | Entry]:
        prefix = os.path.join(batch.container, "")  # planning lists a folder's files as prefix + relative path
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        for path, quiet_as in zip(batch.members, quiet):
            if batch.container:
                relative = path[len(prefix) :] if path.startswith(prefix) else os.path.relpath(path, batch.container)
                name = f"{batch.display}/{relative if os.sep == '/' else Path(relative).as_posix()}"
            else:
                name = batch.display or Path(path).name
            try:
                fp = os.fdopen(os.open(path, flags), "rb", buffering=0)  # unbuffered: the reader asks for what it needs
            except FileNotFoundError:
                yield Entry(name, UNREADABLE, "not_found")
                continue
            except OSError:
                yield Entry(name, UNREADABLE, "symlink" if os.path.islink(path) else "read_error")
                continue
            with fp:
                info = os.fstat(fp.fileno())
                if not stat.S_ISREG(info.st_mode):
                    yield Entry(name, UNREADABLE, "read_error")
                    continue
                yield Item(name, info.st_size, fp, quiet_as)

    def stream(self, display: str, fp: BinaryIO, kind: str, depth: int) -> Iterator[Item | Entry]:
        """A tar (maybe compressed) or a 7z, read strictly in order."""
        password_required = too_large = ()  # py7zr's exceptions, once a 7z is opened (an empty tuple catches nothing)
        try:
            if kind == "7z":
                import py7zr.exceptions

                from rules.containers import seven_zip

                password_required, too_large = py7zr.exceptions.PasswordRequired, py7zr.exceptions.DecompressionBombError
                yield from seven_zip.members(self, display, fp, depth)
            else:
                yield from tar_archives.members(self, display, fp, kind, depth)
        except LimitHit:
            raise
        except password_required:
            yield Entry(display, UNREADABLE, "password_protected")
        except too_large:
            yield Entry(display, UNREADABLE, "archive_too_large", self.limits.max_total_bytes)
        except Exception:
            log.info("a stream archive stopped early", exc_info=log.isEnabledFor(logging.DEBUG))
            yield Entry(display, UNREADABLE, "corrupt_archive")

    # ---- one member

    def offer(self, name: str, stream: BinaryIO, size: int | None, quiet: str, depth: int, seekable: bool = False,
              rewind: bool = False) -> Iterator[Item | Entry]:
        """Yield a member as an Item, or expand it when it is itself an archive or disc.

        `seekable`: the stream seeks anywhere cheaply (a file); `rewind`: it goes back to its start
        cheaply but reads on only in order (an inflated zip member), so a nested archive is still spooled."""
        try:
            head = read_head(stream)
        except LimitHit:
            raise
        except Exception:
            yield Entry(name, UNREADABLE, "corrupt_archive")
            return
        kind = container_kind(head)
        if not kind:
            self.budget.take_file()
            if seekable or rewind:
                stream.seek(0)
                yield Item(name, size, stream, quiet)
            else:
                yield Item(name, size, Replay(head, stream), quiet)
            return
        if depth + 1 > self.limits.max_depth:
            yield Entry(name, UNREADABLE, "nested_too_deep")
            return
        if seekable:
            stream.seek(0)
            yield from self.nested(name, stream, kind, depth + 1)
            return
        with self.spooled(head, stream) as spool:
            yield from self.nested(name, spool, kind, depth + 1)

    @contextmanager
    def spooled(self, head: bytes, stream: BinaryIO) -> Iterator[BinaryIO]:
        """A nested archive copied to an anonymous temporary file, within the byte budget."""
        with tempfile.TemporaryFile(dir=self.scratch) as spool:
            self.budget.take_bytes(len(head))
            spool.write(head)
            while chunk := stream.read(CHUNK):
                self.budget.take_bytes(len(chunk))
                spool.write(chunk)
            spool.seek(0)
            yield spool

    def nested(self, name: str, fp: BinaryIO, kind: str, depth: int) -> Iterator[Item | Entry]:
        files_left = self.limits.max_files - self.budget.files
        if BATCH_KINDS[kind] == "stream":
            yield from self.stream(name, fp, kind, depth)
            return
        try:
            if kind == "zip":
                container = zipfile.ZipFile(fp)
                survey = zip_archives.survey_zip(container, name, self.limits, self.budget.room, files_left)
            else:
                import pycdlib

                from rules.containers import disc_images

                container = pycdlib.PyCdlib()
                container.open_fp(fp)
                packed = fp.seek(0, io.SEEK_END)
                survey = disc_images.survey_iso(container, name, self.limits, self.budget.room, files_left, packed)
        except Exception:
            yield Entry(name, UNREADABLE, "corrupt_archive")
            return
        try:
            yield from survey.entries
            if kind == "zip":
                yield from zip_archives.members(self, container, name, survey.members, survey.quiet, depth)
            else:
                yield from disc_images.members(self, container, name, survey.members, survey.quiet, depth)
        finally:
            container.close()
