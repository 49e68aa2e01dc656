"""Scores the sequence classifier against the hand labels of the real-scanner corpus.

Used by benchmarks/sequence_accuracy.py (prints the table) and tests/test_corpus.py (holds the line).
Each folder under tests/corpus/data/<source>/ is one series; it is read by the checker's own header
reader, grouped into a SeriesFacts, classified, and compared with its label in labels.toml.

Outcomes per series (label L, classifier output P; slot() is the slot a code fills, area-independent):
  right         P == L ("NONE" labels are right when P is None)
  wrong_fill    slot(P) is a required slot and slot(P) != slot(L): a series put into a slot it is not
  missed        slot(L) is a required slot and P fills none
  unclassified  P is None and L is a known code
  other         any other disagreement between two codes that fill no slot
"""
from __future__ import annotations

import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from rules.facts import SeriesFacts
from rules.header import read_image
from rules.policy import load as load_policy
from rules.sequences import classify
from rules.slots import slot_of

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
LABELS = HERE / "labels.toml"
OUTCOMES = ("right", "wrong_fill", "missed", "unclassified", "other")


@dataclass(frozen=True)
class Scored:
    source: str
    folder: str
    vendor: str
    description: str
    label: str
    predicted: str | None
    outcome: str
    why: str


def labels() -> dict[tuple[str, str], dict]:
    return {(entry["source"], entry["uid"]): entry for entry in tomllib.loads(LABELS.read_text("utf-8"))["series"]}


def vendor_of(manufacturer: str) -> str:
    name = manufacturer.upper()
    for vendor, words in (("Siemens", ("SIEMENS",)), ("GE", ("GE ", "GE_", "GEMS", "G.E.", "GENERAL ELECTRIC")),
                          ("Philips", ("PHILIPS",)), ("Canon/Toshiba", ("CANON", "TOSHIBA")), ("United Imaging", ("UIH",))):
        if any(word in name + " " for word in words) or name == vendor.upper():
            return vendor
    return "other" if name else "unknown"


def outcome(label: str, predicted: str | None) -> str:
    policy = load_policy()
    truth = None if label == "NONE" else label
    if predicted == truth:
        return "right"
    filled, wanted = slot_of(predicted, "other", policy), slot_of(truth, "other", policy)
    if filled and filled != wanted:
        return "wrong_fill"
    if wanted and not filled:
        return "missed"
    if filled and filled == wanted:
        return "right"  # e.g. a DTI labelled DWI: the same slot, a finer name
    if predicted is None:
        return "unclassified"
    return "other"


def series_in(folder: Path) -> SeriesFacts | None:
    images = []
    for path in sorted(folder.glob("*.dcm")):
        with path.open("rb") as fp:
            result = read_image(fp, path.name, path.stat().st_size)
        facts = getattr(result, "facts", result)
        if hasattr(facts, "series_uid"):
            images.append(facts)
    if not images:
        return None
    grouped = SeriesFacts.group(images)
    return max(grouped.values(), key=lambda s: s.images)


def score(data: Path = DATA) -> list[Scored]:
    known = labels()
    results = []
    for folder in sorted(path for path in data.glob("*/*") if path.is_dir()):
        series = series_in(folder)
        if series is None:
            continue
        source = folder.parent.name
        entry = known.get((source, series.first.series_uid))
        if entry is None:
            continue
        predicted = classify(series)
        results.append(Scored(source, folder.name, vendor_of(series.first.manufacturer), entry["description"],
                              entry["code"], predicted, outcome(entry["code"], predicted), entry["why"]))
    return results


def summary(results: list[Scored]) -> dict[str, Counter]:
    table: dict[str, Counter] = defaultdict(Counter)
    for result in results:
        table[f"vendor {result.vendor}"][result.outcome] += 1
        table[f"code {result.label}"][result.outcome] += 1
        table["all"][result.outcome] += 1
    return table
