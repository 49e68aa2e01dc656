"""An upload's paths -> batches a worker reads and entries for problems and ignored files; reads no image."""
from __future__ import annotations

import logging
import os
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from rules.containers.budget import Limits
from rules.containers.kinds import BATCH_KINDS, sniff_path
from rules.containers.members import IGNORED, UNREADABLE, Batch, Entry, Plan
from rules.containers.names import ignored_code, quiet_code
from rules.containers.tar_archives import estimate_tar
from rules.containers.zip_archives import survey_zip

log = logging.getLogger(__name__)


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
    elif kind := sniff_path(path):
        _plan_container(str(path), display, kind, limits, result, limits.max_files)
    else:
        result.batches.append(Batch("files", "", display, (str(path),), (quiet_code(display),)))
        result.total_members += 1


def _scan(folder: str) -> Iterator[tuple[str, os.DirEntry | None]]:
    """Every entry below `folder`, sorted, depth first, never through a symlink.

    Walked with a stack of listings, not by recursion: an upload may nest folders a thousand deep.
    A subfolder that cannot be listed comes out as (its name, None).
    """
    listings = [(iter(_listing(folder)), "")]  # the folders being walked, innermost last
    while listings:
        entries, relative = listings[-1]
        entry = next(entries, None)
        if entry is None:
            listings.pop()
            continue
        name = f"{relative}{entry.name}"
        try:
            if not entry.is_dir(follow_symlinks=False):
                yield name, entry
                continue
            listings.append((iter(_listing(entry.path)), f"{name}/"))
        except OSError:
            yield name, None


def _listing(folder: str) -> list[os.DirEntry]:
    with os.scandir(folder) as listing:
        return sorted(listing, key=lambda entry: entry.name)


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
        try:
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
        except Exception as exc:  # this entry is listed; the rest of the folder is planned on
            log.info("a folder entry could not be planned: %s", type(exc).__name__)
            result.entries.append(Entry(name, UNREADABLE, "read_error"))
    if files:
        result.batches.append(Batch("files", str(root), display, tuple(files), tuple(quiet)))
        result.total_members += len(files)


def _sniff_or_none(path: str) -> str:
    try:
        return sniff_path(path)
    except OSError:
        return ""  # the walk reports it as read_error


def _plan_container(path: str, display: str, kind: str, limits: Limits, result: Plan, files_left: int) -> int:
    """Plan one archive or disc; returns how many members it will yield (estimated for streams)."""
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as zf:
                survey = survey_zip(zf, display, limits, limits.max_total_bytes, files_left)
        elif kind == "iso":
            from rules.containers.disc_images import plan_iso  # pycdlib: imported for discs only

            survey = plan_iso(path, display, limits, files_left)
        elif kind == "7z":
            from rules.containers.seven_zip import plan_7z  # py7zr: imported for 7z only

            return plan_7z(path, display, limits, result, files_left)
        else:
            count = min(files_left, estimate_tar(path, kind))
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
