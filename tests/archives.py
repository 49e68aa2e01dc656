"""Builds archives and disc images for upload tests (everything in a test's tmp_path)."""
from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import py7zr
import pycdlib

from tests.factory import make_dataset, write


def dicom_bytes(tmp_path: Path, modality: str = "CT", **tags) -> bytes:
    """One small DICOM image as bytes."""
    path = write(make_dataset(modality, **tags), tmp_path / "_dicom_bytes.tmp")
    data = path.read_bytes()
    path.unlink()
    return data


def make_zip(path: Path, members: dict[str, bytes], *, encrypted: tuple[str, ...] = (), symlinks: dict[str, str] | None = None,
             stored: bool = False) -> Path:
    """A zip of `members` (deflated unless `stored`); names in `encrypted` get the encryption flag (bit 0), as ZipCrypto
    members have."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    if encrypted:
        _flag_encrypted(path, set(encrypted))
    return path


def _flag_encrypted(path: Path, names: set[str]) -> None:
    """Set the 'encrypted' bit of members in both the local and the central headers
    (zipfile cannot write encrypted zips; readers decide by this bit)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        infos = [info for info in zf.infolist() if info.filename in names]
    for info in infos:
        data[info.header_offset + 6] |= 0x1  # local file header: general purpose flag at +6
    position = data.find(b"PK\x01\x02")
    while position != -1:  # central directory: flag at +8, name length at +28, name at +46
        length = int.from_bytes(data[position + 28 : position + 30], "little")
        if data[position + 46 : position + 46 + length].decode() in names:
            data[position + 8] |= 0x1
        position = data.find(b"PK\x01\x02", position + 46 + length)
    path.write_bytes(bytes(data))


def zip_of_zeros(path: Path, size: int, name: str = "zeros.bin") -> Path:
    """A zip bomb in miniature: one member of `size` zero bytes, written in chunks."""
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open(name, "w", force_zip64=True) as member:
            left = size
            while left > 0:
                member.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)
    return path


def make_tar(path: Path, members: dict[str, bytes], *, mode: str = "w", symlinks: dict[str, str] | None = None,
             hardlinks: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for kind, links in ((tarfile.SYMTYPE, symlinks), (tarfile.LNKTYPE, hardlinks)):
            for name, target in (links or {}).items():
                info = tarfile.TarInfo(name)
                info.type, info.linkname = kind, target
                tar.addfile(info)
    return path


def make_7z(path: Path, members: dict[str, bytes], *, password: str | None = None, encrypt_header: bool = False) -> Path:
    with py7zr.SevenZipFile(path, "w", password=password) as archive:
        if encrypt_header:
            archive.set_encrypted_header(True)
        for name, data in members.items():
            archive.writestr(data, name)
    return path


def make_iso(path: Path, members: dict[str, bytes], *, joliet: bool = True) -> Path:
    """A disc image; `members` maps "DIR/NAME" to bytes. ISO 9660 names are derived (upper case, 8.3)."""
    iso = pycdlib.PyCdlib()
    iso.new(joliet=3 if joliet else None, interchange_level=3 if not joliet else 1)
    made: set[str] = set()
    for name, data in members.items():
        parts = name.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder not in made:
                made.add(folder)
                kwargs = {"joliet_path": "/" + folder} if joliet else {}
                iso.add_directory("/" + _iso_name(folder, directory=True), **kwargs)
        kwargs = {"joliet_path": "/" + name} if joliet else {}
        iso.add_fp(io.BytesIO(data), len(data), "/" + _iso_name(name) + ";1", **kwargs)
    iso.write(str(path))
    iso.close()
    return path


def _iso_name(name: str, directory: bool = False) -> str:
    """ISO 9660 level 1 names: upper case, 8 characters (+ 3 for the extension)."""
    parts = name.upper().split("/")
    out = [part.replace("-", "_")[:8] for part in parts[:-1]]
    last = parts[-1].replace("-", "_")
    if directory:
        out.append(last[:8])
    else:
        stem, _, ext = last.partition(".")
        out.append(f"{stem[:8]}.{ext[:3]}")
    return "/".join(out)
