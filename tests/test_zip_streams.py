"""Zip members read straight from the archive's file give the bytes zipfile gives, and fail where it fails."""
from __future__ import annotations

import io
import random
import zipfile

import pytest

from rules.containers.zip_streams import MemberStream, archive_fd, open_member

CONTENTS = {
    "empty": b"",
    "tiny": b"DICM",
    "text": b"0123456789abcdef" * 5000,
    "noise": random.Random(7).randbytes(300_000),  # incompressible, longer than what is kept from the start
    "mixed": b"\x00" * 50_000 + random.Random(8).randbytes(40_000) + b"\x00" * 50_000,
}


@pytest.fixture(params=[zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"])
def archive(request, tmp_path):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", request.param) as zf:
        for name, data in CONTENTS.items():
            zf.writestr(name, data)
    with zipfile.ZipFile(path) as zf:
        yield zf


def _stream(zf: zipfile.ZipFile, name: str) -> MemberStream:
    stream = open_member(archive_fd(zf), zf.getinfo(name))
    assert isinstance(stream, MemberStream)
    return stream


@pytest.mark.parametrize("name", CONTENTS)
def test_reads_of_any_size_give_the_members_bytes(archive, name):
    rng = random.Random(name)
    stream, out = _stream(archive, name), []
    while chunk := stream.read(rng.choice([1, 132, 4000, 20_000, 70_000])):
        out.append(chunk)
    assert b"".join(out) == CONTENTS[name]
    assert stream.read(10) == b""


@pytest.mark.parametrize("name", ["text", "noise", "mixed"])
def test_seeks_forward_and_back_land_where_zipfile_lands(archive, name):
    rng = random.Random(name)
    ours, theirs = _stream(archive, name), archive.open(name)
    for _ in range(60):
        if rng.random() < 0.4:
            offset, whence = rng.choice([(rng.randrange(len(CONTENTS[name])), io.SEEK_SET), (rng.randrange(5000), io.SEEK_CUR), (0, io.SEEK_SET)])
            assert ours.seek(offset, whence) == theirs.seek(offset, whence)
        size = rng.choice([1, 100, 5000, 40_000])
        assert ours.read(size) == theirs.read(size)
        assert ours.tell() == theirs.tell()


def test_a_member_whose_bytes_do_not_match_its_crc_fails_at_its_end(tmp_path):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("IM1", b"A" * 1000)
    data = bytearray(path.read_bytes())
    data[data.index(b"A" * 1000) + 500] = ord("B")
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as zf:
        stream = _stream(zf, "IM1")
        assert stream.read(400) == b"A" * 400  # as zipfile: nothing is known until the end
        with pytest.raises(OSError):
            stream.read(1000)
        with pytest.raises(zipfile.BadZipFile):
            zf.open("IM1").read()


def test_a_local_header_that_names_another_file_is_refused(tmp_path):
    path = tmp_path / "renamed.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("IM1", b"x" * 100)
    data = bytearray(path.read_bytes())
    data[30:33] = b"IM2"  # the local header's name; the central directory still says IM1
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as zf:
        with pytest.raises(OSError):
            _stream(zf, "IM1")
        with pytest.raises(zipfile.BadZipFile):
            zf.open("IM1")


def test_members_zipfile_must_open_are_left_to_it(tmp_path):
    path = tmp_path / "lzma.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_LZMA) as zf:
        zf.writestr("IM1", b"x" * 100)
    with zipfile.ZipFile(path) as zf:
        assert open_member(archive_fd(zf), zf.getinfo("IM1")) is None
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as zf:
        assert archive_fd(zf) is None
