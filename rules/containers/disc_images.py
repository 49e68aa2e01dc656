"""ISO 9660 disc images (Rock Ridge, Joliet): the tree surveyed when planning, files opened when walking."""
from __future__ import annotations

import io
import os
from collections.abc import Iterator

import pycdlib

from rules.containers.budget import Limits, size_problem
from rules.containers.members import IGNORED, UNREADABLE, Entry, Item, Survey
from rules.containers.names import name_parts, ignored_code, quiet_code


def iso_namespace(iso: pycdlib.PyCdlib) -> str:
    """Rock Ridge names when present, then Joliet, then plain ISO 9660."""
    if iso.has_rock_ridge():
        return "rr_path"
    if iso.has_joliet():
        return "joliet_path"
    return "iso_path"


def iso_shown(namespace: str, path: str) -> str:
    """A disc path as the patient sees it: no leading slash, no ";1" version."""
    parts = name_parts(path)
    if namespace == "iso_path":
        parts = [part.split(";")[0].rstrip(".") or part for part in parts]
    return "/".join(parts)


def iso_files(iso: pycdlib.PyCdlib, namespace: str) -> Iterator[str]:
    for top, folders, files in iso.walk(**{namespace: "/"}):
        folders.sort(reverse=True)  # walk() takes them from the front in reverse: sorted order
        for name in sorted(files):
            yield f"{top.rstrip('/')}/{name}"


def survey_iso(iso: pycdlib.PyCdlib, display: str, limits: Limits, room: int, files_left: int, packed: int) -> Survey:
    survey = Survey()
    namespace = iso_namespace(iso)
    unpacked = 0
    for path in iso_files(iso, namespace):
        shown = iso_shown(namespace, path)
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
    problem = size_problem(display, unpacked, packed, limits, room)  # overlapping extents make disc bombs
    if problem:
        return Survey(entries=[problem])
    return survey


def plan_iso(path: str, display: str, limits: Limits, files_left: int) -> Survey:
    iso = pycdlib.PyCdlib()
    iso.open(path)
    try:
        return survey_iso(iso, display, limits, limits.max_total_bytes, files_left, os.path.getsize(path))
    finally:
        iso.close()


def members(walker, iso: pycdlib.PyCdlib, display: str, members, quiet, depth: int) -> Iterator[Item | Entry]:
    namespace = iso_namespace(iso)
    for path, quiet_as in zip(members, quiet):
        name = f"{display}/{iso_shown(namespace, path)}"
        try:
            size = iso.get_record(**{namespace: path}).get_data_length()
            stream = iso.open_file_from_iso(**{namespace: path}) if size else io.BytesIO()
        except Exception:
            yield Entry(name, UNREADABLE, "read_error")
            continue
        with stream:
            yield from walker.offer(name, stream, size, quiet_as, depth)
