"""Every bad input of the issue gets a clear entry in the report, and the rest of the upload is still checked."""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import struct
from pathlib import Path

import pytest
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from rules import Answers, check
from rules.containers import Limits
from tests.archives import dicom_bytes, make_7z, make_tar, make_zip, zip_of_zeros
from tests.factory import SeriesSpec, add_private_block, make_dataset, write, write_study

VISIT = dt.date(2026, 11, 20)


def good_study(folder: Path) -> Path:
    write_study(folder, [SeriesSpec("CT", 3, {"SliceThickness": "1.0"})], study_date=VISIT - dt.timedelta(days=3))
    return folder


def report_of(*paths, **kwargs):
    return check(list(paths), Answers(visit=VISIT), **kwargs)


def short(name: str) -> str:
    """A display name without the uploaded folder's own name: 'upload/x/IM1' -> 'x/IM1'."""
    return name.split("/", 1)[-1]


def unreadable(report) -> dict[str, str]:
    return {short(name): error for name, error, _limit in report.files.unreadable}


def test_damaged_files_are_listed_and_the_good_ones_checked(tmp_path):
    good_study(tmp_path)
    whole = dicom_bytes(tmp_path)
    (tmp_path / "zero.dcm").write_bytes(b"")
    (tmp_path / "half.dcm").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "only-start.dcm").write_bytes(whole[:140])  # preamble + DICM + a few bytes
    (tmp_path / "DICM-and-garbage").write_bytes(bytes(128) + b"DICM" + os.urandom(300))
    report = report_of(tmp_path)
    errors = unreadable(report)
    assert errors["zero.dcm"] == "empty_file"
    assert errors["half.dcm"] == "truncated"
    assert set(errors) == {"zero.dcm", "half.dcm", "only-start.dcm", "DICM-and-garbage"}
    assert report.files.dicom == 3 and report.overall == "usable"


def _raw(ds, keyword: str, vr: str, value: bytes):
    tag = Tag(keyword)
    ds._dict[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True)


@pytest.mark.parametrize("keyword,vr,value", [
    ("SliceThickness", "DS", b"five mm "),
    ("SliceThickness", "US", b"\x05\x00"),
    ("MagneticFieldStrength", "DS", b"\xff\xfe\x00\x01"),
    ("StudyDate", "DA", b"20261301"),
    ("StudyDate", "DA", b"\x00\x00\x00\x00\x00\x00\x00\x00"),
    ("Modality", "CS", b"\xff\xfe"),
    ("ImageType", "CS", b"\\\\\\\\"),
    ("PatientWeight", "DS", b"-inf"),
])
def test_garbage_values_in_the_tags_read_cost_one_fact_not_the_file(tmp_path, keyword, vr, value):
    ds = make_dataset("MR", study_date=VISIT - dt.timedelta(days=1))
    _raw(ds, keyword, vr, value)
    write(ds, tmp_path / "IM1")
    report = report_of(tmp_path)
    assert report.files.dicom == 1 and len(report.studies) == 1


def test_an_absurd_number_in_a_tag_is_ignored(tmp_path):
    path = write(make_dataset("MR", study_date=VISIT - dt.timedelta(days=1), SeriesNumber="12345678"), tmp_path / "IM1")
    path.write_bytes(path.read_bytes().replace(b"12345678", b"1e999999"))  # pydicom would not write it
    report = report_of(tmp_path)
    assert report.files.dicom == 1 and report.studies[0].series[0].series_number is None


def test_a_folder_with_no_dicom_at_all(tmp_path):
    (tmp_path / "scan.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(300))
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.7\n" + bytes(300))
    (tmp_path / "notes.docx").write_bytes(make_zip(tmp_path / "x.zip", {"[Content_Types].xml": b"<Types/>",
                                                                         "word/document.xml": b"<w/>"}).read_bytes())
    (tmp_path / "x.zip").unlink()
    report = report_of(tmp_path)
    assert report.overall == "no_dicom" and report.studies == []
    kinds = {short(name): kind for name, kind in report.files.not_dicom}
    assert kinds["scan.jpg"] == "jpeg" and kinds["report.pdf"] == "pdf"
    assert [n.code for n in report.notes] == ["not_dicom"]


def test_zip_bomb_is_refused_saying_which_limit(tmp_path):
    bomb = zip_of_zeros(tmp_path / "bomb.zip", 200 * 1024 * 1024)
    report = report_of(bomb, good_study(tmp_path / "good"))
    assert unreadable(report)["bomb.zip"] == "archive_ratio"
    assert report.files.dicom == 3
    small = report_of(bomb, limits=Limits(max_total_bytes=1024 * 1024))
    assert unreadable(small)["bomb.zip"] == "archive_too_large"


def test_path_traversal_names_are_not_read(tmp_path):
    data = dicom_bytes(tmp_path)
    archive = make_zip(tmp_path / "evil.zip", {"../../x": data, "/etc/passwd": b"root", "ok/IM1": data})
    report = report_of(archive)
    assert set(unreadable(report).values()) == {"unsafe_path"} and len(report.files.unreadable) == 2
    assert report.files.dicom == 1
    assert not (tmp_path.parent.parent / "x").exists()


def test_symlinks_are_not_followed(tmp_path):
    good_study(tmp_path / "study")
    (tmp_path / "study" / "link").symlink_to("/etc/passwd")
    tar = make_tar(tmp_path / "links.tar", {"IM1": dicom_bytes(tmp_path)}, symlinks={"evil": "/etc/shadow"})
    report = report_of(tmp_path / "study", tar)
    assert sorted(unreadable(report).values()) == ["symlink", "symlink"]
    assert report.files.dicom == 4


def test_encrypted_archives_are_password_protected_not_damaged(tmp_path):
    data = dicom_bytes(tmp_path)
    zipped = make_zip(tmp_path / "locked.zip", {"IM1": data}, encrypted=("IM1",))
    sevenzip = make_7z(tmp_path / "locked.7z", {"IM1": data}, password="secret")
    hidden = make_7z(tmp_path / "hidden.7z", {"IM1": data}, password="secret", encrypt_header=True)
    errors = unreadable(report_of(zipped, sevenzip, hidden))
    assert set(errors.values()) == {"password_protected"}, errors


@pytest.mark.parametrize("name,content", [
    ("cut.zip", "zip"), ("cut.7z", "7z"), ("cut.tar.gz", "tar.gz"),
])
def test_corrupt_archives_are_reported(tmp_path, name, content):
    data = dicom_bytes(tmp_path)
    members = {f"IM{i}": data for i in range(5)}
    whole = {"zip": lambda p: make_zip(p, members), "7z": lambda p: make_7z(p, members),
             "tar.gz": lambda p: make_tar(p, members, mode="w:gz")}[content](tmp_path / f"whole.{content}")
    raw = whole.read_bytes()
    (tmp_path / name).write_bytes(raw[: len(raw) * 2 // 3])
    report = report_of(tmp_path / name, good_study(tmp_path / "good"))
    errors = set(unreadable(report).values())
    assert errors & {"corrupt_archive", "truncated"}, report.files.unreadable
    assert report.files.dicom >= 3


def test_a_hundred_thousand_tiny_files_are_all_listed(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(100_000):
        (folder / f"f{index:06d}.txt").write_bytes(b"x")
    good_study(folder / "study")
    try:
        report = report_of(folder)
        assert report.files.dicom == 3 and len(report.studies) == 1
        assert len(report.files.not_dicom) == 100_000 and report.files.unreadable == []
    finally:
        shutil.rmtree(folder)  # pytest would otherwise spend long seconds deleting it on later runs


def test_past_the_file_limit_the_rest_is_skipped_and_said(tmp_path):
    for index in range(30):
        (tmp_path / f"f{index:03d}.txt").write_bytes(b"x")
    report = report_of(tmp_path, limits=Limits(max_files=10))
    assert [(error, limit) for _name, error, limit in report.files.unreadable] == [("too_many_files", 10)]
    assert len(report.files.not_dicom) == 10


# ---- bad input found by the mutation fuzzer: each file is listed with its reason, the rest is still checked
# (each test is named after what is wrong with the file, like pydicom's MR_truncated.dcm)

LARGE_HEADER = 60_000  # bytes of vendor private data before the pixels: the reader reads past its first 16 KB


def large_header_bytes(tmp_path: Path) -> bytes:
    """A CT image whose header runs past the reader's first read (random, so it does not compress)."""
    path = write(add_private_block(make_dataset("CT", study_date=VISIT - dt.timedelta(days=3)), size=LARGE_HEADER),
                 tmp_path / "_large_header.tmp")
    data = path.read_bytes()
    path.unlink()
    return data


def listed(report) -> dict[str, str]:
    """Unreadable files by their full display names."""
    return {name: error for name, error, _limit in report.files.unreadable}


def checked_beside_good_files(tmp_path: Path, *bad: Path):
    """The report of the bad paths uploaded with a good study of three CT images."""
    report = report_of(*bad, good_study(tmp_path / "good"))
    assert report.overall == "usable" and report.files.dicom >= 3, report.files
    return report


def test_bad_crc_member_in_a_zip_is_listed_and_its_neighbours_read(tmp_path):
    data = large_header_bytes(tmp_path)
    archive = make_zip(tmp_path / "bad_crc_member.zip", {"IM0": data, "IM1": data, "IM2": data}, stored=True)
    raw = bytearray(archive.read_bytes())
    raw[raw.find(data) + 40_000] ^= 0xFF  # IM0's bytes after the first 16 KB no longer match its CRC
    archive.write_bytes(bytes(raw))
    report = checked_beside_good_files(tmp_path, archive)
    assert listed(report) == {"bad_crc_member.zip/IM0": "corrupt_member"}
    assert report.files.dicom == 3 + 2


@pytest.mark.parametrize("mode", ["gz", "xz"])  # a bzip2 block holds it all: cut, nothing of it decompresses
def test_tar_cut_after_16_kb_of_a_member_lists_the_member_and_the_archive(tmp_path, mode):
    data = large_header_bytes(tmp_path)
    whole = make_tar(tmp_path / f"whole.tar.{mode}", {"IM0": data, "IM1": data}, mode=f"w:{mode}")
    cut = tmp_path / f"read_error_after_16k.tar.{mode}"
    cut.write_bytes(whole.read_bytes()[: 512 + 30_000])  # random data compresses to about its size
    report = checked_beside_good_files(tmp_path, cut)
    assert listed(report) == {f"read_error_after_16k.tar.{mode}/IM0": "corrupt_member",
                                  f"read_error_after_16k.tar.{mode}": "corrupt_archive"}
    assert report.files.dicom == 3


def test_lzma_error_in_a_7z_is_listed_and_the_rest_of_the_upload_read(tmp_path):
    data = large_header_bytes(tmp_path)
    whole = make_7z(tmp_path / "whole.7z", {"IM0": data, "IM1": data})
    raw = bytearray(whole.read_bytes())
    for at in range(40_000, 40_064):  # inside the packed stream, well before the header at the end
        raw[at] ^= 0xA5
    damaged = tmp_path / "lzma_error.7z"
    damaged.write_bytes(bytes(raw))
    report = checked_beside_good_files(tmp_path, damaged)
    errors = listed(report)
    assert errors and set(errors.values()) <= {"corrupt_archive", "corrupt_member"}, errors
    assert all(name.startswith("lzma_error.7z") for name in errors)


def nested_sequence(depth: int) -> bytes:
    """An undefined-length sequence holding an item holding a sequence ... `depth` sequences deep (explicit VR)."""
    sequence = struct.pack("<HH", 0x0009, 0x1010) + b"SQ\x00\x00" + struct.pack("<L", 0xFFFFFFFF)
    item, item_end, sequence_end = (struct.pack("<HHL", 0xFFFE, element, length)
                                    for element, length in ((0xE000, 0xFFFFFFFF), (0xE00D, 0), (0xE0DD, 0)))
    return (sequence + item) * depth + (item_end + sequence_end) * depth


def with_nested_sequence(tmp_path: Path, name: str, depth: int) -> bytes:
    placeholder = b"NESTED HERE!"
    ds = make_dataset("CT", study_date=VISIT - dt.timedelta(days=3))
    ds.add_new(0x00091010, "OB", placeholder)
    data = write(ds, tmp_path / name).read_bytes()
    element = struct.pack("<HH", 0x0009, 0x1010) + b"OB\x00\x00" + struct.pack("<L", len(placeholder)) + placeholder
    assert data.count(element) == 1
    return data.replace(element, nested_sequence(depth))


def test_sequence_nested_500_deep_is_walked_without_recursion(tmp_path):
    folder = good_study(tmp_path / "upload")
    (folder / "SQ_nested_500_deep.dcm").write_bytes(with_nested_sequence(tmp_path, "deep.tmp", 500))
    report = report_of(folder)
    assert report.files.unreadable == [] and report.files.dicom == 4


def test_sequence_nested_500_deep_and_cut_short_is_truncated(tmp_path):
    folder = good_study(tmp_path / "upload")
    data = with_nested_sequence(tmp_path, "deep.tmp", 500)
    (folder / "SQ_nested_500_deep_truncated.dcm").write_bytes(data[: data.find(b"\xfe\xff\x0d\xe0")])
    report = report_of(folder)
    assert unreadable(report) == {"SQ_nested_500_deep_truncated.dcm": "truncated"}
    assert report.files.dicom == 3


def make_deep_folders(top: Path, depth: int) -> Path:
    """`depth` nested folders named d under `top`, each made inside the last (the full path would be long)."""
    top.mkdir(parents=True, exist_ok=True)
    folder = os.open(top, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=folder)
            inner = os.open("d", os.O_RDONLY, dir_fd=folder)
            os.close(folder)
            folder = inner
    finally:
        os.close(folder)
    return top / "/".join(["d"] * depth)


@pytest.fixture
def deep_folders():
    """Makes chains of folders; removes them bottom up afterwards (pytest's own clean-up recurses, and would fail)."""
    made: list[tuple[Path, Path]] = []

    def make(top: Path, depth: int) -> Path:
        bottom = make_deep_folders(top, depth)
        made.append((top, bottom))
        return bottom

    yield make
    for top, bottom in made:
        for child in bottom.iterdir():
            child.unlink()
        while bottom != top:
            bottom.rmdir()
            bottom = bottom.parent


def test_empty_folder_1000_deep_beside_good_files_costs_nothing(tmp_path, deep_folders):
    folder = good_study(tmp_path / "upload")
    deep_folders(folder / "empty_1000_deep", 1000)
    report = report_of(folder)
    assert report.files.unreadable == [] and report.files.dicom == 3 and report.overall == "usable"


def test_a_scan_at_the_bottom_of_folders_1000_deep_is_read(tmp_path, deep_folders):
    folder = good_study(tmp_path / "upload")
    bottom = deep_folders(folder / "scan_1000_deep", 1000)
    (bottom / "IM9").write_bytes(dicom_bytes(tmp_path, study_date=VISIT - dt.timedelta(days=3)))
    report = report_of(folder)
    assert report.files.unreadable == [] and report.files.dicom == 4


def test_every_code_of_an_unreadable_file_has_its_wording_in_the_checklist():
    root = Path(__file__).resolve().parent.parent
    labels = (root / "dialogs" / "templates" / "labels.j2").read_text()
    macro = labels[labels.index("{% macro error(") : labels.index("{%- endmacro %}", labels.index("{% macro error("))]
    worded = set(re.findall(r'"(\w+)"', macro))
    source = "\n".join(path.read_text() for path in (root / "rules").rglob("*.py"))
    used = set(re.findall(r'UNREADABLE, "(\w+)"', source)) | set(re.findall(r'HeaderError\("(\w+)"\)', source))
    used |= set(re.findall(r'code = "(\w+)"', source)) | set(re.findall(r'Unreadable\(\w+, "(\w+)"\)', source))
    assert {"corrupt_member", "truncated", "empty_file", "nested_too_deep"} <= used
    assert used - worded == {"read_error"}  # worded by the macro's last branch: "the file could not be read"
