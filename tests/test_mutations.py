"""A mutation fuzzer over real and generated files: every mutated input gives a report, and the good file beside it is checked.

Seeds are the small scanner files pydicom ships (pydicom's package data) and generated images of each shape
the reader walks. Each input is a seed with byte flips, a truncation or an inserted length, uploaded as a
loose file or inside a zip, a 7z or a tar.gz (whose own bytes may be damaged too), beside one good image.
The seed is fixed, so a failure names an input that can be made again. CI runs a few hundred inputs;
`SCANPASS_FUZZ_RUNS=5000` makes a nightly-size run.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import os
import random
import tarfile
import zipfile
from pathlib import Path

import pydicom
import pytest

from rules import Answers, check
from tests.archives import make_7z
from tests.factory import add_private_block, make_dataset, write
from tests.test_fuzz import SEEDS as GENERATED

RUNS = int(os.environ.get("SCANPASS_FUZZ_RUNS", "240"))
PER_UPLOAD = 4  # mutated inputs per upload, so a check costs less per input
SEED = 13
SHIPPED = Path(pydicom.__file__).parent / "data" / "test_files"
LENGTHS = (b"\xff\xff\xff\xff", b"\xfe\xff\xff\x7f", b"\x00\x00\x00\x80", b"\x00\x00\x01\x00")
CONTAINERS = ("file", "zip", "7z", "tar.gz")


def shipped_seeds() -> list[bytes]:
    """pydicom's own small test files (those in its package, not the ones it downloads)."""
    files = sorted(path for path in SHIPPED.rglob("*") if path.is_file() and path.stat().st_size < 64 * 1024)
    return [path.read_bytes() for path in files if path.read_bytes()[128:132] == b"DICM"]


SEEDS = shipped_seeds() + GENERATED


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(out)) if out else 0
        action = rng.choice(("flip", "flip", "truncate", "length", "insert"))
        if action == "flip" and out:
            out[at] ^= rng.randint(1, 255)
        elif action == "truncate":
            del out[at:]
        elif action == "length" and len(out) > at + 4:
            out[at : at + 4] = rng.choice(LENGTHS)
        elif action == "insert":
            out[at:at] = rng.choice(LENGTHS) + rng.randbytes(rng.randint(0, 8))
    return bytes(out)


def pack(folder: Path, kind: str, members: list[bytes], rng: random.Random) -> list[Path]:
    if kind == "file":
        paths = [folder / f"IM{index}" for index in range(len(members))]
        for path, data in zip(paths, members):
            path.write_bytes(data)
        return paths
    path = folder / f"upload.{kind}"
    names = {f"DICOM/IM{index}": data for index, data in enumerate(members)}
    if kind == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in names.items():
                archive.writestr(name, data)
    elif kind == "7z":
        make_7z(path, names)
    else:
        with tarfile.open(path, "w:gz") as archive:
            for name, data in names.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    if rng.random() < 0.3:  # the container's own bytes damaged too
        path.write_bytes(mutate(path.read_bytes(), rng))
    return [path]


def good_image(folder: Path) -> Path:
    return write(add_private_block(make_dataset("CT", study_date=dt.date(2026, 11, 1))), folder / "good" / "IM1")


@pytest.mark.parametrize("round_", range(max(1, RUNS // PER_UPLOAD)))
def test_mutated_real_and_generated_files_always_give_a_report(tmp_path, round_):
    rng = random.Random(f"{SEED}-{round_}")
    kind = CONTAINERS[round_ % len(CONTAINERS)]
    members = [mutate(rng.choice(SEEDS), rng) for _ in range(PER_UPLOAD)]
    paths = pack(tmp_path, kind, members, rng) + [good_image(tmp_path)]
    report = check(paths, Answers())
    files = report.files
    assert files.dicom >= 1, files  # the good image beside the mutated ones is still checked
    listed = files.dicom + files.dicomdir + len(files.not_dicom) + len(files.unreadable) + len(files.ignored)
    assert listed >= 2  # the good image, and at least one entry for what was mutated
    assert all(error for _name, error, _limit in files.unreadable)  # each unreadable file with its reason
    json.dumps(report.to_json())
