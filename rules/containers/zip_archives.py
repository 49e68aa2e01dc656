"""Zip archives: the central directory surveyed when planning, members opened by name when walking."""
from __future__ import annotations

import os
import stat
import threading
import zipfile
from collections.abc import Iterator

from rules.containers.budget import Limits, size_problem
from rules.containers.members import IGNORED, UNREADABLE, Entry, Item, Survey
from rules.containers.names import ignored_code, is_unsafe, quiet_code
from rules.containers.zip_streams import archive_fd, open_member


def survey_zip(zf: zipfile.ZipFile, display: str, limits: Limits, room: int, files_left: int) -> Survey:
    survey = Survey()
    infos = [info for info in zf.infolist() if not info.is_dir()]
    unpacked = sum(info.file_size for info in infos)
    packed = sum(info.compress_size for info in infos)
    problem = size_problem(display, unpacked, packed, limits, room)
    if problem:
        survey.entries.append(problem)
        return survey
    encrypted = False
    for info in infos:
        name = f"{display}/{info.filename}"
        if is_unsafe(info.filename):
            survey.entries.append(Entry(name, UNREADABLE, "unsafe_path"))
        elif stat.S_ISLNK(info.external_attr >> 16):
            survey.entries.append(Entry(name, UNREADABLE, "symlink"))
        elif info.flag_bits & 1:
            encrypted = True
        elif code := ignored_code(info.filename):
            survey.entries.append(Entry(name, IGNORED, code))
        elif len(survey.members) >= files_left:
            survey.entries.append(Entry(display, UNREADABLE, "too_many_files", limits.max_files))
            break
        else:
            survey.members.append(info.filename)
            survey.quiet.append(quiet_code(info.filename))
    if encrypted:
        survey.entries.insert(0, Entry(display, UNREADABLE, "password_protected"))
    return survey


def members(walker, zf: zipfile.ZipFile, display: str, members, quiet, depth: int) -> Iterator[Item | Entry]:
    fd = archive_fd(zf)
    for member, quiet_as in zip(members, quiet):
        name = f"{display}/{member}"
        try:
            info = zf.getinfo(member)
            stream = open_member(fd, info, zf.metadata_encoding) if fd is not None else None  # read straight from the file
            direct = stream is not None
            if not direct:
                stream = zf.open(member)
            size = info.file_size
        except Exception:
            yield Entry(name, UNREADABLE, "corrupt_archive")
            continue
        with stream:
            yield from walker.offer(name, stream, size, quiet_as, depth, rewind=direct)


# The archive a thread read last, with its central directory: a large zip is read as several batches
# in turn by each worker, and reading a directory of thousands of members costs more than their headers.
# Per thread (a server checks several uploads at once in threads), and per process (a forked child opens its own).
_kept = threading.local()


def opened(path: str) -> zipfile.ZipFile:
    """The zip at `path`, opened once per thread for all its batches (until `release()` or another zip)."""
    info = os.stat(path)
    key = (os.getpid(), path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
    kept = getattr(_kept, "zip", None)
    if kept is not None and kept[0] == key:
        return kept[1]
    release()
    zf = zipfile.ZipFile(path)
    _kept.zip = (key, zf)
    return zf


def release() -> None:
    """Close the zip `opened` kept for this thread."""
    kept = getattr(_kept, "zip", None)
    _kept.zip = None
    if kept is not None and kept[0][0] == os.getpid():
        kept[1].close()
