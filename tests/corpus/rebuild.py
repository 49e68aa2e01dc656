"""Rebuilds the real-scanner corpus (header-only copies) from local snapshots of public repositories.

    python tests/corpus/rebuild.py            # writes tests/corpus/data/<source>/<series>/NNN.dcm
    python tests/corpus/rebuild.py --survey   # prints one JSON line per series, for labelling by hand

Each source in `SOURCES.toml` names the repository, the commit read, the folders read and
the licence. The snapshots are bare git directories (the `fetch` tool puts them under
/work/.mirror/OWNER+NAME/repo; `SCANPASS_CORPUS_MIRRORS` points elsewhere). Files are read
with `git cat-file`, never checked out; pixel data is dropped, and the names, identifiers and
birth dates of the person scanned are blanked (the sources are phantoms and volunteers with
anonymised headers; this is a second belt). At most `MAX_FILES_PER_SERIES` files of a series
are kept, spread over the series so that b-values, trigger times and temporal positions vary
as they do in the whole series.

The copies are not committed: the snapshot tool allows data files only in the shared folder,
so tests/test_corpus.py skips, naming this script, when tests/corpus/data is absent.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pydicom
import pydicom.uid
from pydicom.errors import InvalidDicomError

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "SOURCES.toml"
DATA = HERE / "data"
MIRRORS = Path(os.environ.get("SCANPASS_CORPUS_MIRRORS", "/work/.mirror"))
MAX_FILES_PER_SERIES = 48
MAX_BLOB_BYTES = 4 * 1024 * 1024
NOT_DICOM_SUFFIXES = (".nii", ".json", ".bval", ".bvec", ".txt", ".md", ".pdf", ".xlsx", ".csv", ".py", ".png",
                      ".jpg", ".sh", ".m", ".gitignore", ".tsv", ".html", ".xml", ".yml", ".yaml", ".ini", ".pgm",
                      ".zip", ".7z", ".nii.gz", ".mat", ".par", ".rec", ".log", ".cfg", ".js", ".cpp", ".h", ".c")
BLANKED = ("PatientName", "PatientID", "PatientBirthDate", "OtherPatientNames", "OtherPatientIDs",
           "PatientAddress", "PatientTelephoneNumbers", "ReferringPhysicianName", "PerformingPhysicianName",
           "OperatorsName", "InstitutionAddress")


def load_sources() -> list[dict]:
    return tomllib.loads(SOURCES.read_text(encoding="utf-8"))["source"]


def git_dir(source: dict) -> Path:
    return MIRRORS / source["repo"].replace("/", "+") / "repo"


def blobs(source: dict) -> list[tuple[str, str]]:
    """(sha, path) of the files under the source's folders at its commit, small enough and not obviously other data."""
    listing = subprocess.run(["git", "--git-dir", str(git_dir(source)), "ls-tree", "-r", "-l", source["commit"], "--",
                              *source.get("include", ["."])], capture_output=True, text=True, check=True).stdout
    found = []
    for line in listing.splitlines():
        meta, path = line.split("\t", 1)
        _, kind, sha, size = meta.split()
        if kind != "blob" or not size.isdigit() or int(size) > MAX_BLOB_BYTES or int(size) < 256:
            continue
        if path.lower().endswith(NOT_DICOM_SUFFIXES) or any(part in path for part in source.get("exclude", [])):
            continue
        found.append((sha, path))
    return sorted(found, key=lambda item: item[1])


def read_blobs(source: dict, items: list[tuple[str, str]]):
    """Yields (path, bytes) for each blob present in the snapshot (large files may be absent)."""
    process = subprocess.Popen(["git", "--git-dir", str(git_dir(source)), "cat-file", "--batch"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdin and process.stdout
    for sha, path in items:
        process.stdin.write(sha.encode() + b"\n")
        process.stdin.flush()
        header = process.stdout.readline().split()
        if len(header) < 3 or header[1] != b"blob":
            continue
        content = process.stdout.read(int(header[2]))
        process.stdout.read(1)
        yield path, content
    process.stdin.close()
    process.wait()


def header_of(content: bytes):
    if content[:2] == b"\x1f\x8b":
        try:
            content = gzip.decompress(content)
        except OSError:
            return None
    if content[:4] == b"version " or b"git-lfs" in content[:64]:
        return None  # an LFS pointer, not the file
    try:
        ds = pydicom.dcmread(io.BytesIO(content), stop_before_pixels=True, force=content[128:132] != b"DICM")
    except (InvalidDicomError, Exception):
        return None
    if "SOPClassUID" not in ds and "SeriesInstanceUID" not in ds:
        return None
    return ds


def spread(items: list, keep: int) -> list:
    if len(items) <= keep:
        return items
    step = (len(items) - 1) / (keep - 1)
    return [items[round(index * step)] for index in range(keep)]


def series_of(source: dict) -> dict[str, list[tuple[str, pydicom.Dataset]]]:
    series: dict[str, list[tuple[str, pydicom.Dataset]]] = {}
    for path, content in read_blobs(source, blobs(source)):
        ds = header_of(content)
        if ds is None:
            continue
        uid = str(ds.get("SeriesInstanceUID", "")) or f"{Path(path).parent}"
        series.setdefault(uid, []).append((path, ds))
    return series


def folder_name(uid: str, datasets: list) -> str:
    number = datasets[0][1].get("SeriesNumber", "")
    return f"{number}_{hashlib.sha1(uid.encode()).hexdigest()[:10]}"


def scrub(ds: pydicom.Dataset) -> pydicom.Dataset:
    for keyword in BLANKED:
        if keyword in ds:
            ds.data_element(keyword).value = ""
    return ds


def save(ds: pydicom.Dataset, path: Path) -> None:
    """Writes the header; a transfer syntax pydicom cannot write is replaced by explicit little endian."""
    try:
        ds.save_as(path, enforce_file_format=False)
    except (ValueError, NotImplementedError):
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        ds.save_as(path, enforce_file_format=False, implicit_vr=False, little_endian=True)


def survey_row(source: dict, uid: str, items: list) -> dict:
    ds = items[0][1]

    def get(keyword):
        value = ds.get(keyword, "")
        return str(value) if value not in (None, "") else ""

    b_values = set()
    triggers, temporal = set(), set()
    for _, item in items:
        for keyword in ("DiffusionBValue",):
            if keyword in item:
                b_values.add(str(item.get(keyword)))
        if "TriggerTime" in item:
            triggers.add(str(item.TriggerTime))
        if "TemporalPositionIdentifier" in item:
            temporal.add(str(item.TemporalPositionIdentifier))
    return {
        "source": source["name"], "uid": uid, "path": str(Path(items[0][0]).parent), "files": len(items),
        "sop": get("SOPClassUID"), "modality": get("Modality"), "maker": get("Manufacturer"), "model": get("ManufacturerModelName"),
        "field": get("MagneticFieldStrength"), "desc": get("SeriesDescription"), "protocol": get("ProtocolName"),
        "seqname": get("SequenceName") or get("PulseSequenceName"), "image_type": get("ImageType"),
        "scanning": get("ScanningSequence"), "variant": get("SequenceVariant"), "options": get("ScanOptions"),
        "tr": get("RepetitionTime"), "te": get("EchoTime"), "ti": get("InversionTime"), "flip": get("FlipAngle"),
        "b": sorted(b_values), "agent": get("ContrastBolusAgent"), "body": get("BodyPartExamined"),
        "frames": get("NumberOfFrames"), "temporal": get("NumberOfTemporalPositions") or len(temporal),
        "triggers": len(triggers), "acq": get("MRAcquisitionType"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--survey", action="store_true", help="print one JSON line per series instead of writing files")
    parser.add_argument("--only", help="only this source name")
    args = parser.parse_args(argv)
    written = 0
    for source in load_sources():
        if args.only and source["name"] != args.only:
            continue
        if not git_dir(source).is_dir():
            print(f"skipped {source['name']}: no snapshot at {git_dir(source)}", file=sys.stderr)
            continue
        for uid, items in sorted(series_of(source).items()):
            if args.survey:
                print(json.dumps(survey_row(source, uid, items), ensure_ascii=False))
                continue
            folder = DATA / source["name"] / folder_name(uid, items)
            folder.mkdir(parents=True, exist_ok=True)
            for index, (_, ds) in enumerate(spread(items, MAX_FILES_PER_SERIES)):
                for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
                    if keyword in ds:
                        del ds[keyword]
                save(scrub(ds), folder / f"{index:03d}.dcm")
                written += 1
    if not args.survey:
        print(f"wrote {written} header-only files under {DATA}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
