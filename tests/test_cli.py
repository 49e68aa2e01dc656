"""`scanpass check` as a person runs it: exit codes, the JSON contract, checklists in English and Chinese."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from bot.cli import main
from bot.sample import write_sample
from tests.factory import SeriesSpec, write_study

CONTRACT_TOP = {"overall", "notes", "studies", "files"}
CONTRACT_STUDY = {"study_instance_uid", "modality", "body_part", "study_date", "age_days", "verdict", "reasons",
                  "notes", "series", "sequences_found", "sequences_missing"}
CONTRACT_SERIES = {"series_instance_uid", "description", "modality", "images", "slice_thickness", "field_strength",
                   "sequence", "transfer_syntax"}
CONTRACT_FILES = {"dicom", "not_dicom", "unreadable"}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    visit = dt.date(2027, 3, 1)
    return visit, write_sample(tmp_path_factory.mktemp("sample"), visit)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, timeout=120)


def test_json_is_the_contract_and_nothing_else(sample):
    visit, paths = sample
    done = run("check", *map(str, paths), "--visit", visit.isoformat(), "--condition", "active_oncology",
               "--area", "brain_tumor", "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # stdout holds one JSON object, nothing else
    assert CONTRACT_TOP <= set(report) and CONTRACT_FILES <= set(report["files"])
    for study in report["studies"]:
        assert CONTRACT_STUDY <= set(study)
        for series in study["series"]:
            assert CONTRACT_SERIES <= set(series)
        for reason in study["reasons"]:
            assert set(reason) <= {"code", "verdict", "value", "limit", "upper", "missing", "found"}
    by_modality = {study["modality"]: study for study in report["studies"]}
    assert set(by_modality) == {"CT", "MR", "PT"}
    ct = {r["code"]: r for r in by_modality["CT"]["reasons"]}
    assert ct["ct_thin_slices_needed"] == {"code": "ct_thin_slices_needed", "verdict": "redo", "value": 5.0, "limit": 2.5}
    assert by_modality["CT"]["verdict"] == "redo" and by_modality["CT"]["age_days"] == 40
    assert by_modality["MR"]["sequences_missing"] == ["DWI"]
    assert by_modality["MR"]["series"][0]["field_strength"] == 1.5  # stored as 15000 gauss
    pet = {r["code"]: r for r in by_modality["PT"]["reasons"]}
    assert pet["pet_suv_data_missing"]["missing"] == ["PatientWeight"]
    assert report["overall"] == "redo"
    assert report["files"]["not_dicom"] == [{"name": "radiology-report.pdf", "kind": "pdf"}]
    assert [f["name"] for f in report["files"]["unreadable"]] == ["broken.dcm"]
    assert report["files"]["unreadable"][0]["error"] == "truncated"
    assert {f["reason"] for f in report["files"]["ignored"]} == {"autorun", "viewer"}
    assert report["files"]["dicomdir"] == 1
    assert report["files"]["dicom"] == 62 + 24 + 24


def test_text_checklist_in_english(sample, capsys):
    visit, paths = sample
    assert main(["check", *map(str, paths), "--visit", visit.isoformat(), "--condition", "active_oncology",
                 "--area", "brain_tumor"]) == 0
    text = capsys.readouterr().out
    assert "3 studies found: 0 usable, 1 to review, 2 to redo." in text
    assert "slices are 5 mm; for cancer work-up the hospital needs 2.5 mm or thinner" in text
    assert "missing sequences: DWI (diffusion)" in text
    assert "Not DICOM (1 file):\n   - radiology-report.pdf: PDF document\n" in text  # one file a line
    assert "\n   - broken.dcm: the file is cut short" in text
    assert "What to bring" in text and "What to redo and where" in text
    assert "not a medical opinion" in text


def test_text_checklist_in_chinese(sample, capsys):
    visit, paths = sample
    assert main(["check", *map(str, paths), "--visit", visit.isoformat(), "--condition", "active_oncology",
                 "--area", "brain_tumor", "--lang", "zh-CN"]) == 0
    text = capsys.readouterr().out
    assert "共找到 3 项检查" in text
    assert "层厚为 5 毫米；肿瘤评估时医院要求 2.5 毫米或更薄" in text
    assert "2027年3月1日" in text  # the visit date in the Chinese date format
    assert "需要携带的资料" in text
    assert "the hospital" not in text and "days old" not in text  # no English left


@pytest.mark.parametrize("args,message", [
    (["check", "x", "--condition", "cancer"], "--condition"),
    (["check", "x", "--visit", "2026-13-01"], "bad date"),
    (["check", "/no/such/file"], "no such file or folder"),
    (["check", "--format", "xml", "x"], "invalid choice"),
    (["check"], "required"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, args, message):
    if "x" in args:
        args = [str(tmp_path) if a == "x" else a for a in args]
    done = run(*args)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""


def test_a_folder_with_no_dicom_says_so(tmp_path, capsys):
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    assert main(["check", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "No DICOM scan was found" in out and "photo.jpg: photo" in out


def test_demo_prints_a_checklist(tmp_path):
    done = run("demo", "--folder", str(tmp_path / "sample"))
    assert done.returncode == 0, done.stderr
    assert "ScanPass pre-check" in done.stdout and "3 studies found" in done.stdout


def test_json_of_a_single_study_counts_images(tmp_path):
    write_study(tmp_path, [SeriesSpec("CT", 4, {"SliceThickness": "1.0"})])
    done = run("check", str(tmp_path), "--format", "json")
    report = json.loads(done.stdout)
    assert report["files"]["dicom"] == 4 and report["studies"][0]["series"][0]["images"] == 4
