"""One test per policy row of PRODUCT.md, at and across each limit, through `check()` on generated files.

The expected numbers are written here as PRODUCT.md states them, so an edit of
rules/policy.toml that changes the product's decisions fails a test.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydicom.encaps import encapsulate

from rules import Answers, check
from tests.factory import SeriesSpec, make_dataset, write, write_study

VISIT = dt.date(2027, 3, 1)


def upload(folder: Path, modality: str = "CT", age: int | None = 10, *, series: list[SeriesSpec] | None = None,
           private: bool = False, study_date=None, **tags) -> Path:
    date = study_date if study_date is not None else (VISIT - dt.timedelta(days=age) if age is not None else None)
    write_study(folder, series or [SeriesSpec(modality, 2, tags)], study_date=date, private=private,
                prefix=f"{modality}{len(list(folder.glob('*'))) if folder.exists() else 0:03d}_")
    return folder


def one(folder: Path, **answers):
    report = check([folder], Answers(visit=VISIT, **answers))
    assert len(report.studies) == 1, [s.modality for s in report.studies]
    return report.studies[0]


def codes(study) -> dict[str, object]:
    return {reason.code: reason for reason in study.reasons}


WINDOWS = [  # condition, usable up to, review up to (None: no review band), beyond
    ("active_oncology", 28, 42, "redo"),
    ("stable_oncology", 90, 180, "redo"),
    ("pre_cardiac_surgery", 14, None, "redo"),
    ("pre_neurosurgery", 14, 28, "redo"),
    ("complex_presurgical", 14, 28, "redo"),
    ("acute_cardio_neuro", 7, 14, "redo"),
    ("stable_orthopedic", 180, None, "review"),
    ("chronic_disease", 180, None, "review"),
    ("other", 90, 180, "redo"),
]
PRESURGICAL = {"pre_cardiac_surgery", "pre_neurosurgery", "complex_presurgical"}


def _cases():
    for condition, usable, review, beyond in WINDOWS:
        yield condition, usable, "usable", "within_window"
        if review is None:
            yield condition, usable + 1, beyond, "beyond_window"
        else:
            yield condition, usable + 1, "review", "near_window_limit"
            yield condition, review, "review", "near_window_limit"
            yield condition, review + 1, beyond, "beyond_window"


@pytest.mark.parametrize("condition,age,verdict,reason", list(_cases()))
def test_age_window_at_and_across_each_limit(tmp_path, condition, age, verdict, reason):
    study = one(upload(tmp_path, "MR", age), condition=condition)
    assert study.age_days == age
    assert reason in codes(study)
    expected = max(verdict, "review", key=["usable", "review", "redo"].index) if condition in PRESURGICAL else verdict
    assert study.verdict == expected


@pytest.mark.parametrize("age,verdict,reason", [(42, "usable", "within_window"), (43, "redo", "beyond_window")])
def test_pet_in_active_oncology_has_its_own_window(tmp_path, age, verdict, reason):
    study = one(upload(tmp_path, "PT", age), condition="active_oncology")
    assert study.modality == "PT" and study.verdict == verdict and reason in codes(study)


def test_a_scan_without_a_date_is_reviewed(tmp_path):
    study = one(upload(tmp_path, "MR", None))
    assert study.verdict == "review" and "date_unknown" in codes(study) and study.age_days is None


def test_a_scan_dated_after_the_visit_is_reviewed(tmp_path):
    study = one(upload(tmp_path, "MR", -3))
    assert study.verdict == "review" and codes(study)["date_unknown"].value == (VISIT + dt.timedelta(days=3)).isoformat()


def test_series_date_stands_in_for_a_missing_study_date(tmp_path):
    study = one(upload(tmp_path, "MR", None, SeriesDate=(VISIT - dt.timedelta(days=5)).strftime("%Y%m%d")))
    assert study.age_days == 5 and study.date_source == "SeriesDate" and study.verdict == "usable"


@pytest.mark.parametrize("date", ["20261301", "", "garbage", "2026"])
def test_impossible_dates_are_unknown_not_errors(tmp_path, date):
    study = one(upload(tmp_path, "MR", study_date=date))
    assert "date_unknown" in codes(study)


@pytest.mark.parametrize("modality,verdict,reason", [
    ("US", "redo", "ultrasound_redone"),
    ("XA", "review", "angiography_reference"),
    ("RF", "review", "angiography_reference"),
    ("OT", "review", "modality_unsupported"),
])
def test_modality_caps(tmp_path, modality, verdict, reason):
    study = one(upload(tmp_path, modality, 1))
    assert study.modality == modality and study.verdict == verdict and reason in codes(study)


@pytest.mark.parametrize("modality", ["CR", "DX", "MG", "NM"])
def test_judged_modalities_are_not_capped(tmp_path, modality):
    assert one(upload(tmp_path, modality, 1)).verdict == "usable"


@pytest.mark.parametrize("thickness,answers,verdict,reason", [
    ("5.0", {}, "usable", None),
    ("5.1", {}, "redo", "ct_slice_too_thick"),
    ("2.5", {"condition": "active_oncology"}, "usable", None),
    ("2.6", {"condition": "active_oncology"}, "redo", "ct_thin_slices_needed"),
    ("2.6", {"condition": "stable_oncology"}, "redo", "ct_thin_slices_needed"),
    ("3.0", {"area": "lung"}, "redo", "ct_thin_slices_needed"),
    ("3.0", {"area": "liver_cancer"}, "redo", None),  # also misses its contrast phases
    ("3.0", {"area": "musculoskeletal"}, "usable", None),
    ("6.0", {"condition": "active_oncology"}, "redo", "ct_thin_slices_needed"),  # only the strictest limit is told
])
def test_ct_slice_thickness(tmp_path, thickness, answers, verdict, reason):
    study = one(upload(tmp_path, "CT", 1, SliceThickness=thickness), **answers)
    assert study.verdict == verdict
    found = codes(study)
    if reason:
        assert found[reason].value == float(thickness)
        assert not ({"ct_slice_too_thick", "ct_thin_slices_needed"} - {reason}) & set(found)
    if answers.get("area") == "liver_cancer":
        assert found["ct_thin_slices_needed"].limit == 2.5 and found["missing_sequences"].missing


def test_ct_localiser_does_not_count_as_the_thinnest_series(tmp_path):
    series = [SeriesSpec("CT", 1, {"SliceThickness": "0.6", "ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"],
                                   "SeriesDescription": "Topogram"}),
              SeriesSpec("CT", 2, {"SliceThickness": "5.0", "SeriesDescription": "Thorax 5.0"})]
    study = one(upload(tmp_path, series=series), condition="active_oncology")
    assert codes(study)["ct_thin_slices_needed"].value == 5.0


def test_ct_of_a_pet_ct_is_not_judged_by_slice_thickness(tmp_path):
    series = [SeriesSpec("PT", 2, {}), SeriesSpec("CT", 2, {"SliceThickness": "3.75", "SeriesDescription": "CT AC"})]
    study = one(upload(tmp_path, series=series), condition="active_oncology")
    assert study.modality == "PT" and study.verdict == "usable"
    assert {s.modality for s in study.series} == {"PT", "CT"}


@pytest.mark.parametrize("stored,nominal,verdict", [
    ("1.5", 1.5, "usable"), ("3", 3.0, "usable"), ("1.494", 1.5, "usable"), ("15000", 1.5, "usable"),
    ("1.0", 1.0, "redo"), ("0.35", 0.35, "redo"), ("10000", 1.0, "redo"),
])
def test_mr_field_strength_is_compared_as_the_nominal_field(tmp_path, stored, nominal, verdict):
    study = one(upload(tmp_path, "MR", 1, MagneticFieldStrength=stored))
    assert study.series[0].field_strength == nominal and study.verdict == verdict
    assert ("mr_low_field" in codes(study)) == (verdict == "redo")


@pytest.mark.parametrize("stored", [None, ""])
def test_unknown_field_strength_is_a_note_only(tmp_path, stored):
    study = one(upload(tmp_path, "MR", 1, MagneticFieldStrength=stored))
    assert study.verdict == "usable" and codes(study)["field_strength_unknown"].verdict == "usable"


BRAIN = [("t1_se_tra", {}), ("t2_tse_tra", {}), ("t2_tirm_tra_dark-fluid", {}),
         ("ep2d_diff_3scan_trace", {"ImageType": ["ORIGINAL", "PRIMARY", "DIFFUSION", "TRACEW"], "DiffusionBValue": 1000}),
         ("t1_se_tra_post", {"ContrastBolusAgent": "Gadovist"})]


def _mr(descriptions) -> list[SeriesSpec]:
    return [SeriesSpec("MR", 1, {"SeriesDescription": name, **tags}) for name, tags in descriptions]


@pytest.mark.parametrize("area", ["brain_tumor", "stroke"])
def test_brain_with_every_required_sequence_is_usable(tmp_path, area):
    study = one(upload(tmp_path, series=_mr(BRAIN)), area=area)
    assert study.verdict == "usable" and study.sequences_missing == []
    assert study.sequences_found == ["T1", "T2", "FLAIR", "DWI", "T1_CONTRAST"]


def test_missing_sequences_are_listed_and_mean_redo(tmp_path):
    study = one(upload(tmp_path, series=_mr(BRAIN[:3])), area="brain_tumor")
    assert study.verdict == "redo" and study.sequences_missing == ["DWI", "T1_CONTRAST"]
    assert codes(study)["missing_sequences"].missing == ("DWI", "T1_CONTRAST")


def test_an_adc_map_does_not_fill_the_dwi_slot(tmp_path):
    adc = ("ep2d_diff_3scan_trace_ADC", {"ImageType": ["DERIVED", "PRIMARY", "DIFFUSION", "ADC"]})
    study = one(upload(tmp_path, series=_mr(BRAIN[:3] + [adc] + BRAIN[4:])), area="brain_tumor")
    assert study.sequences_missing == ["DWI"]


def test_liver_ct_needs_three_contrast_phases(tmp_path):
    phases = [SeriesSpec("CT", 1, {"SeriesDescription": name, "SliceThickness": "1.0", "ContrastBolusAgent": "Iomeron"})
              for name in ("Arterial phase 1.0", "Portal venous 1.0", "Delayed 3 min 1.0")]
    assert one(upload(tmp_path, series=phases), area="liver_cancer").verdict == "usable"
    study = one(upload(tmp_path / "two", series=phases[:2]), area="liver_cancer")
    assert study.sequences_missing == ["DELAYED"] and study.verdict == "redo"


def test_required_sequences_apply_to_mr_only_where_the_policy_says(tmp_path):
    study = one(upload(tmp_path, "CT", 1), area="brain_tumor")  # a head CT is not asked for MRI sequences
    assert "missing_sequences" not in codes(study)


@pytest.mark.parametrize("area,missing", [("cardiac", ["CINE", "LGE"]), ("prostate", ["T2", "DWI", "DCE"]),
                                          ("breast", ["T1", "T2", "DWI", "DCE"])])
def test_required_sequences_per_area(tmp_path, area, missing):
    study = one(upload(tmp_path, "MR", 1, SeriesDescription="Series 5"), area=area)
    assert study.sequences_missing == missing


@pytest.mark.parametrize("tags,missing", [
    ({"PatientWeight": None}, ["PatientWeight"]),
    ({"PatientWeight": "0"}, ["PatientWeight"]),
    ({"RadiopharmaceuticalInformationSequence": None}, ["RadionuclideTotalDose", "RadiopharmaceuticalStartTime"]),
])
def test_pet_suv_data_missing_means_review(tmp_path, tags, missing):
    study = one(upload(tmp_path, "PT", 1, **tags))
    assert study.verdict == "review" and list(codes(study)["pet_suv_data_missing"].missing) == missing


@pytest.mark.parametrize("answer,verdict", [("yes", "redo"), ("unsure", "review"), ("no", "usable")])
def test_symptoms_changed(tmp_path, answer, verdict):
    study = one(upload(tmp_path, "CT", 1), symptoms=answer)
    assert study.verdict == verdict and ("symptoms_changed" in codes(study)) == (answer != "no")


def test_infection_work_up_redoes_every_study(tmp_path):
    upload(tmp_path, "CT", 1)
    upload(tmp_path, "MR", 2)
    report = check([tmp_path], Answers(visit=VISIT, infection="yes"))
    assert [s.verdict for s in report.studies] == ["redo", "redo"] and report.overall == "redo"
    assert all("infection_in_house" in codes(s) for s in report.studies)


def test_study_notes(tmp_path):
    upload(tmp_path, "MR", 1, private=True)
    study = one(tmp_path)
    assert {n.code for n in study.notes} == {"bring_english_report", "private_tags"}


def test_jpeg2000_note(tmp_path):
    ds = make_dataset("CT", study_date=VISIT - dt.timedelta(days=1))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.90"
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(60)])
    ds["PixelData"].VR = "OB"
    write(ds, tmp_path / "IMG1")
    study = one(tmp_path)
    assert "jpeg2000" in {n.code for n in study.notes}
    assert study.series[0].transfer_syntax == "1.2.840.10008.1.2.4.90"


def test_set_notes_several_facilities_older_duplicate_and_not_dicom(tmp_path):
    upload(tmp_path, "CT", 100, InstitutionName="Hospital A")
    upload(tmp_path, "CT", 10, InstitutionName="Hospital B")
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    report = check([tmp_path], Answers(visit=VISIT))
    assert {n.code for n in report.notes} == {"several_facilities", "not_dicom"}
    newer, older = report.studies
    assert newer.age_days == 10 and "older_duplicate" in {n.code for n in older.notes}
    assert "older_duplicate" not in {n.code for n in newer.notes}


def test_overall_is_the_worst_study_and_no_dicom_without_scans(tmp_path):
    upload(tmp_path, "CT", 1)
    upload(tmp_path, "US", 1)
    assert check([tmp_path], Answers(visit=VISIT)).overall == "redo"
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no scans here")
    assert check([empty], Answers(visit=VISIT)).overall == "no_dicom"


def test_secondary_captures_and_dose_reports_inside_a_study_do_not_decide(tmp_path):
    series = [SeriesSpec("CT", 2, {"SliceThickness": "1.0"}), SeriesSpec("SC", 1, {"SeriesDescription": "Dose Report"}),
              SeriesSpec("SR", 1, {"SeriesDescription": "Radiation Dose SR"})]
    study = one(upload(tmp_path, series=series))
    assert study.modality == "CT" and study.verdict == "usable" and len(study.series) == 3
