"""What a file that is not DICOM is, from its first bytes (and, for a few kinds, its name)."""
from __future__ import annotations

# filetype's names mapped to the kinds the report lists.
_KINDS = {
    "pdf": "pdf",
    "jpg": "jpeg",
    "jpx": "jpeg",
    "png": "png",
    "heic": "heic",
    "avif": "heic",
    "gif": "image",
    "bmp": "image",
    "tif": "image",
    "webp": "image",
    "docx": "docx",
    "doc": "docx",
    "odt": "docx",
    "rtf": "docx",
    "exe": "exe",
    "elf": "exe",
    "dmg": "exe",
    "zip": "zip",
    "7z": "7z",
    "tar": "tar",
    "gz": "gz",
    "mp4": "video",
    "mov": "video",
    "avi": "video",
}
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<?xml")


def kind_of(head: bytes, name: str = "") -> str:
    """One of pdf, jpeg, png, heic, image, docx, exe, html, video, zip, 7z, tar, gz, iso, text, other."""
    if len(head) > 0x8006 and head[0x8001:0x8006] == b"CD001":
        return "iso"
    import filetype  # here: most files are DICOM and never get this far

    guess = filetype.guess(head) if head else None
    if guess is not None:
        return _KINDS.get(guess.extension, "other")
    lowered = head[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if lowered.startswith(_HTML_STARTS):
        return "html"
    if name.lower().endswith((".exe", ".dll", ".msi", ".app", ".bat", ".cmd")):
        return "exe"
    if head and b"\x00" not in head[:4096]:
        try:
            head[:4096].decode("utf-8")
            return "text"
        except UnicodeDecodeError:
            pass
    return "other"
