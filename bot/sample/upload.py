"""Writes a sample upload made of invented scans, to try the checker without patient data.

    scanpass sample ./data/sample

The folder gets what patients really send: a CT study as a folder of files, an
MRI study as a zip, a PET-CT disc image with a DICOMDIR (and the viewer program
and autorun file such discs carry), a PDF report and a damaged file.
"""
from __future__ import annotations

import datetime as dt
import io
import os
import tempfile
import zipfile
from pathlib import Path

import pycdlib
from pydicom.fileset import FileSet
from pydicom.uid import generate_uid

from bot.sample.scans import SeriesSpec, add_private_block, make_dataset, write, write_study

# A minimal one-page PDF, as a lab or radiology report would arrive.
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def _ct_folder(folder: Path, date: dt.date) -> None:
    write_study(folder, [
        SeriesSpec("CT", 2, {"StudyDescription": "CT Chest", "SeriesDescription": "Topogram 0.6 T20s", "ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"],
                             "SliceThickness": "0.6"}),
        SeriesSpec("CT", 40, {"StudyDescription": "CT Chest", "SeriesDescription": "Thorax 5.0 B31f", "SliceThickness": "5.0"}),
        SeriesSpec("CT", 20, {"StudyDescription": "CT Chest", "SeriesDescription": "Thorax 5.0 B70f lung", "SliceThickness": "5.0"}),
    ], study_date=date, private=True, rows=64, columns=64, prefix="IM")


def _mr_zip(path: Path, date: dt.date) -> None:
    common = {"Manufacturer": "GE MEDICAL SYSTEMS", "MagneticFieldStrength": "15000", "BodyPartExamined": "HEAD",
              "InstitutionName": "Example Imaging Centre", "StudyDescription": "MRI Brain with contrast"}
    series = [
        ("Ax T2 FRFSE", {"ScanningSequence": "SE", "RepetitionTime": "4500", "EchoTime": "102"}),
        ("Ax T2 FLAIR", {"ScanningSequence": ["SE", "IR"], "InversionTime": "2200", "RepetitionTime": "9000", "EchoTime": "120"}),
        ("Sag T1 FSE", {"ScanningSequence": "SE", "RepetitionTime": "500", "EchoTime": "10"}),
        ("Ax T1 FSE +C", {"ScanningSequence": "SE", "RepetitionTime": "500", "EchoTime": "10", "ContrastBolusAgent": "Gadovist"}),
    ]
    with tempfile.TemporaryDirectory() as scratch:
        write_study(Path(scratch), [SeriesSpec("MR", 6, {"SeriesDescription": name, **common, **tags}) for name, tags in series],
                    study_date=date, rows=64, columns=64, prefix="MR")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(Path(scratch).iterdir()):
                archive.write(file, f"MRI_BRAIN/{file.name}")


def _pet_disc(path: Path, date: dt.date) -> None:
    """A PET-CT disc: DICOMDIR, the files it indexes, a viewer and an autorun file. PatientWeight is missing."""
    study_uid = generate_uid()
    fileset = FileSet()
    for modality, count, tags in (("PT", 12, {"SeriesDescription": "PET WB AC", "PatientWeight": None}),
                                  ("CT", 12, {"SeriesDescription": "CT WB 3.75 AC", "SliceThickness": "3.75"})):
        series_uid = generate_uid()
        for index in range(count):
            ds = make_dataset(modality, study_uid=study_uid, series_uid=series_uid, study_date=date, rows=32, columns=32,
                              InstitutionName="Example Imaging Centre", StudyDescription="PET-CT FDG whole body",
                              InstanceNumber=index + 1, **tags)
            fileset.add(add_private_block(ds, size=256))
    with tempfile.TemporaryDirectory() as scratch:
        fileset.write(scratch)
        iso = pycdlib.PyCdlib()
        iso.new(interchange_level=1, joliet=3)
        extras = {"AUTORUN.INF": b"[autorun]\r\nopen=VIEWER\\VIEWER.EXE\r\n", "VIEWER/VIEWER.EXE": b"MZ" + bytes(510)}
        for root, dirs, files in os.walk(scratch):
            relative = Path(root).relative_to(scratch)
            for name in sorted(dirs):
                folder = "/" + (relative / name).as_posix()
                iso.add_directory(folder.upper(), joliet_path=folder)
            for name in sorted(files):
                data = (Path(root) / name).read_bytes()
                target = "/" + (relative / name).as_posix()
                iso.add_fp(io.BytesIO(data), len(data), f"{target.upper()}.;1", joliet_path=target)
        iso.add_directory("/VIEWER", joliet_path="/VIEWER")
        for name, data in extras.items():
            iso.add_fp(io.BytesIO(data), len(data), f"/{name}" + ("" if "." in name else ".") + ";1", joliet_path=f"/{name}")
        iso.write(str(path))
        iso.close()


def write_sample(folder: Path, visit: dt.date | None = None) -> list[Path]:
    """Write the sample upload into `folder`; scans are dated relative to the visit day. Returns the paths to check."""
    visit = visit or dt.date.today()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ct, mri, disc, pdf, broken = (folder / "ct-chest", folder / "mri-brain.zip", folder / "pet-ct-disc.iso",
                                  folder / "radiology-report.pdf", folder / "broken.dcm")
    if ct.exists():
        for old in ct.iterdir():
            old.unlink()
    _ct_folder(ct, visit - dt.timedelta(days=40))
    _mr_zip(mri, visit - dt.timedelta(days=20))
    _pet_disc(disc, visit - dt.timedelta(days=30))
    pdf.write_bytes(PDF)
    write(make_dataset("CT", rows=64, columns=64), broken)
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # cut short, as an interrupted copy leaves it
    return [ct, mri, disc, pdf, broken]
