"""Enhanced multi-frame MR and CT: the facts live in per-frame and shared functional groups."""
from __future__ import annotations

import datetime as dt

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from rules import Answers, check
from tests.factory import make_dataset, write

VISIT = dt.date(2026, 11, 23)


def item(**values) -> Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def enhanced_mr_dwi(frames: int = 6) -> Dataset:
    ds = make_dataset("ENHANCED_MR", Modality="MR", study_date=VISIT - dt.timedelta(days=3), ImageType=None,
                      SeriesDescription="DWI_SENSE", Manufacturer="Philips", MagneticFieldStrength="3")
    ds.NumberOfFrames = frames
    ds.SharedFunctionalGroupsSequence = Sequence([item(
        MRImageFrameTypeSequence=Sequence([item(FrameType=["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"])]),
        PixelMeasuresSequence=Sequence([item(SliceThickness="4.0", PixelSpacing=["1", "1"])]),
        MREchoSequence=Sequence([item(EffectiveEchoTime=80)]),
    )])
    ds.PerFrameFunctionalGroupsSequence = Sequence([
        item(MRDiffusionSequence=Sequence([item(DiffusionBValue=[0, 500, 1000][index % 3], DiffusionDirectionality="ISOTROPIC")]))
        for index in range(frames)
    ])
    ds.PixelData = bytes(8 * 8 * 2 * frames)
    return ds


def test_enhanced_mr_diffusion_fills_the_dwi_slot(tmp_path):
    write(enhanced_mr_dwi(), tmp_path / "EMR1")
    report = check([tmp_path], Answers(area="prostate", visit=VISIT))
    study = report.studies[0]
    series = study.series[0]
    assert series.sequence == "DWI" and series.slice_thickness == 4.0 and series.field_strength == 3.0
    assert study.sequences_found == ["DWI"] and study.sequences_missing == ["T2", "DCE"]


def test_enhanced_ct_slice_thickness_comes_from_pixel_measures(tmp_path):
    ds = make_dataset("ENHANCED_CT", Modality="CT", study_date=VISIT - dt.timedelta(days=3), SliceThickness=None)
    ds.NumberOfFrames = 2
    ds.SharedFunctionalGroupsSequence = Sequence([item(
        PixelMeasuresSequence=Sequence([item(SliceThickness="3.0", PixelSpacing=["0.7", "0.7"])]))])
    ds.PerFrameFunctionalGroupsSequence = Sequence([item(), item()])
    ds.PixelData = bytes(8 * 8 * 2 * 2)
    write(ds, tmp_path / "ECT1")
    study = check([tmp_path], Answers(condition="active_oncology", visit=VISIT)).studies[0]
    assert {r.code: r.value for r in study.reasons}["ct_thin_slices_needed"] == 3.0
