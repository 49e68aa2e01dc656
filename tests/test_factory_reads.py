"""The header reader against files the factory writes, in each encoding."""
import datetime as dt

from rules.header import NotDicom, Unreadable, read_image
from tests.factory import add_private_block, make_dataset, write


def read(path):
    with open(path, "rb") as fp:
        return read_image(fp, path.name, path.stat().st_size)


def test_part10_explicit_file_gives_its_facts(tmp_path):
    ds = make_dataset("MR", SeriesDescription="t2_tse_tra", MagneticFieldStrength="3", DiffusionBValue=None)
    facts = read(write(ds, tmp_path / "IM1"))
    assert facts.modality == "MR"
    assert facts.field_strength == 3.0
    assert facts.series_description == "t2_tse_tra"
    assert facts.study_date == dt.date(2026, 11, 1)
    assert facts.transfer_syntax == "1.2.840.10008.1.2.1"


def test_bare_implicit_dataset_without_preamble_is_dicom(tmp_path):
    ds = make_dataset("CT", SliceThickness="2.5")
    facts = read(write(ds, tmp_path / "noext", implicit=True, preamble=False))
    assert facts.modality == "CT"
    assert facts.slice_thickness == 2.5


def test_pet_dose_behind_a_private_block_is_read(tmp_path):
    ds = add_private_block(make_dataset("PT"), size=200_000)
    facts = read(write(ds, tmp_path / "pet"))
    assert facts.radionuclide_dose == 370000000.0
    assert facts.radiopharmaceutical_start == "091500"
    assert facts.patient_weight == 70.0
    assert facts.has_private_tags


def test_siemens_private_b_value_is_read(tmp_path):
    ds = make_dataset("MR", SeriesDescription="ep2d_diff")
    block = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    block.add_new(0x0C, "IS", "1000")
    facts = read(write(ds, tmp_path / "dwi"))
    assert facts.b_values == (1000.0,)


def test_truncated_pixel_data_is_unreadable(tmp_path):
    path = write(make_dataset("CT", rows=64, columns=64), tmp_path / "cut.dcm")
    path.write_bytes(path.read_bytes()[:-1000])
    result = read(path)
    assert isinstance(result, Unreadable) and result.error == "truncated"


def test_pdf_is_not_dicom(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    result = read(path)
    assert isinstance(result, NotDicom) and result.kind == "pdf"
