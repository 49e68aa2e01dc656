"""A zip member read straight from the archive's file: stored or deflated bytes, inflated only as far as they are read.

zipfile's member files do the same job, but each is opened through the
archive's shared, locked file object, reads and inflates at least 4 KB at a
time and keeps its own buffers; a check reads a few kilobytes of each of
thousands of members, where that overhead is most of the cost. Here a member
is one `os.pread` of its local header with the first compressed bytes, then
zlib asked for exactly the bytes read. The checks zipfile makes are kept: the
local header's signature and name must match the central directory, the
output stops at the declared size, and the CRC is checked when the member is
read to its end. Errors come out as `DamagedMember` (an OSError), as from the other archives' streams.

`open_member` returns None for what zipfile should open itself: methods other
than stored and deflated, encrypted or patched members, and archives that are
not a file with a descriptor (a zip in memory).
"""
from __future__ import annotations

import io
import os
import struct
import zipfile

from rules.containers.streams import DamagedMember

try:  # zlib-ng inflates about twice as fast as zlib, with the same interface
    from zlib_ng import zlib_ng as zlib
except ImportError:  # a platform without its wheel: the standard zlib
    import zlib

LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zipfile's structFileHeader: 30 bytes
LOCAL_SIGNATURE = b"PK\x03\x04"
NAME_LENGTH, EXTRA_LENGTH = 10, 11  # fields of LOCAL_HEADER
READ_AHEAD = 8 * 1024  # compressed bytes read with the local header, and at least as many after
KEEP = 256 * 1024  # inflated bytes kept from the start, so going back to 0 after a peek costs nothing
UTF8_NAME, ENCRYPTED, PATCHED, STRONG_ENCRYPTION = 0x800, 0x1, 0x20, 0x40


def archive_fd(zf: zipfile.ZipFile) -> int | None:
    """The descriptor of the file under `zf`, or None when it has none (a zip in memory)."""
    try:
        return zf.fp.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def open_member(fd: int, info: zipfile.ZipInfo, encoding: str | None = None) -> "MemberStream | None":
    """A stream of one member, or None when zipfile must open it; `encoding` is the zip's names' (cp437 by default)."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return None
    if info.flag_bits & (ENCRYPTED | PATCHED | STRONG_ENCRYPTION):
        return None
    return MemberStream(fd, info, encoding or "cp437")


class MemberStream(io.RawIOBase):
    """One member's bytes, read and inflated on demand; seekable (forward by inflating, back by starting again)."""

    def __init__(self, fd: int, info: zipfile.ZipInfo, encoding: str = "cp437"):
        super().__init__()
        self._fd, self._info, self._encoding = fd, info, encoding
        self._size = info.file_size
        self._data_at, first = self._local_header()
        self._first = first
        self._restart()

    def _local_header(self) -> tuple[int, bytes]:
        """Offset of the member's data, and the compressed bytes read with its local header."""
        info = self._info
        want = LOCAL_HEADER.size + len(info.orig_filename.encode("utf-8")) + 64 + min(info.compress_size, READ_AHEAD)
        block = os.pread(self._fd, want, info.header_offset)
        if len(block) < LOCAL_HEADER.size:
            raise DamagedMember("truncated zip local header")
        fields = LOCAL_HEADER.unpack_from(block)
        if fields[0] != LOCAL_SIGNATURE:
            raise DamagedMember("bad magic number for zip file header")
        name_at = LOCAL_HEADER.size
        data_at = name_at + fields[NAME_LENGTH] + fields[EXTRA_LENGTH]
        if len(block) < name_at + fields[NAME_LENGTH]:
            block += os.pread(self._fd, name_at + fields[NAME_LENGTH] - len(block), info.header_offset + len(block))
        raw_name = block[name_at : name_at + fields[NAME_LENGTH]]
        name = raw_name.decode("utf-8" if info.flag_bits & UTF8_NAME else self._encoding)
        if name != info.orig_filename:
            raise DamagedMember("zip file name in directory and header differ")
        first = block[data_at : data_at + info.compress_size] if len(block) > data_at else b""
        return info.header_offset + data_at, first

    def _restart(self) -> None:
        self._inflate = zlib.decompressobj(-15) if self._info.compress_type == zipfile.ZIP_DEFLATED else None
        self._pending = self._first  # compressed bytes read but not yet given to zlib
        self._read_in = len(self._first)  # compressed bytes read from the file so far
        self._out, self._out_start = b"", 0  # inflated bytes kept, from this offset
        self._made = 0  # inflated bytes made so far
        self._crc = 0
        self._pos = 0
        self._ended = self._size == 0

    # ---- io.RawIOBase

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            offset += self._size
        elif whence != io.SEEK_SET:
            raise ValueError(f"invalid whence {whence}")
        target = max(0, min(offset, self._size))
        if target < self._out_start:
            self._restart()
        self._pos = target
        return target

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._pos
        end = min(self._pos + size, self._size)
        if end <= self._pos:
            return b""
        if end > self._made:
            self._make(end)
        i = self._pos - self._out_start
        chunk = self._out[i : i + end - self._pos]
        self._pos += len(chunk)
        if self._out_start + len(self._out) > KEEP and self._pos > self._out_start:  # drop what is behind
            self._out, self._out_start = self._out[self._pos - self._out_start :], self._pos
        return chunk

    def readinto(self, buffer) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    # ---- inflating

    def _make(self, end: int) -> None:
        """Inflate until bytes [.., end) are made or the member ends; bytes before the read position are not kept."""
        parts = [self._out]
        made = self._made
        if made < self._pos:  # a seek forward past what was made: what lies between is not kept
            parts, self._out_start = [], None
        while made < end and not self._ended:
            data = self._more(end - made)
            if not data and not self._ended:
                self._ended = True
                break
            made += len(data)
            self._crc = zlib.crc32(data, self._crc)
            if self._out_start is None:
                if made > self._pos:
                    parts, self._out_start = [data[len(data) - (made - self._pos) :]], self._pos
            else:
                parts.append(data)
            if made >= self._size:
                self._ended = True
        self._made = made
        if self._out_start is None:  # the member ended before the read position
            parts, self._out_start = [], made
        self._out = parts[0] if len(parts) == 1 else b"".join(parts)
        if self._ended and self._crc != self._info.CRC:  # as zipfile: checked once the member ends
            raise DamagedMember("bad CRC-32 for zip member")

    def _more(self, wanted: int) -> bytes:
        """Up to `wanted` more bytes of the member (fewer near its end), or b"" at its end."""
        info = self._info
        wanted = min(wanted, self._size - self._made)
        if self._inflate is None:  # stored
            data = os.pread(self._fd, wanted, self._data_at + self._made)
            return data
        data = b""
        while not data:
            if not self._pending:
                left = info.compress_size - self._read_in
                if left <= 0:  # all read: what zlib still holds, then the end
                    return b"" if self._inflate.eof else self._inflate.flush()[: self._size - self._made]
                self._pending = os.pread(self._fd, min(left, max(READ_AHEAD, wanted)), self._data_at + self._read_in)
                if not self._pending:
                    raise DamagedMember("zip member truncated")
                self._read_in += len(self._pending)
            try:
                data = self._inflate.decompress(self._pending, wanted)
            except zlib.error as exc:
                raise DamagedMember(f"zip member cannot be inflated: {exc}") from None
            self._pending = self._inflate.unconsumed_tail
            if self._inflate.eof:
                if not data:
                    return b""
                break
        return data
