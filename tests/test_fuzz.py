"""Mutated DICOM files and archives never crash the checker: it always returns a report that accounts for the file."""
from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from rules import Answers, check
from tests.factory import add_private_block, make_dataset, write

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _seeds() -> list[bytes]:
    """Valid files of each shape the reader handles: explicit, implicit, bare, PET sequences, enhanced MR."""
    import tempfile

    pet = make_dataset("PT")
    add_private_block(pet, size=512)
    enhanced = make_dataset("ENHANCED_MR", Modality="MR")
    frame = Dataset()
    echo = Dataset()
    echo.EffectiveEchoTime = 100
    frame.MREchoSequence = Sequence([echo])
    enhanced.PerFrameFunctionalGroupsSequence = Sequence([frame])
    enhanced.NumberOfFrames = 1
    out = []
    with tempfile.TemporaryDirectory() as folder:
        for index, (ds, options) in enumerate([
            (make_dataset("CT"), {}), (make_dataset("MR"), {"implicit": True}), (pet, {}),
            (make_dataset("CT"), {"preamble": False}), (make_dataset("MR"), {"preamble": False, "implicit": True}),
            (enhanced, {}),
        ]):
            out.append(write(ds, Path(folder) / f"seed{index}", **options).read_bytes())
    return out


SEEDS = _seeds()


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["flip", "overwrite", "truncate", "insert", "length"]))
        at = draw(st.integers(0, len(data) - 1)) if data else 0
        if action == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif action == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at : at + len(chunk)] = chunk
        elif action == "truncate":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif action == "length" and len(data) > at + 4:
            data[at : at + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\xfe\xff\xff\x7f", b"\x00\x00\x00\x80"]))
    return bytes(data)


def accounted(report, expected_files: int) -> None:
    files = report.files
    total = files.dicom + files.dicomdir + len(files.not_dicom) + len(files.unreadable) + len(files.ignored)
    assert total >= expected_files
    json.dumps(report.to_json())  # always serialisable
    assert report.overall in {"usable", "review", "redo", "no_dicom"}


@FUZZ
@given(data=mutated())
def test_mutated_dicom_always_gives_a_report(tmp_path, data):
    path = tmp_path / "IM0001"
    path.write_bytes(data)
    accounted(check([path], Answers()), 1)


@FUZZ
@given(members=st.lists(mutated(), min_size=1, max_size=4), kind=st.sampled_from(["zip", "tar.gz"]),
       damage=st.one_of(st.none(), st.tuples(st.integers(0, 10_000), st.binary(min_size=1, max_size=32))))
def test_mutated_archives_always_give_a_report(tmp_path, members, kind, damage):
    buffer = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for index, data in enumerate(members):
                archive.writestr(f"DICOM/IM{index}", data)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for index, data in enumerate(members):
                info = tarfile.TarInfo(f"DICOM/IM{index}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    raw = bytearray(buffer.getvalue())
    if damage:
        at, chunk = damage
        at %= len(raw)
        raw[at : at + len(chunk)] = chunk
    path = tmp_path / f"upload.{kind}"
    path.write_bytes(bytes(raw))
    accounted(check([path], Answers()), 1)
