"""Tar archives (plain or compressed), read strictly in order, and single compressed files (IM1.dcm.gz)."""
from __future__ import annotations

import bz2
import gzip
import lzma
import os
import tarfile
from collections.abc import Iterator
from typing import BinaryIO

from rules.containers.members import IGNORED, UNREADABLE, Entry, Item
from rules.containers.names import ignored_code, is_unsafe, quiet_code
from rules.containers.streams import Counted, Unpacked

COMPRESSED_TAR_ESTIMATE = 256 * 1024  # bytes of a compressed tar per member, for the progress bar only
DECOMPRESSORS = {"gz": lambda fp: gzip.GzipFile(fileobj=fp), "bz2": bz2.BZ2File, "xz": lzma.LZMAFile}


def estimate_tar(path: str, kind: str) -> int:
    """Members of a tar for the progress bar: counted when plain, guessed from the size when compressed."""
    if kind != "tar":
        return max(1, os.path.getsize(path) // COMPRESSED_TAR_ESTIMATE)
    try:
        with tarfile.open(path, "r:") as tar:
            return sum(1 for info in tar if info.isfile())
    except Exception:
        return 1


def members(walker, display: str, fp: BinaryIO, kind: str, depth: int) -> Iterator[Item | Entry]:
    counted = Counted(fp, walker)
    try:
        archive = tarfile.open(fileobj=counted, mode="r|*")
    except tarfile.ReadError:
        if kind in ("gz", "bz2", "xz"):  # one compressed file, not a tar
            yield from single_compressed(walker, display, fp, kind, depth)
            return
        raise
    counted.unpacked = lambda: archive.fileobj.pos
    with archive:
        for info in archive:
            counted.check_ratio()  # the decompressed side has moved on since the last compressed read
            name = f"{display}/{info.name}"
            if is_unsafe(info.name):
                yield Entry(name, UNREADABLE, "unsafe_path")
            elif info.issym() or info.islnk():
                yield Entry(name, UNREADABLE, "symlink")
            elif not info.isfile():
                continue
            elif code := ignored_code(info.name):
                yield Entry(name, IGNORED, code)
            else:
                walker.budget.take_bytes(info.size)
                yield from walker.offer(name, archive.extractfile(info), info.size, quiet_code(info.name), depth)


def single_compressed(walker, display: str, fp: BinaryIO, kind: str, depth: int) -> Iterator[Item | Entry]:
    """A gzip/bzip2/xz file that holds one file rather than a tar (e.g. IM1.dcm.gz)."""
    fp.seek(0)
    counted = Counted(fp, walker)
    with DECOMPRESSORS[kind](counted) as decompressed:
        unpacked = Unpacked(decompressed, walker.budget)
        counted.unpacked = lambda: unpacked.count
        inner = display.rsplit("/", 1)[-1]
        stem = inner.rsplit(".", 1)[0] if "." in inner else inner
        yield from walker.offer(f"{display}/{stem}", unpacked, None, quiet_code(display), depth)
