"""The checker over the real scanner files pydicom ships (pydicom.data): sensible facts, no crash on their oddities."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pydicom
import pytest

from rules import Answers, check

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


@pytest.fixture(scope="module")
def report():
    return check([TEST_FILES], Answers(condition="active_oncology", visit=dt.date(2026, 11, 23)))


def study_of(report, filename: str):
    uid = pydicom.dcmread(TEST_FILES / filename, stop_before_pixels=True).StudyInstanceUID
    return next(study for study in report.studies if study.study_instance_uid == uid)


def test_every_file_is_accounted_for(report):
    files = [p for p in TEST_FILES.rglob("*") if p.is_file()]
    listed = (report.files.dicom + report.files.dicomdir + len(report.files.not_dicom) + len(report.files.unreadable)
              + len(report.files.ignored))
    assert listed == len(files)
    assert report.files.dicom > 100 and report.files.dicomdir >= 1


def test_mr_small_in_every_encoding_is_one_t2_series(report):
    study = study_of(report, "MR_small.dcm")
    assert study.modality == "MR"
    series = [s for s in study.series if s.modality == "MR"]
    assert series[0].sequence == "T2" and series[0].slice_thickness == 0.8
    # explicit, implicit, big endian, padded, RLE, JPEG-LS, JPEG 2000... all read from the header alone
    assert series[0].images >= 7
    assert "field_strength_unknown" in {r.code for r in study.reasons}
    assert "bring_english_report" in {n.code for n in study.notes}


def test_ct_small_is_a_5_mm_ct_that_cancer_work_up_would_redo(report):
    study = study_of(report, "CT_small.dcm")
    reasons = {r.code: r for r in study.reasons}
    assert study.modality == "CT" and reasons["ct_thin_slices_needed"].value == 5.0
    assert reasons["beyond_window"].value > 365 and study.verdict == "redo"


def test_jpeg2000_ct_gets_the_viewer_note(report):
    study = study_of(report, "JPEG2000.dcm")
    assert "jpeg2000" in {n.code for n in study.notes}


def test_damaged_and_foreign_files(report):
    unreadable = {Path(name).name: error for name, error, _ in report.files.unreadable}
    assert unreadable["MR_truncated.dcm"] == "truncated"
    kinds = {Path(name).name: kind for name, kind in report.files.not_dicom}
    assert kinds["README.txt"] == "text" and kinds["test1.json"] == "text"


def test_other_modalities_are_capped(report):
    verdicts = {}
    for study in report.studies:
        verdicts.setdefault(study.modality, set()).update(r.code for r in study.reasons)
    assert "ultrasound_redone" in verdicts["US"]
    assert "modality_unsupported" in verdicts["SR"] and "modality_unsupported" in verdicts["RTPLAN"]
    for study in report.studies:
        for series in study.series:
            if series.modality == "SR":
                assert series.sequence == "REPORT"
