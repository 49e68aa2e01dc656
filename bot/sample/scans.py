"""Builds invented DICOM files: the sample study `scanpass sample` writes, and the test fixtures. No patient data.

    ds = make_dataset("MR", SeriesDescription="t2_tse_tra", MagneticFieldStrength=3)
    write(ds, tmp_path / "IM1")
    study_dir = write_series(tmp_path, [ct_series(thickness=1.0, images=5)])
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

SOP_CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "PT": "1.2.840.10008.5.1.4.1.1.128",
    "CR": "1.2.840.10008.5.1.4.1.1.1",
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",
    "MG": "1.2.840.10008.5.1.4.1.1.1.2",
    "NM": "1.2.840.10008.5.1.4.1.1.20",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "XA": "1.2.840.10008.5.1.4.1.1.12.1",
    "RF": "1.2.840.10008.5.1.4.1.1.12.2",
    "OT": "1.2.840.10008.5.1.4.1.1.7",
    "SC": "1.2.840.10008.5.1.4.1.1.7",
    "SR": "1.2.840.10008.5.1.4.1.1.88.22",
    "ENHANCED_MR": "1.2.840.10008.5.1.4.1.1.4.1",
    "ENHANCED_CT": "1.2.840.10008.5.1.4.1.1.2.1",
}


def make_dataset(
    modality: str = "CT",
    *,
    study_uid: str | None = None,
    series_uid: str | None = None,
    study_date: dt.date | str | None = dt.date(2026, 11, 1),
    pixels: bytes | None = None,
    rows: int = 8,
    columns: int = 8,
    **tags: Any,
) -> Dataset:
    """One image: the identity tags a scanner writes plus any keyword=value given.

    `pixels=None` writes a tiny 8x8 image; pass bytes for a real size. A tag given as None is left out.
    """
    ds = Dataset()
    meta = FileMetaDataset()
    sop_class = SOP_CLASSES.get(modality, SOP_CLASSES["OT"])
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    if study_date is not None:
        ds.StudyDate = study_date.strftime("%Y%m%d") if isinstance(study_date, dt.date) else study_date
        ds.SeriesDate = ds.StudyDate
    ds.Modality = "SC" if modality == "SC" else modality
    ds.Manufacturer = "SIEMENS"
    ds.InstitutionName = "Example General Hospital"
    ds.StudyDescription = f"{modality} study"
    ds.SeriesDescription = f"{modality} series"
    ds.PatientName = "Test^Sample"
    ds.PatientID = "SAMPLE-0001"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyTime = "093000"
    ds.StudyID = "1"
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    if modality == "CT":
        ds.SliceThickness = "1.0"
        ds.BodyPartExamined = "CHEST"
        ds.KVP = "120"
    elif modality == "MR":
        ds.MagneticFieldStrength = "1.5"
        ds.BodyPartExamined = "HEAD"
        ds.SliceThickness = "5.0"
    elif modality == "PT":
        ds.BodyPartExamined = "WHOLEBODY"
        ds.PatientWeight = "70"
        ds.SliceThickness = "3.27"
        item = Dataset()
        item.Radiopharmaceutical = "Fluorodeoxyglucose"
        item.RadiopharmaceuticalStartTime = "091500"
        item.RadionuclideTotalDose = "370000000"
        item.RadionuclideHalfLife = "6586.2"
        ds.RadiopharmaceuticalInformationSequence = Sequence([item])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    for keyword, value in tags.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.PixelData = pixels if pixels is not None else bytes(rows * columns * 2)
    return ds


def add_private_block(ds: Dataset, group: int = 0x0029, creator: str = "SIEMENS CSA HEADER", size: int = 2048) -> Dataset:
    """A vendor private block like Siemens' CSA header: an opaque blob plus a few values."""
    block = ds.private_block(group, creator, create=True)
    block.add_new(0x10, "OB", os.urandom(size))
    block.add_new(0x08, "CS", "IMAGE NUM 4")
    return ds


def write(ds: Dataset, path: Path, *, implicit: bool = False, preamble: bool = True) -> Path:
    """Write a file: Part 10 by default; `preamble=False` writes a bare dataset with no meta group."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    if preamble:
        ds.save_as(path, enforce_file_format=True)
    else:
        ds.save_as(path, implicit_vr=implicit, little_endian=True)
    return path


@dataclass
class SeriesSpec:
    """A series to write: `images` files sharing one SeriesInstanceUID."""

    modality: str = "CT"
    images: int = 3
    tags: dict[str, Any] = field(default_factory=dict)
    series_uid: str = field(default_factory=generate_uid)


def write_study(
    folder: Path,
    series: list[SeriesSpec],
    *,
    study_uid: str | None = None,
    study_date: dt.date | str | None = dt.date(2026, 11, 1),
    private: bool = False,
    pixels: bytes | None = None,
    rows: int = 8,
    columns: int = 8,
    prefix: str = "IM",
) -> list[Path]:
    """Write one study (one StudyInstanceUID) as files named like a scanner's export."""
    study_uid = study_uid or generate_uid()
    paths = []
    counter = 0
    for number, spec in enumerate(series, start=1):
        for index in range(spec.images):
            ds = make_dataset(
                spec.modality,
                study_uid=study_uid,
                series_uid=spec.series_uid,
                study_date=study_date,
                pixels=pixels,
                rows=rows,
                columns=columns,
                **{"SeriesNumber": number, "InstanceNumber": index + 1, **spec.tags},
            )
            if private:
                add_private_block(ds)
            counter += 1
            paths.append(write(ds, Path(folder) / f"{prefix}{counter:05d}"))
    return paths
