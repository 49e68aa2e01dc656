"""What kind of container a file is, by its first bytes, never by its extension."""
from __future__ import annotations

import os
import re
from pathlib import Path

from rules.filekinds import kind_of

PEEK = 0x8006 + 10  # enough of a member's head to tell an ISO (CD001 at 0x8001) from the rest
SNIFF = 512  # enough of a file's head for every other container kind

# Container kinds as `container_kind` names them, and the batch kind each becomes.
BATCH_KINDS = {"zip": "zip", "iso": "iso", "7z": "stream", "tar": "stream", "gz": "stream", "bz2": "stream", "xz": "stream"}
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
MAGICS = ((b"7z\xbc\xaf\x27\x1c", "7z"), (b"\x1f\x8b\x08", "gz"), (b"\xfd7zXZ\x00", "xz"))
BZIP2 = re.compile(rb"BZh[1-9](1AY&SY|\x17rE8P\x90)")


def container_kind(head: bytes, iso_magic: bytes = b"") -> str:
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


def sniff_path(path: str | Path) -> str:
    """The container kind of the file at `path` ("" for anything else): run on every file of a folder, so lean."""
    fd = os.open(path, os.O_RDONLY)
    try:
        head = os.read(fd, SNIFF)
        # A disc's magic lies 32 KB in; a file that says DICM at 128 is a DICOM file, not a disc, and is not asked.
        iso_magic = os.pread(fd, 5, 0x8001) if len(head) == SNIFF and head[128:132] != b"DICM" else b""
    finally:
        os.close(fd)
    return container_kind(head, iso_magic)
