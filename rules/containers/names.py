"""Member names: unsafe ones (never read), ignored ones (listed, never read) and a viewer's files."""
from __future__ import annotations

import functools
import os
import re

SYSTEM_NAMES = frozenset({".ds_store", "thumbs.db", "ehthumbs.db", "desktop.ini", ".directory", "icon\r"})
SYSTEM_FOLDERS = frozenset({"__macosx", ".spotlight-v100", ".trashes", ".fseventsd", "$recycle.bin", "system volume information"})
VIEWER_EXTENSIONS = frozenset(
    ".exe .dll .msi .ocx .cab .sys .so .dylib .jar .bat .cmd .com .scr .vbs .ps1 .sh .pif .cpl .drv .msp".split()
)
VIEWER_FOLDERS = frozenset({"program", "programs", "bin", "jre", "lib", "jvm", "java"})
VIEWER_BRANDS = ("viewer", "radiant", "osirix", "horos", "microdicom", "efilm", "synapse", "k-pacs", "kpacs", "weasis", "vuemotion", "ezdicom", "sante")
DRIVE_LETTER = re.compile(r"^[A-Za-z]:")


def name_parts(name: str) -> list[str]:
    return [part for part in name.replace("\\", "/").split("/") if part]


def is_unsafe(name: str) -> bool:
    """Absolute, with a drive letter, or climbing out with `..`."""
    posix = name.replace("\\", "/")
    return posix.startswith("/") or bool(DRIVE_LETTER.match(posix)) or ".." in posix.split("/")


def ignored_code(name: str) -> str:
    """"system", "autorun" or "viewer" for files listed without being read; "" otherwise."""
    parts = [part.lower() for part in name_parts(name)]
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
    folders = name_parts(name)[:-1]
    return _quiet_folders(tuple(folders)) if folders else ""


@functools.lru_cache(maxsize=1024)
def _quiet_folders(folders: tuple[str, ...]) -> str:
    """quiet_code for the folders a name is in: the same for every file of a folder, so worked out once."""
    for folder in (part.lower() for part in folders):
        if folder in VIEWER_FOLDERS or any(brand in folder for brand in VIEWER_BRANDS):
            return "viewer"
    return ""
