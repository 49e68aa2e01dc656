"""7z archives: listed when planning; when walking, py7zr writes members that a thread hands over one at a time."""
from __future__ import annotations

import io
import os
import queue
import tempfile
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

import py7zr
import py7zr.exceptions
import py7zr.io

from rules.containers.budget import Limits, size_problem
from rules.containers.members import IGNORED, UNREADABLE, Batch, Entry, Item, Plan
from rules.containers.names import ignored_code, is_unsafe, quiet_code

if TYPE_CHECKING:
    from rules.containers.walking import Walker


def plan_7z(path: str, display: str, limits: Limits, result: Plan, files_left: int) -> int:
    try:
        with py7zr.SevenZipFile(path) as archive:
            locked = archive.needs_password()
            infos = [] if locked else [info for info in archive.list() if not info.is_directory]
    except py7zr.exceptions.PasswordRequired:
        locked = True
    if locked:
        result.entries.append(Entry(display, UNREADABLE, "password_protected"))
        return 1
    problem = size_problem(display, sum(info.uncompressed for info in infos), os.path.getsize(path), limits, limits.max_total_bytes)
    if problem:
        result.entries.append(problem)
        return 1
    result.batches.append(Batch("stream", path, display, ()))
    count = min(files_left, len(infos))
    result.total_members += count
    return max(1, count)


def members(walker, display: str, fp: BinaryIO, depth: int) -> Iterator[Item | Entry]:
    with py7zr.SevenZipFile(fp, max_extract_size=walker.budget.room) as archive:
        if archive.needs_password():
            yield Entry(display, UNREADABLE, "password_protected")
            return
        targets = []
        for info in archive.list():
            name = f"{display}/{info.filename}"
            if info.is_directory:
                continue
            if is_unsafe(info.filename):
                yield Entry(name, UNREADABLE, "unsafe_path")
            elif info.is_symlink:
                yield Entry(name, UNREADABLE, "symlink")
            elif code := ignored_code(info.filename):
                yield Entry(name, IGNORED, code)
            else:
                targets.append(info.filename)
        if targets:
            yield from _handed_over(walker, archive, display, targets, depth)


def _handed_over(walker, archive, display: str, targets: list[str], depth: int) -> Iterator[Item | Entry]:
    """py7zr pushes members to a writer; a thread hands them over here one at a time."""
    handoff = _Handoff(walker)
    worker = threading.Thread(target=handoff.run, args=(archive, targets), daemon=True)
    worker.start()
    try:
        while True:
            message = handoff.ready.get()
            if message[0] == "end":
                if message[1] is not None:
                    raise message[1]
                return
            _, member, member_file = message
            try:
                with member_file:
                    size = member_file.seek(0, io.SEEK_END)
                    member_file.seek(0)
                    yield from walker.offer(f"{display}/{member}", member_file, size, quiet_code(member), depth, seekable=True)
            finally:
                handoff.taken.release()
    finally:
        handoff.stop()
        worker.join()
        handoff.drain()


class _Stopped(Exception):
    """The walk was abandoned; the 7z writer thread unwinds."""


class _Handoff(py7zr.io.WriterFactory):
    """Members py7zr writes, handed to the walk one at a time (the writer waits until it is read)."""

    def __init__(self, walker: Walker):
        self.walker = walker
        self.ready: queue.Queue = queue.Queue()
        self.taken = threading.Semaphore(0)
        self.stopped = threading.Event()

    def create(self, filename: str) -> py7zr.io.Py7zIO:
        return _MemberWriter(self, filename)

    def run(self, archive, targets: list[str]) -> None:
        try:
            archive.extract(targets=targets, factory=self)
        except BaseException as exc:  # handed to the walk, which reports it
            self.ready.put(("end", exc))
            return
        self.ready.put(("end", None))

    def deliver(self, member: str, member_file: BinaryIO) -> None:
        if self.stopped.is_set():
            raise _Stopped()
        self.ready.put(("member", member, member_file))
        self.taken.acquire()
        if self.stopped.is_set():
            raise _Stopped()

    def stop(self) -> None:
        self.stopped.set()
        self.taken.release()

    def drain(self) -> None:
        while not self.ready.empty():
            message = self.ready.get_nowait()
            if message[0] == "member":
                message[2].close()


class _MemberWriter(py7zr.io.Py7zIO):
    """One 7z member, written to an anonymous temporary file within the byte budget."""

    def __init__(self, handoff: _Handoff, member: str):
        self.handoff, self.member = handoff, member
        self.file = tempfile.TemporaryFile(dir=handoff.walker.scratch)

    def write(self, data: bytes | bytearray) -> int:
        if self.handoff.stopped.is_set():
            raise _Stopped()
        self.handoff.walker.budget.take_bytes(len(data))
        return self.file.write(data)

    def read(self, size: int | None = None) -> bytes:
        return self.file.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def flush(self) -> None:
        self.file.flush()

    def size(self) -> int:
        return self.file.tell()

    def close(self) -> None:  # py7zr calls this once the member is complete
        try:
            self.handoff.deliver(self.member, self.file)
        except _Stopped:
            self.file.close()
            raise
