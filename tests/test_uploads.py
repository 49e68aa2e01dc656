"""What a patient uploads -> batches and entries: folders, archives, discs, bombs, traps."""
from __future__ import annotations

import os
import pickle
import shutil
import threading
import time
from pathlib import Path

import pytest

from rules.header import read_image
from rules.facts import ImageFacts
from rules.containers import Batch, Entry, Item, Limits, plan, split, walk
from tests.archives import dicom_bytes, make_7z, make_iso, make_tar, make_zip, zip_of_zeros


@pytest.fixture
def dcm(tmp_path) -> bytes:
    return dicom_bytes(tmp_path)


def read_all(paths, limits: Limits = Limits(), scratch: Path | None = None, parts: int = 1):
    """Plan, then walk every batch as a worker would: names of DICOM items, of other items, and entries."""
    result = plan(paths, limits)
    dicom, other, entries = [], [], list(result.entries)
    for batch in result.batches:
        for chunk in split(pickle.loads(pickle.dumps(batch)), parts):
            for got in walk(chunk, limits, scratch):
                if isinstance(got, Entry):
                    entries.append(got)
                elif isinstance(read_image(got.stream, got.name, got.size), ImageFacts):
                    dicom.append(got.name)
                else:
                    other.append((got.name, got.quiet))
    return sorted(dicom), sorted(other), entries


def codes(entries) -> dict[str, str]:
    return {entry.name: entry.code for entry in entries}


# ---------------------------------------------------------------- folders


def test_folder_with_subfolders_and_a_file_without_extension(tmp_path, dcm):
    upload = tmp_path / "upload"
    (upload / "A" / "B").mkdir(parents=True)
    (upload / "A" / "B" / "IM1.dcm").write_bytes(dcm)
    (upload / "A" / "IM2").write_bytes(dcm)
    (upload / "report.pdf").write_bytes(b"%PDF-1.4 not an image")
    (upload / ".DS_Store").write_bytes(b"junk")
    dicom, other, entries = read_all([upload])
    assert dicom == ["upload/A/B/IM1.dcm", "upload/A/IM2"]
    assert other == [("upload/report.pdf", "")]
    assert codes(entries) == {"upload/.DS_Store": "system"}


def test_a_path_that_does_not_exist_is_reported(tmp_path):
    assert codes(plan([tmp_path / "gone"]).entries) == {"gone": "not_found"}


def test_a_symlink_in_a_folder_is_reported_not_followed(tmp_path, dcm):
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "IM1").write_bytes(dcm)
    secret = tmp_path / "elsewhere"
    secret.mkdir()
    (secret / "IM9").write_bytes(dcm)
    (upload / "link_to_file").symlink_to(secret / "IM9")
    (upload / "link_to_dir").symlink_to(secret)
    dicom, _, entries = read_all([upload])
    assert dicom == ["upload/IM1"]
    assert codes(entries) == {"upload/link_to_dir": "symlink", "upload/link_to_file": "symlink"}


def test_garbage_named_zip_is_a_plain_file(tmp_path):
    fake = tmp_path / "study.zip"
    fake.write_bytes(b"this is not a zip at all" * 10)
    result = plan([fake])
    assert [batch.kind for batch in result.batches] == ["files"]
    _, other, entries = read_all([fake])
    assert other == [("study.zip", "")] and entries == []


def test_a_zip_without_extension_is_opened_by_content(tmp_path, dcm):
    make_zip(tmp_path / "download", {"IM1": dcm})
    dicom, _, _ = read_all([tmp_path / "download"])
    assert dicom == ["download/IM1"]


# ---------------------------------------------------------------- archives


def test_zip(tmp_path, dcm):
    make_zip(tmp_path / "study.zip", {"S1/IM1": dcm, "S1/IM2": dcm, "notes.txt": b"hello", "__MACOSX/._IM1": b"x"})
    dicom, other, entries = read_all([tmp_path / "study.zip"])
    assert dicom == ["study.zip/S1/IM1", "study.zip/S1/IM2"]
    assert other == [("study.zip/notes.txt", "")]
    assert codes(entries) == {"study.zip/__MACOSX/._IM1": "system"}


def test_zip_inside_zip_is_read_one_level_deep(tmp_path, dcm):
    innermost = make_zip(tmp_path / "c.zip", {"IM3": dcm})
    inner = make_zip(tmp_path / "b.zip", {"IM2": dcm, "c.zip": innermost.read_bytes()})
    make_zip(tmp_path / "a.zip", {"IM1": dcm, "b.zip": inner.read_bytes()})
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    dicom, _, entries = read_all([tmp_path / "a.zip"], scratch=scratch)
    assert dicom == ["a.zip/IM1", "a.zip/b.zip/IM2"]
    assert codes(entries) == {"a.zip/b.zip/c.zip": "nested_too_deep"}
    assert list(scratch.iterdir()) == []


def test_7z_streams_members_and_nested_zip(tmp_path, dcm):
    inner = make_zip(tmp_path / "inner.zip", {"IM9": dcm})
    make_7z(tmp_path / "study.7z", {"S1/IM1": dcm, "S1/IM2": dcm, "inner.zip": inner.read_bytes(), "Thumbs.db": b"x"})
    result = plan([tmp_path / "study.7z"])
    assert [(batch.kind, batch.members) for batch in result.batches] == [("stream", ())]
    assert result.total_members == 4
    dicom, _, entries = read_all([tmp_path / "study.7z"])
    assert dicom == ["study.7z/S1/IM1", "study.7z/S1/IM2", "study.7z/inner.zip/IM9"]
    assert codes(entries) == {"study.7z/Thumbs.db": "system"}


def test_7z_walk_stopped_early_stops_its_thread(tmp_path, dcm):
    make_7z(tmp_path / "study.7z", {f"IM{index}": dcm for index in range(5)})
    (batch,) = plan([tmp_path / "study.7z"]).batches
    threads = threading.active_count()
    walker = walk(batch)
    assert isinstance(next(walker), Item)
    assert threading.active_count() == threads + 1
    walker.close()
    assert threading.active_count() == threads


@pytest.mark.parametrize("name, mode", [("study.tar", "w"), ("study.tar.gz", "w:gz"), ("study.tbz", "w:bz2"), ("study.txz", "w:xz")])
def test_tar_and_compressed_tar(tmp_path, dcm, name, mode):
    make_tar(tmp_path / name, {"S1/IM1": dcm, "S1/IM2": dcm, "../../x": dcm, "/etc/passwd": b"root"}, mode=mode,
             symlinks={"S1/evil": "/etc/shadow"}, hardlinks={"S1/hard": "/etc/shadow"})
    dicom, _, entries = read_all([tmp_path / name])
    assert dicom == [f"{name}/S1/IM1", f"{name}/S1/IM2"]
    assert codes(entries) == {f"{name}/../../x": "unsafe_path", f"{name}//etc/passwd": "unsafe_path",
                              f"{name}/S1/evil": "symlink", f"{name}/S1/hard": "symlink"}


def test_gzipped_single_dicom_is_read(tmp_path, dcm):
    import gzip

    (tmp_path / "IM1.dcm.gz").write_bytes(gzip.compress(dcm))
    dicom, _, entries = read_all([tmp_path / "IM1.dcm.gz"])
    assert dicom == ["IM1.dcm.gz/IM1.dcm"] and entries == []


def test_iso_with_dicomdir_ignores_autorun_and_viewer(tmp_path, dcm):
    from tests.factory import make_dataset, write

    dicomdir = write(make_dataset("CT"), tmp_path / "DICOMDIR_SRC").read_bytes()
    make_iso(tmp_path / "disc.iso", {
        "DICOMDIR": dicomdir,
        "DICOM/IM1": dcm,
        "DICOM/IM2": dcm,
        "AUTORUN.INF": b"[autorun]\nopen=VIEWER\\VIEWER.EXE\n",
        "VIEWER/VIEWER.EXE": b"MZ\x90\x00" + bytes(200),
        "VIEWER/README.TXT": b"double-click the viewer",
    })
    result = plan([tmp_path / "disc.iso"])
    assert [batch.kind for batch in result.batches] == ["iso"]
    dicom, other, entries = read_all([tmp_path / "disc.iso"], parts=2)
    assert dicom == ["disc.iso/DICOM/IM1", "disc.iso/DICOM/IM2", "disc.iso/DICOMDIR"]
    assert other == [("disc.iso/VIEWER/README.TXT", "viewer")]  # listed as ignored by the checker
    assert codes(entries) == {"disc.iso/AUTORUN.INF": "autorun", "disc.iso/VIEWER/VIEWER.EXE": "viewer"}


def test_iso_without_joliet_strips_version_suffix(tmp_path, dcm):
    make_iso(tmp_path / "disc.iso", {"DICOM/IM1": dcm}, joliet=False)
    dicom, _, _ = read_all([tmp_path / "disc.iso"])
    assert dicom == ["disc.iso/DICOM/IM1"]


def test_iso_with_rock_ridge_uses_its_names_and_reports_symlinks(tmp_path, dcm):
    import io

    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.new(rock_ridge="1.09")
    iso.add_directory("/DICOM", rr_name="dicom")
    iso.add_fp(io.BytesIO(dcm), len(dcm), "/DICOM/IM1.;1", rr_name="image one.dcm")
    iso.add_fp(io.BytesIO(b""), 0, "/EMPTY.;1", rr_name="empty")
    iso.add_symlink("/LINK.;1", "passwd", "/etc/passwd")
    iso.write(str(tmp_path / "rr.iso"))
    iso.close()
    dicom, other, entries = read_all([tmp_path / "rr.iso"])
    assert dicom == ["rr.iso/dicom/image one.dcm"] and other == [("rr.iso/empty", "")]
    assert codes(entries) == {"rr.iso/passwd": "symlink"}


def test_iso_inside_zip(tmp_path, dcm):
    disc = make_iso(tmp_path / "disc.iso", {"DICOM/IM1": dcm})
    make_zip(tmp_path / "upload.zip", {"disc.iso": disc.read_bytes()})
    dicom, _, _ = read_all([tmp_path / "upload.zip"])
    assert dicom == ["upload.zip/disc.iso/DICOM/IM1"]


def test_corrupt_disc_image(tmp_path):
    broken = tmp_path / "disc.iso"
    broken.write_bytes(bytes(0x8001) + b"CD001" + b"\xff" * 4000)
    assert codes(plan([broken]).entries) == {"disc.iso": "corrupt_archive"}


# ---------------------------------------------------------------- split


def test_split_gives_contiguous_chunks_whose_union_is_the_batch(tmp_path, dcm):
    make_zip(tmp_path / "study.zip", {f"IM{index:02d}": dcm for index in range(10)} | {"VIEWER/x.txt": b"x"})
    (batch,) = plan([tmp_path / "study.zip"]).batches
    chunks = split(batch, 4)
    assert len(chunks) == 4
    assert sum((chunk.members for chunk in chunks), ()) == batch.members
    assert sum((chunk.quiet for chunk in chunks), ()) == batch.quiet
    assert split(batch, 100)[-1].members == (batch.members[-1],)
    stream = Batch("stream", "x.tar", "x.tar", ())
    assert split(stream, 4) == [stream]


# ---------------------------------------------------------------- traps


def test_zip_bomb_by_ratio_and_by_total_size(tmp_path):
    bomb = zip_of_zeros(tmp_path / "bomb.zip", 200 * 1024**2)
    assert bomb.stat().st_size < 2 * 1024**2
    result = plan([bomb])
    assert result.batches == [] and result.entries == [Entry("bomb.zip", "unreadable", "archive_ratio", 100.0)]
    small = Limits(max_total_bytes=10 * 1024**2)
    result = plan([bomb], small)
    assert result.entries == [Entry("bomb.zip", "unreadable", "archive_too_large", 10 * 1024**2)]


def test_tar_gz_bomb_stops_while_reading(tmp_path):
    bomb = tmp_path / "bomb.tgz"
    make_tar(bomb, {"IM1": bytes(3 * 1024**2), "IM2": bytes(3 * 1024**2)}, mode="w:gz")
    _, other, entries = read_all([bomb], Limits(max_total_bytes=4 * 1024**2))
    assert other == [("bomb.tgz/IM1", "")]  # what came before the limit is kept
    assert entries == [Entry("bomb.tgz", "unreadable", "archive_too_large", 4 * 1024**2)]
    _, _, entries = read_all([bomb], Limits(ratio_floor_bytes=1024**2, max_ratio=50))
    assert codes(entries) == {"bomb.tgz": "archive_ratio"}


def test_7z_bomb_stops_while_reading(tmp_path):
    make_7z(tmp_path / "bomb.7z", {"IM1": bytes(3 * 1024**2)})
    assert codes(plan([tmp_path / "bomb.7z"], Limits(max_total_bytes=1024**2)).entries) == {"bomb.7z": "archive_too_large"}
    (batch,) = plan([tmp_path / "bomb.7z"]).batches
    got = list(walk(batch, Limits(max_total_bytes=1024**2)))
    assert got == [Entry("bomb.7z", "unreadable", "archive_too_large", 1024**2)]


def test_nested_bomb_is_stopped_while_spooling(tmp_path):
    inner = zip_of_zeros(tmp_path / "inner.zip", 20 * 1024**2)
    make_zip(tmp_path / "outer.zip", {"inner.zip": inner.read_bytes()})
    _, _, entries = read_all([tmp_path / "outer.zip"], Limits(max_total_bytes=4 * 1024**2, ratio_floor_bytes=1024**2))
    assert codes(entries) == {"outer.zip/inner.zip": "archive_too_large"}


def test_path_traversal_and_absolute_zip_members(tmp_path, dcm):
    make_zip(tmp_path / "study.zip", {"IM1": dcm, "../../x": dcm, "/etc/passwd": b"root", "C:/Windows/evil.dcm": dcm,
                                      "a\\..\\..\\y": dcm})
    dicom, _, entries = read_all([tmp_path / "study.zip"])
    assert dicom == ["study.zip/IM1"]
    assert codes(entries) == {"study.zip/../../x": "unsafe_path", "study.zip//etc/passwd": "unsafe_path",
                              "study.zip/C:/Windows/evil.dcm": "unsafe_path", "study.zip/a\\..\\..\\y": "unsafe_path"}
    assert not (tmp_path.parent / "x").exists()


def test_symlink_member_of_a_zip(tmp_path, dcm):
    make_zip(tmp_path / "study.zip", {"IM1": dcm}, symlinks={"link": "/etc/passwd"})
    dicom, _, entries = read_all([tmp_path / "study.zip"])
    assert dicom == ["study.zip/IM1"] and codes(entries) == {"study.zip/link": "symlink"}


def test_encrypted_zip_is_password_protected(tmp_path, dcm):
    make_zip(tmp_path / "locked.zip", {"IM1": dcm, "IM2": dcm, "readme.txt": b"open me"}, encrypted=("IM1", "IM2"))
    dicom, other, entries = read_all([tmp_path / "locked.zip"])
    assert entries == [Entry("locked.zip", "unreadable", "password_protected")]
    assert dicom == [] and other == [("locked.zip/readme.txt", "")]


@pytest.mark.parametrize("encrypt_header", [False, True])
def test_encrypted_7z_is_password_protected(tmp_path, dcm, encrypt_header):
    make_7z(tmp_path / "locked.7z", {"IM1": dcm}, password="secret", encrypt_header=encrypt_header)
    dicom, _, entries = read_all([tmp_path / "locked.7z"])
    assert dicom == [] and entries == [Entry("locked.7z", "unreadable", "password_protected")]


def test_truncated_zip_and_7z_are_corrupt(tmp_path, dcm):
    whole_zip = make_zip(tmp_path / "whole.zip", {f"IM{index}": dcm for index in range(5)}).read_bytes()
    (tmp_path / "cut.zip").write_bytes(whole_zip[: len(whole_zip) // 2])
    whole_7z = make_7z(tmp_path / "whole.7z", {f"IM{index}": dcm for index in range(5)}).read_bytes()
    (tmp_path / "cut.7z").write_bytes(whole_7z[: len(whole_7z) // 2])
    _, _, entries = read_all([tmp_path / "cut.zip", tmp_path / "cut.7z"])
    assert codes(entries) == {"cut.zip": "corrupt_archive", "cut.7z": "corrupt_archive"}


def test_corrupt_member_in_the_middle_of_a_tar_gz_keeps_what_came_before(tmp_path, dcm):
    import gzip
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for index in range(4):
            info = tarfile.TarInfo(f"IM{index}")
            info.size = len(dcm) + 20000
            tar.addfile(info, io.BytesIO(dcm + os.urandom(20000)))
    packed = gzip.compress(raw.getvalue())
    (tmp_path / "cut.tgz").write_bytes(packed[: len(packed) * 2 // 3])
    dicom, _, entries = read_all([tmp_path / "cut.tgz"])
    assert dicom[:2] == ["cut.tgz/IM0", "cut.tgz/IM1"] and len(dicom) < 4
    assert codes(entries) == {"cut.tgz": "corrupt_archive"}


def test_walk_never_raises_on_a_vanished_container(tmp_path, dcm):
    make_zip(tmp_path / "study.zip", {"IM1": dcm})
    (batch,) = plan([tmp_path / "study.zip"]).batches
    (tmp_path / "study.zip").unlink()
    assert list(walk(batch)) == [Entry("study.zip", "unreadable", "corrupt_archive")]


def test_walk_leaves_no_temp_files(tmp_path, dcm):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    inner = make_zip(tmp_path / "inner.zip", {"IM1": dcm})
    make_7z(tmp_path / "a.7z", {"IM1": dcm, "inner.zip": inner.read_bytes()})
    make_tar(tmp_path / "a.tgz", {"inner.zip": inner.read_bytes()}, mode="w:gz")
    make_zip(tmp_path / "a.zip", {"inner.zip": inner.read_bytes()})
    dicom, _, _ = read_all([tmp_path / "a.7z", tmp_path / "a.tgz", tmp_path / "a.zip"], scratch=scratch)
    assert len(dicom) == 4
    for batch in plan([tmp_path / "a.7z", tmp_path / "a.zip"]).batches:  # abandoned half way
        walker = walk(batch, scratch=scratch)
        next(walker)
        walker.close()
    assert list(scratch.iterdir()) == []


# ---------------------------------------------------------------- many files


@pytest.fixture
def many_files():
    """Makes folders of tiny files and removes them after the test (pytest's tmp_path rotation would be slow)."""
    made: list[Path] = []

    def make(folder: Path, count: int) -> Path:
        made.append(folder)
        _many_files(folder, count)
        return folder

    yield make
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


def _many_files(folder: Path, count: int) -> None:
    folder.mkdir()
    for index in range(count):
        fd = os.open(folder / f"f{index:06d}", os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, b"x")
        os.close(fd)


def test_too_many_files_keeps_the_first_ones(tmp_path, many_files):
    many_files(tmp_path / "upload", 300)
    result = plan([tmp_path / "upload"], Limits(max_files=250))
    assert result.total_members == 250
    assert result.batches[0].members[-1].endswith("f000249")
    assert result.entries == [Entry("upload", "unreadable", "too_many_files", 250)]


def test_too_many_zip_members(tmp_path):
    make_zip(tmp_path / "many.zip", {f"f{index:04d}": b"x" for index in range(300)})
    result = plan([tmp_path / "many.zip"], Limits(max_files=100))
    assert [len(batch.members) for batch in result.batches] == [100]
    assert result.entries == [Entry("many.zip", "unreadable", "too_many_files", 100)]


def test_6000_tiny_files_are_planned_and_walked_quickly(tmp_path, many_files):
    many_files(tmp_path / "upload", 6_000)
    started = time.perf_counter()
    result = plan([tmp_path / "upload"], Limits(max_files=5_000))
    planned = time.perf_counter() - started
    assert result.total_members == 5_000
    assert result.entries == [Entry("upload", "unreadable", "too_many_files", 5_000)]
    started = time.perf_counter()
    walked = sum(1 for chunk in split(result.batches[0], 8) for got in walk(chunk) if isinstance(got, Item))
    assert walked == 5_000
    assert planned < 3 and time.perf_counter() - started < 3  # ~0.25 s each on an idle machine


@pytest.mark.skipif(not os.environ.get("SCANPASS_SLOW_TESTS"), reason="creating 100,000 files takes ~10 s; set SCANPASS_SLOW_TESTS=1")
def test_100000_tiny_files_with_the_default_limit(tmp_path, many_files):
    many_files(tmp_path / "upload", 100_000)
    started = time.perf_counter()
    result = plan([tmp_path / "upload"])
    planned = time.perf_counter() - started
    assert result.total_members == 50_000
    assert result.entries == [Entry("upload", "unreadable", "too_many_files", 50_000)]
    started = time.perf_counter()
    walked = sum(1 for batch in result.batches for got in walk(batch) if isinstance(got, Item))
    assert walked == 50_000
    assert planned < 10 and time.perf_counter() - started < 10
