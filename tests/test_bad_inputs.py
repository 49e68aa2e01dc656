"""Every bad input of the issue gets a clear entry in the report, and the rest of the upload is still checked."""
from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from rules import Answers, check
from rules.containers import Limits
from tests.archives import dicom_bytes, make_7z, make_tar, make_zip, zip_of_zeros
from tests.factory import SeriesSpec, make_dataset, write, write_study

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
