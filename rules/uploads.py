"""What a patient uploaded, turned into batches of files a worker can read one by one.

An upload is a list of paths: files, folders, archives (.zip, .7z, .tar and
compressed tars) and ISO 9660 disc images, with archives inside archives one
level deep. `plan()` looks at the paths (folder listings, archive directories,
disc trees) without reading any image, and returns picklable `Batch`es plus an
`Entry` for every problem or ignored file. `walk()` opens one batch in a worker
and yields one `Item` (a readable stream) per member, or an `Entry` when a
member cannot be had. Whether an item is DICOM is decided later by the reader.

Safety, because an upload is untrusted input:
- nothing is extracted to a path built from a member's name: members are read
  as streams; a nested archive is spooled to an anonymous temporary file;
- symlinks are never followed (folders, zip, tar, 7z, Rock Ridge) and reported;
- member names that are absolute, carry a drive letter or a `..` are reported
  as unsafe and never read;
- archive bombs are stopped by the declared and the actually read sizes
  (`Limits`), and by the number of files;
- executables, viewers and autorun files are listed as ignored, never read or run.

Archive types are recognised by their first bytes, never by the extension.
"""
from __future__ import annotations

import bz2
import gzip
import io
import logging
import lzma
import os
import queue
import re
import stat
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import py7zr
import py7zr.exceptions
import py7zr.io
import pycdlib

from rules.filekinds import kind_of

log = logging.getLogger(__name__)

UNREADABLE, IGNORED = "unreadable", "ignored"
PEEK = 0x8006 + 10  # enough of a member's head to tell an ISO (CD001 at 0x8001) from the rest
SNIFF = 512  # enough of a file's head for every other container kind
COMPRESSED_TAR_ESTIMATE = 256 * 1024  # bytes of a compressed tar per member, for the progress bar only
CHUNK = 1 << 20

# Container kinds as `_container_kind` names them, and the batch kind each becomes.
BATCH_KINDS = {"zip": "zip", "iso": "iso", "7z": "stream", "tar": "stream", "gz": "stream", "bz2": "stream", "xz": "stream"}

SYSTEM_NAMES = frozenset({".ds_store", "thumbs.db", "ehthumbs.db", "desktop.ini", ".directory", "icon\r"})
SYSTEM_FOLDERS = frozenset({"__macosx", ".spotlight-v100", ".trashes", ".fseventsd", "$recycle.bin", "system volume information"})
VIEWER_EXTENSIONS = frozenset(
    ".exe .dll .msi .ocx .cab .sys .so .dylib .jar .bat .cmd .com .scr .vbs .ps1 .sh .pif .cpl .drv .msp".split()
)
VIEWER_FOLDERS = frozenset({"program", "programs", "bin", "jre", "lib", "jvm", "java"})
VIEWER_BRANDS = ("viewer", "radiant", "osirix", "horos", "microdicom", "efilm", "synapse", "k-pacs", "kpacs", "weasis", "vuemotion", "ezdicom", "sante")
DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
MAGICS = ((b"7z\xbc\xaf\x27\x1c", "7z"), (b"\x1f\x8b\x08", "gz"), (b"\xfd7zXZ\x00", "xz"))
BZIP2 = re.compile(rb"BZh[1-9](1AY&SY|\x17rE8P\x90)")
DECOMPRESSORS = {"gz": lambda fp: gzip.GzipFile(fileobj=fp), "bz2": bz2.BZ2File, "xz": lzma.LZMAFile}


@dataclass(frozen=True)
class Limits:
    max_total_bytes: int = 16 * 1024**3  # uncompressed bytes per top-level upload path (archive bomb limit)
    max_ratio: float = 100.0  # uncompressed/compressed ratio of an archive ...
    ratio_floor_bytes: int = 64 * 1024**2  # ... only enforced once its uncompressed size exceeds this
    max_files: int = 200_000  # members/files per top-level upload path; the rest are skipped (a real disc holds < 50,000)
    max_depth: int = 1  # archives inside archives: one level


@dataclass(frozen=True)
class Entry:
    """A problem or an ignored file, shown to the patient."""

    name: str
    status: str  # "unreadable" | "ignored"
    code: str
    limit: int | float | None = None


@dataclass(frozen=True)
class Batch:
    """Members a worker opens on its own (picklable).

    For "files" batches `container` is the folder the display names are relative
    to ("" when the batch is one loose file, shown under `display`).
    """

    kind: str  # "files" | "zip" | "iso" | "stream"
    container: str
    display: str
    members: tuple[str, ...]
    quiet: tuple[str, ...] = ()


@dataclass
class Plan:
    batches: list[Batch] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    total_members: int = 0


@dataclass
class Item:
    name: str
    size: int | None
    stream: BinaryIO  # positioned at 0; valid only until the iteration advances
    quiet: str = ""


# --------------------------------------------------------------------------- names


def _parts(name: str) -> list[str]:
    return [part for part in name.replace("\\", "/").split("/") if part]


def is_unsafe(name: str) -> bool:
    """Absolute, with a drive letter, or climbing out with `..`."""
    posix = name.replace("\\", "/")
    return posix.startswith("/") or bool(DRIVE_LETTER.match(posix)) or ".." in posix.split("/")


def ignored_code(name: str) -> str:
    """"system", "autorun" or "viewer" for files listed without being read; "" otherwise."""
    parts = [part.lower() for part in _parts(name)]
    if not parts:
        return ""
    base, folders = parts[-1], parts[:-1]
    if base in SYSTEM_NAMES or base.startswith("._") or SYSTEM_FOLDERS.intersection(folders):
        return "system"
    if base == "autorun" or base.startswith("autorun."):
        return "autorun"
    if os.path.splitext(base)[1] in VIEWER_EXTENSIONS or any(folder.endswith(".app") for folder in folders):
        return "viewer"
    return ""


def quiet_code(name: str) -> str:
    """"viewer" for files in a viewer's folder: counted if DICOM, else listed as ignored."""
    for folder in (part.lower() for part in _parts(name)[:-1]):
        if folder in VIEWER_FOLDERS or any(brand in folder for brand in VIEWER_BRANDS):
            return "viewer"
    return ""


def _container_kind(head: bytes, iso_magic: bytes = b"") -> str:
    """zip, iso, 7z, tar, gz, bz2 or xz when `head` starts a container; "" otherwise.

    Plain magic-byte checks: this runs once per file of an upload, and most files are DICOM.
    """
    if iso_magic == b"CD001" or head[0x8001:0x8006] == b"CD001":
        return "iso"
    if head[:4] in ZIP_MAGICS:
        return "zip" if kind_of(head[:SNIFF]) == "zip" else ""  # a .docx is a zip, but a document
    for magic, kind in MAGICS:
        if head.startswith(magic):
            return kind
    if BZIP2.match(head):
        return "bz2"
    if head[257:262] == b"ustar":
        return "tar"
    return ""


def _sniff_path(path: str | Path) -> str:
    with open(path, "rb", buffering=0) as fp:
        head = fp.read(SNIFF)
        iso_magic = b""
        if len(head) == SNIFF:
            fp.seek(0x8001)
            iso_magic = fp.read(5)
    return _container_kind(head, iso_magic)


# --------------------------------------------------------------------------- limits


class _LimitHit(Exception):
    def __init__(self, code: str, limit: int | float):
        super().__init__(code)
        self.code, self.limit = code, limit


class _Budget:
    """Bytes and files one batch has taken so far; raises `_LimitHit` past a limit."""

    def __init__(self, limits: Limits):
        self.limits, self.bytes, self.files = limits, 0, 0

    @property
    def room(self) -> int:
        return self.limits.max_total_bytes - self.bytes

    def take_bytes(self, count: int) -> None:
        self.bytes += count
        if self.bytes > self.limits.max_total_bytes:
            raise _LimitHit("archive_too_large", self.limits.max_total_bytes)

    def take_file(self) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise _LimitHit("too_many_files", self.limits.max_files)


def _size_problem(display: str, unpacked: int, packed: int, limits: Limits, room: int) -> Entry | None:
    """archive_too_large or archive_ratio from an archive's declared sizes."""
    if unpacked > room:
        return Entry(display, UNREADABLE, "archive_too_large", limits.max_total_bytes)
    if unpacked > limits.ratio_floor_bytes and unpacked > limits.max_ratio * max(packed, 1):
        return Entry(display, UNREADABLE, "archive_ratio", limits.max_ratio)
    return None


# --------------------------------------------------------------------------- surveys


@dataclass
class _Survey:
    """The members of a zip or disc worth reading, and what was left out."""

    members: list[str] = field(default_factory=list)
    quiet: list[str] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)


def _survey_zip(zf: zipfile.ZipFile, display: str, limits: Limits, room: int, files_left: int) -> _Survey:
    survey = _Survey()
    infos = [info for info in zf.infolist() if not info.is_dir()]
    unpacked = sum(info.file_size for info in infos)
    packed = sum(info.compress_size for info in infos)
    problem = _size_problem(display, unpacked, packed, limits, room)
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


def _iso_namespace(iso: pycdlib.PyCdlib) -> str:
    """Rock Ridge names when present, then Joliet, then plain ISO 9660."""
    if iso.has_rock_ridge():
        return "rr_path"
    if iso.has_joliet():
        return "joliet_path"
    return "iso_path"


def _iso_shown(namespace: str, path: str) -> str:
    """A disc path as the patient sees it: no leading slash, no ";1" version."""
    parts = _parts(path)
    if namespace == "iso_path":
        parts = [part.split(";")[0].rstrip(".") or part for part in parts]
    return "/".join(parts)


def _iso_files(iso: pycdlib.PyCdlib, namespace: str) -> Iterator[str]:
    for top, folders, files in iso.walk(**{namespace: "/"}):
        folders.sort(reverse=True)  # walk() takes them from the front in reverse: sorted order
        for name in sorted(files):
            yield f"{top.rstrip('/')}/{name}"


def _survey_iso(iso: pycdlib.PyCdlib, display: str, limits: Limits, room: int, files_left: int, packed: int) -> _Survey:
    survey = _Survey()
    namespace = _iso_namespace(iso)
    unpacked = 0
    for path in _iso_files(iso, namespace):
        shown = _iso_shown(namespace, path)
        name = f"{display}/{shown}"
        record = iso.get_record(**{namespace: path})
        if namespace == "rr_path" and record.rock_ridge is not None and record.rock_ridge.is_symlink():
            survey.entries.append(Entry(name, UNREADABLE, "symlink"))
        elif code := ignored_code(shown):
            survey.entries.append(Entry(name, IGNORED, code))
        elif len(survey.members) >= files_left:
            survey.entries.append(Entry(display, UNREADABLE, "too_many_files", limits.max_files))
            break
        else:
            unpacked += record.get_data_length()
            survey.members.append(path)
            survey.quiet.append(quiet_code(shown))
    problem = _size_problem(display, unpacked, packed, limits, room)  # overlapping extents make disc bombs
    if problem:
        return _Survey(entries=[problem])
    return survey


# --------------------------------------------------------------------------- plan


def plan(paths: list[Path | str], limits: Limits = Limits(), names: dict[str, str] | None = None) -> Plan:
    """Batches and problem entries for everything under `paths`; reads no image.

    `names` maps a path to the name the patient gave it (stored uploads have generated names on disk)."""
    result = Plan()
    names = names or {}
    for raw in paths:
        path = Path(raw)
        display = names.get(str(raw)) or path.name or str(path)
        try:
            _plan_path(path, display, limits, result)
        except Exception as exc:  # logged without the path: it may name the patient
            log.warning("an upload path could not be planned: %s", type(exc).__name__)
            log.debug("planning failed", exc_info=True)
            result.entries.append(Entry(display, UNREADABLE, "read_error"))
    return result


def _plan_path(path: Path, display: str, limits: Limits, result: Plan) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        result.entries.append(Entry(display, UNREADABLE, "not_found"))
        return
    if stat.S_ISLNK(info.st_mode):
        result.entries.append(Entry(display, UNREADABLE, "symlink"))
    elif stat.S_ISDIR(info.st_mode):
        _plan_folder(path, display, limits, result)
    elif not stat.S_ISREG(info.st_mode):
        result.entries.append(Entry(display, UNREADABLE, "read_error"))
    elif code := ignored_code(display):
        result.entries.append(Entry(display, IGNORED, code))
    elif kind := _sniff_path(path):
        _plan_container(str(path), display, kind, limits, result, limits.max_files)
    else:
        result.batches.append(Batch("files", "", display, (str(path),), (quiet_code(display),)))
        result.total_members += 1


def _scan(folder: str, relative: str = "") -> Iterator[tuple[str, os.DirEntry | None]]:
    """Every entry below `folder`, sorted, depth first, never through a symlink.

    A subfolder that cannot be listed comes out as (its name, None).
    """
    try:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError:
        if not relative:
            raise
        yield relative.rstrip("/"), None
        return
    for entry in entries:
        name = f"{relative}{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            yield from _scan(entry.path, f"{name}/")
        else:
            yield name, entry


def _plan_folder(root: Path, display: str, limits: Limits, result: Plan) -> None:
    files: list[str] = []
    quiet: list[str] = []
    seen = 0
    for relative, entry in _scan(str(root)):
        name = f"{display}/{relative}"
        if seen >= limits.max_files:
            result.entries.append(Entry(display, UNREADABLE, "too_many_files", limits.max_files))
            break
        seen += 1
        if entry is None:
            result.entries.append(Entry(name, UNREADABLE, "read_error"))
        elif entry.is_symlink():
            result.entries.append(Entry(name, UNREADABLE, "symlink"))
        elif not entry.is_file(follow_symlinks=False):
            continue  # sockets, fifos, devices: nothing a scan is made of
        elif code := ignored_code(relative):
            result.entries.append(Entry(name, IGNORED, code))
        elif kind := _sniff_or_none(entry.path):
            seen += _plan_container(entry.path, name, kind, limits, result, limits.max_files - seen) - 1
        else:
            files.append(entry.path)
            quiet.append(quiet_code(relative))
    if files:
        result.batches.append(Batch("files", str(root), display, tuple(files), tuple(quiet)))
        result.total_members += len(files)


def _sniff_or_none(path: str) -> str:
    try:
        return _sniff_path(path)
    except OSError:
        return ""  # the walk reports it as read_error


def _plan_container(path: str, display: str, kind: str, limits: Limits, result: Plan, files_left: int) -> int:
    """Plan one archive or disc; returns how many members it will yield (estimated for streams)."""
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as zf:
                survey = _survey_zip(zf, display, limits, limits.max_total_bytes, files_left)
        elif kind == "iso":
            survey = _plan_iso(path, display, limits, files_left)
        elif kind == "7z":
            return _plan_7z(path, display, limits, result, files_left)
        else:
            count = min(files_left, _estimate_tar(path, kind))
            result.batches.append(Batch("stream", path, display, ()))
            result.total_members += count
            return count
    except Exception:
        log.info("an archive could not be opened", exc_info=log.isEnabledFor(logging.DEBUG))
        result.entries.append(Entry(display, UNREADABLE, "corrupt_archive"))
        return 1
    result.entries.extend(survey.entries)
    if survey.members:
        result.batches.append(Batch(BATCH_KINDS[kind], path, display, tuple(survey.members), tuple(survey.quiet)))
        result.total_members += len(survey.members)
    return max(1, len(survey.members))


def _plan_iso(path: str, display: str, limits: Limits, files_left: int) -> _Survey:
    iso = pycdlib.PyCdlib()
    iso.open(path)
    try:
        return _survey_iso(iso, display, limits, limits.max_total_bytes, files_left, os.path.getsize(path))
    finally:
        iso.close()


def _plan_7z(path: str, display: str, limits: Limits, result: Plan, files_left: int) -> int:
    try:
        with py7zr.SevenZipFile(path) as archive:
            locked = archive.needs_password()
            infos = [] if locked else [info for info in archive.list() if not info.is_directory]
    except py7zr.exceptions.PasswordRequired:
        locked = True
    if locked:
        result.entries.append(Entry(display, UNREADABLE, "password_protected"))
        return 1
    problem = _size_problem(display, sum(info.uncompressed for info in infos), os.path.getsize(path), limits, limits.max_total_bytes)
    if problem:
        result.entries.append(problem)
        return 1
    result.batches.append(Batch("stream", path, display, ()))
    count = min(files_left, len(infos))
    result.total_members += count
    return max(1, count)


def _estimate_tar(path: str, kind: str) -> int:
    """Members of a tar for the progress bar: counted when plain, guessed from the size when compressed."""
    if kind != "tar":
        return max(1, os.path.getsize(path) // COMPRESSED_TAR_ESTIMATE)
    try:
        with tarfile.open(path, "r:") as tar:
            return sum(1 for info in tar if info.isfile())
    except Exception:
        return 1


def split(batch: Batch, parts: int) -> list[Batch]:
    """Up to `parts` contiguous chunks of a files/zip/iso batch; a stream batch stays whole."""
    count = len(batch.members)
    if batch.kind == "stream" or parts <= 1 or count <= 1:
        return [batch]
    parts = min(parts, count)
    size, extra = divmod(count, parts)
    chunks, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        quiet = batch.quiet[start:end] if batch.quiet else ()
        chunks.append(replace(batch, members=batch.members[start:end], quiet=quiet))
        start = end
    return chunks


# --------------------------------------------------------------------------- walk


def walk(batch: Batch, limits: Limits = Limits(), scratch: Path | None = None) -> Iterator[Item | Entry]:
    """Open one batch and yield its members in order; never raises on bad input."""
    walker = _Walker(limits, scratch)
    try:
        yield from walker.batch(batch)
    except _LimitHit as hit:
        yield Entry(batch.display, UNREADABLE, hit.code, hit.limit)
    except Exception:
        log.info("a batch stopped early", exc_info=log.isEnabledFor(logging.DEBUG))
        yield Entry(batch.display, UNREADABLE, "read_error" if batch.kind == "files" else "corrupt_archive")


class _Replay(io.RawIOBase):
    """A member's stream that first replays the bytes already peeked, then reads on.

    Errors of the decompressor underneath come out as OSError, which a reader expects.
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
        except OSError:
            raise
        except Exception as exc:
            raise OSError(f"member cannot be read: {type(exc).__name__}") from exc


def _read_head(stream: BinaryIO) -> bytes:
    """The first bytes of a member: 132 when it says DICM, else up to PEEK."""
    head = _read_up_to(stream, 132, b"")
    if len(head) < 132 or head[128:132] == b"DICM":
        return head
    return _read_up_to(stream, PEEK, head)


def _read_up_to(stream: BinaryIO, size: int, head: bytes) -> bytes:
    while len(head) < size:
        chunk = stream.read(size - len(head))
        if not chunk:
            break
        head += chunk
    return head


class _Walker:
    """Reads one batch; nested containers are expanded here, one level deep."""

    def __init__(self, limits: Limits, scratch: Path | None):
        self.limits, self.scratch = limits, scratch
        self.budget = _Budget(limits)

    def batch(self, batch: Batch) -> Iterator[Item | Entry]:
        quiet = batch.quiet or ("",) * len(batch.members)
        if batch.kind == "files":
            yield from self.files(batch, quiet)
        elif batch.kind == "zip":
            with zipfile.ZipFile(batch.container) as zf:
                yield from self.zip_members(zf, batch.display, batch.members, quiet, depth=0)
        elif batch.kind == "iso":
            iso = pycdlib.PyCdlib()
            iso.open(batch.container)
            try:
                yield from self.iso_members(iso, batch.display, batch.members, quiet, depth=0)
            finally:
                iso.close()
        elif batch.kind == "stream":
            with open(batch.container, "rb") as fp:
                kind = _container_kind(_read_up_to(fp, SNIFF, b""))
                fp.seek(0)
                yield from self.stream(batch.display, fp, kind, depth=0)
        else:
            raise ValueError(f"unknown batch kind {batch.kind!r}")

    # ---- containers

    def files(self, batch: Batch, quiet: tuple[str, ...]) -> Iterator[Item | Entry]:
        for path, quiet_as in zip(batch.members, quiet):
            if batch.container:
                name = f"{batch.display}/{Path(os.path.relpath(path, batch.container)).as_posix()}"
            else:
                name = batch.display or Path(path).name
            try:
                fp = os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb")
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

    def zip_members(self, zf: zipfile.ZipFile, display: str, members, quiet, depth: int) -> Iterator[Item | Entry]:
        for member, quiet_as in zip(members, quiet):
            name = f"{display}/{member}"
            try:
                stream = zf.open(member)
                size = zf.getinfo(member).file_size
            except Exception:
                yield Entry(name, UNREADABLE, "corrupt_archive")
                continue
            with stream:
                yield from self.offer(name, stream, size, quiet_as, depth)

    def iso_members(self, iso: pycdlib.PyCdlib, display: str, members, quiet, depth: int) -> Iterator[Item | Entry]:
        namespace = _iso_namespace(iso)
        for path, quiet_as in zip(members, quiet):
            name = f"{display}/{_iso_shown(namespace, path)}"
            try:
                size = iso.get_record(**{namespace: path}).get_data_length()
                stream = iso.open_file_from_iso(**{namespace: path}) if size else io.BytesIO()
            except Exception:
                yield Entry(name, UNREADABLE, "read_error")
                continue
            with stream:
                yield from self.offer(name, stream, size, quiet_as, depth)

    def stream(self, display: str, fp: BinaryIO, kind: str, depth: int) -> Iterator[Item | Entry]:
        """A tar (maybe compressed) or a 7z, read strictly in order."""
        try:
            if kind == "7z":
                yield from self.seven_zip(display, fp, depth)
            else:
                yield from self.tar(display, fp, kind, depth)
        except _LimitHit:
            raise
        except py7zr.exceptions.PasswordRequired:
            yield Entry(display, UNREADABLE, "password_protected")
        except py7zr.exceptions.DecompressionBombError:
            yield Entry(display, UNREADABLE, "archive_too_large", self.limits.max_total_bytes)
        except Exception:
            log.info("a stream archive stopped early", exc_info=log.isEnabledFor(logging.DEBUG))
            yield Entry(display, UNREADABLE, "corrupt_archive")

    def tar(self, display: str, fp: BinaryIO, kind: str, depth: int) -> Iterator[Item | Entry]:
        counted = _Counted(fp, self)
        try:
            archive = tarfile.open(fileobj=counted, mode="r|*")
        except tarfile.ReadError:
            if kind in ("gz", "bz2", "xz"):  # one compressed file, not a tar
                yield from self.single_compressed(display, fp, kind, depth)
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
                    self.budget.take_bytes(info.size)
                    yield from self.offer(name, archive.extractfile(info), info.size, quiet_code(info.name), depth)

    def single_compressed(self, display: str, fp: BinaryIO, kind: str, depth: int) -> Iterator[Item | Entry]:
        """A gzip/bzip2/xz file that holds one file rather than a tar (e.g. IM1.dcm.gz)."""
        fp.seek(0)
        counted = _Counted(fp, self)
        with DECOMPRESSORS[kind](counted) as decompressed:
            unpacked = _Unpacked(decompressed, self.budget)
            counted.unpacked = lambda: unpacked.count
            inner = display.rsplit("/", 1)[-1]
            stem = inner.rsplit(".", 1)[0] if "." in inner else inner
            yield from self.offer(f"{display}/{stem}", unpacked, None, quiet_code(display), depth)

    def seven_zip(self, display: str, fp: BinaryIO, depth: int) -> Iterator[Item | Entry]:
        with py7zr.SevenZipFile(fp, max_extract_size=self.budget.room) as archive:
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
                yield from self.seven_zip_members(archive, display, targets, depth)

    def seven_zip_members(self, archive, display: str, targets: list[str], depth: int) -> Iterator[Item | Entry]:
        """py7zr pushes members to a writer; a thread hands them over here one at a time."""
        handoff = _Handoff(self)
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
                        yield from self.offer(f"{display}/{member}", member_file, size, quiet_code(member), depth, seekable=True)
                finally:
                    handoff.taken.release()
        finally:
            handoff.stop()
            worker.join()
            handoff.drain()

    # ---- one member

    def offer(self, name: str, stream: BinaryIO, size: int | None, quiet: str, depth: int, seekable: bool = False) -> Iterator[Item | Entry]:
        """Yield a member as an Item, or expand it when it is itself an archive or disc."""
        try:
            head = _read_head(stream)
        except _LimitHit:
            raise
        except Exception:
            yield Entry(name, UNREADABLE, "corrupt_archive")
            return
        kind = _container_kind(head)
        if not kind:
            self.budget.take_file()
            if seekable:
                stream.seek(0)
                yield Item(name, size, stream, quiet)
            else:
                yield Item(name, size, _Replay(head, stream), quiet)
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
                survey = _survey_zip(container, name, self.limits, self.budget.room, files_left)
            else:
                container = pycdlib.PyCdlib()
                container.open_fp(fp)
                packed = fp.seek(0, io.SEEK_END)
                survey = _survey_iso(container, name, self.limits, self.budget.room, files_left, packed)
        except Exception:
            yield Entry(name, UNREADABLE, "corrupt_archive")
            return
        try:
            yield from survey.entries
            if kind == "zip":
                yield from self.zip_members(container, name, survey.members, survey.quiet, depth)
            else:
                yield from self.iso_members(container, name, survey.members, survey.quiet, depth)
        finally:
            container.close()


# --------------------------------------------------------------------------- stream helpers


class _Counted(io.RawIOBase):
    """The compressed side of a stream archive: counts bytes read and checks the ratio on the way."""

    def __init__(self, fp: BinaryIO, walker: _Walker):
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
            raise _LimitHit("archive_ratio", limits.max_ratio)

    def readinto(self, buffer) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


class _Unpacked(io.RawIOBase):
    """The decompressed side of one compressed file: counts bytes against the budget."""

    def __init__(self, stream: BinaryIO, budget: _Budget):
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


class _Stopped(Exception):
    """The walk was abandoned; the 7z writer thread unwinds."""


class _Handoff(py7zr.io.WriterFactory):
    """Members py7zr writes, handed to the walk one at a time (the writer waits until it is read)."""

    def __init__(self, walker: _Walker):
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
