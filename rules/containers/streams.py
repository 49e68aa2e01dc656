"""The streams members are read through: counted against the budget, the peeked head replayed."""
from __future__ import annotations

import io
from typing import TYPE_CHECKING, BinaryIO

from rules.containers.budget import Budget, LimitHit
from rules.containers.kinds import PEEK
from rules.containers.members import UNREADABLE, Entry

if TYPE_CHECKING:
    from rules.containers.walking import Walker


CHUNK = 1 << 20


class DamagedMember(OSError):
    """A member's bytes could not be had from its archive: a bad CRC, a decompressor error, a cut stream."""

    code = "corrupt_member"


def failed_member(name: str, exc: Exception) -> Entry:
    """The entry for a member whose stream broke while it was being read."""
    if isinstance(exc, LimitHit):
        return Entry(name, UNREADABLE, exc.code, exc.limit)
    return Entry(name, UNREADABLE, exc.code if isinstance(exc, DamagedMember) else "read_error")


class Replay(io.RawIOBase):
    """A member's stream that first replays the bytes already peeked, then reads on.

    Errors of the archive underneath come out as `DamagedMember` (an OSError, which a reader expects);
    a limit of the budget passes through as it is.
    """

    def __init__(self, head: bytes, rest: BinaryIO):
        super().__init__()
        self._head, self._offset, self._rest = head, 0, rest

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        chunk = self._head[self._offset : self._offset + size]
        self._offset += len(chunk)
        if len(chunk) < size:
            chunk += self._read_rest(size - len(chunk))
        return chunk

    def readinto(self, buffer) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def _read_rest(self, size: int) -> bytes:
        try:
            return self._rest.read(size)
        except LimitHit:
            raise
        except Exception as exc:
            raise DamagedMember(f"member cannot be read: {type(exc).__name__}") from exc


def read_head(stream: BinaryIO) -> bytes:
    """The first bytes of a member: 132 when it says DICM, else up to PEEK."""
    head = read_up_to(stream, 132, b"")
    if len(head) < 132 or head[128:132] == b"DICM":
        return head
    return read_up_to(stream, PEEK, head)


def read_up_to(stream: BinaryIO, size: int, head: bytes) -> bytes:
    while len(head) < size:
        chunk = stream.read(size - len(head))
        if not chunk:
            break
        head += chunk
    return head


class Counted(io.RawIOBase):
    """The compressed side of a stream archive: counts bytes read and checks the ratio on the way."""

    def __init__(self, fp: BinaryIO, walker: Walker):
        super().__init__()
        self.fp, self.walker, self.packed = fp, walker, 0
        self.unpacked = lambda: 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self.fp.read(size)
        self.packed += len(chunk)
        self.check_ratio()
        return chunk

    def check_ratio(self) -> None:
        limits, unpacked = self.walker.limits, self.unpacked()
        if unpacked > limits.ratio_floor_bytes and unpacked > limits.max_ratio * max(self.packed, 1):
            raise LimitHit("archive_ratio", limits.max_ratio)

    def readinto(self, buffer) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


class Unpacked(io.RawIOBase):
    """The decompressed side of one compressed file: counts bytes against the budget."""

    def __init__(self, stream: BinaryIO, budget: Budget):
        super().__init__()
        self.stream, self.budget, self.count = stream, budget, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        chunk = self.stream.read(size if size is not None and size >= 0 else CHUNK)
        self.count += len(chunk)
        self.budget.take_bytes(len(chunk))
        return chunk

    def readinto(self, buffer) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)
