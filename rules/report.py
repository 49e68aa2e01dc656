"""The checker's result and its JSON form (the contract in PRODUCT.md: names here are relied on).

`Report.to_json()` gives exactly the documented fields plus a few additions
(`answers`, `files.ignored`, `files.dicomdir`, per-study `description`,
`institution`, `date_source`, per-reason `verdict`); renaming any field breaks
coordinators' tools.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from rules.answers import Answers
from rules.verdict import Verdict

NO_DICOM = "no_dicom"


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value not in (None, (), [])}


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a study got its verdict: a code and the facts behind it (values in days, mm, tesla)."""

    code: str
    verdict: Verdict
    value: Any = None
    limit: float | int | None = None
    upper: float | int | None = None
    missing: tuple[str, ...] = ()
    found: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return _clean({"code": self.code, "verdict": str(self.verdict), "value": self.value, "limit": self.limit,
                       "upper": self.upper, "missing": list(self.missing), "found": list(self.found)})


@dataclass(frozen=True, slots=True)
class Note:
    """Advice that never changes a verdict."""

    code: str
    value: Any = None

    def to_json(self) -> dict[str, Any]:
        return _clean({"code": self.code, "value": self.value})


@dataclass(frozen=True, slots=True)
class SeriesReport:
    series_instance_uid: str
    description: str
    modality: str
    images: int
    slice_thickness: float | None
    field_strength: float | None
    sequence: str | None
    transfer_syntax: str
    series_number: int | None = None
    body_part: str = ""
    series_date: dt.date | None = None
    institution: str = ""
    private_tags: bool = False
    pet_suv: dict[str, Any] | None = None  # PET only: the values SUV needs, as found

    def to_json(self) -> dict[str, Any]:
        return {"series_instance_uid": self.series_instance_uid, "description": self.description,
                "modality": self.modality, "images": self.images, "slice_thickness": self.slice_thickness,
                "field_strength": self.field_strength, "sequence": self.sequence,
                "transfer_syntax": self.transfer_syntax, "series_number": self.series_number,
                "body_part": self.body_part or None,
                "series_date": self.series_date.isoformat() if self.series_date else None,
                "institution": self.institution or None, "private_tags": self.private_tags,
                **({"pet_suv": self.pet_suv} if self.pet_suv is not None else {})}


@dataclass(slots=True)
class StudyReport:
    study_instance_uid: str
    modality: str
    body_part: str
    study_date: dt.date | None
    age_days: int | None
    verdict: Verdict
    reasons: list[Reason]
    notes: list[Note]
    series: list[SeriesReport]
    sequences_found: list[str]
    sequences_missing: list[str]
    description: str = ""
    institution: str = ""
    date_source: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "study_instance_uid": self.study_instance_uid,
            "modality": self.modality,
            "body_part": self.body_part or None,
            "study_date": self.study_date.isoformat() if self.study_date else None,
            "age_days": self.age_days,
            "verdict": str(self.verdict),
            "reasons": [reason.to_json() for reason in self.reasons],
            "notes": [note.to_json() for note in self.notes],
            "series": [series.to_json() for series in self.series],
            "sequences_found": self.sequences_found,
            "sequences_missing": self.sequences_missing,
            "description": self.description,
            "institution": self.institution,
            "date_source": self.date_source,
        }


@dataclass(slots=True)
class Files:
    """What was found among the uploads besides studies."""

    dicom: int = 0
    dicomdir: int = 0
    not_dicom: list[tuple[str, str]] = field(default_factory=list)  # (name, kind)
    unreadable: list[tuple[str, str, Any]] = field(default_factory=list)  # (name, error code, limit)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (name, why)

    def to_json(self) -> dict[str, Any]:
        return {
            "dicom": self.dicom,
            "dicomdir": self.dicomdir,
            "not_dicom": [{"name": name, "kind": kind} for name, kind in self.not_dicom],
            "unreadable": [_clean({"name": name, "error": error, "limit": limit}) for name, error, limit in self.unreadable],
            "ignored": [{"name": name, "reason": why} for name, why in self.ignored],
        }


@dataclass(slots=True)
class Report:
    overall: str  # a Verdict value, or "no_dicom"
    notes: list[Note]
    studies: list[StudyReport]
    files: Files
    answers: Answers

    def count(self, verdict: Verdict) -> int:
        return sum(1 for study in self.studies if study.verdict == verdict)

    def to_json(self) -> dict[str, Any]:
        return {
            "overall": self.overall,
            "notes": [note.to_json() for note in self.notes],
            "studies": [study.to_json() for study in self.studies],
            "files": self.files.to_json(),
            "answers": self.answers.to_json(),
        }
