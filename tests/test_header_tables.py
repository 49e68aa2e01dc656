"""The reader's own tables and caches: the tag table matches the DICOM dictionary, cached facts keep each file's name."""
from __future__ import annotations

from pydicom.datadict import dictionary_VR, tag_for_keyword

from rules.facts import ImageFacts
from rules.header import read_image
from rules.tags import NEEDED
from tests.factory import make_dataset, write


def test_the_tag_table_matches_pydicoms_dictionary():
    for keyword, (tag, vr) in NEEDED.items():
        assert (tag, vr) == (tag_for_keyword(keyword), dictionary_VR(tag_for_keyword(keyword))), keyword


def _read(path) -> ImageFacts:
    with open(path, "rb") as fp:
        return read_image(fp, path.name, path.stat().st_size)


def test_files_with_the_same_header_keep_their_own_names(tmp_path):
    first = _read(write(make_dataset("CT", study_uid="1.2", series_uid="1.2.3", SliceThickness="1.0"), tmp_path / "IM1"))
    second = _read(write(make_dataset("CT", study_uid="1.2", series_uid="1.2.3", SliceThickness="1.0"), tmp_path / "IM2"))
    assert (first.source, second.source) == ("IM1", "IM2")
    assert first == ImageFacts(**{**{name: getattr(second, name) for name in ImageFacts.__slots__}, "source": "IM1"})


def test_a_value_that_differs_is_not_taken_from_the_cache(tmp_path):
    thin = _read(write(make_dataset("CT", study_uid="1.2", series_uid="1.2.3", SliceThickness="1.0"), tmp_path / "IM1"))
    thick = _read(write(make_dataset("CT", study_uid="1.2", series_uid="1.2.3", SliceThickness="5.0"), tmp_path / "IM2"))
    assert (thin.slice_thickness, thick.slice_thickness) == (1.0, 5.0)
