"""The real-scanner corpus: every hand-labelled series classifies to its label (CI holds the line).

The header-only corpus is rebuilt from local snapshots of public repositories by
tests/corpus/rebuild.py; without it the corpus tests skip, naming that script.
"""
from __future__ import annotations

import tomllib

import pytest

from rules.policy import load
from tests.corpus.score import DATA, LABELS, score, summary

HAS_CORPUS = DATA.is_dir() and any(DATA.glob("*/*/*.dcm"))
needs_corpus = pytest.mark.skipif(not HAS_CORPUS, reason="no corpus: run `python tests/corpus/rebuild.py` "
                                                         "(needs the snapshots named in tests/corpus/SOURCES.toml)")


def test_every_label_has_a_reason_and_a_source():
    entries = tomllib.loads(LABELS.read_text("utf-8"))["series"]
    sources = {source["name"] for source in tomllib.loads((LABELS.parent / "SOURCES.toml").read_text("utf-8"))["source"]}
    assert len(entries) > 200
    for entry in entries:
        assert entry["why"].strip() and entry["code"].isupper(), entry
        assert entry["source"] in sources, entry


@pytest.fixture(scope="module")
def results():
    return score()


@needs_corpus
def test_no_series_fills_a_slot_it_is_not(results):
    wrong = [r for r in results if r.outcome == "wrong_fill"]
    assert not wrong, "\n".join(f"{r.source}/{r.folder} {r.description!r}: {r.label} -> {r.predicted}" for r in wrong)


@needs_corpus
def test_at_least_98_percent_right(results):
    counts = summary(results)["all"]
    assert len(results) > 200  # the whole corpus was read, not a fragment
    assert counts["right"] / len(results) >= 0.98, counts


@needs_corpus
def test_every_labelled_series_classifies_to_its_label(results):
    wrong = [r for r in results if r.outcome != "right"]
    assert not wrong, "\n".join(f"{r.outcome}: {r.source}/{r.folder} {r.description!r}: {r.label} -> {r.predicted}"
                                for r in wrong)


@needs_corpus
def test_the_corpus_covers_the_slots_it_can(results):
    # the public corpora hold brain MR: the DWI, T1, T2 and FLAIR slots are exercised by real headers
    labelled = {r.label for r in results}
    assert {"DWI", "DTI", "T1", "T2", "FLAIR"} <= labelled
    assert set(load().required_codes) & labelled
