"""The patient's answers that the policy depends on, checked against the policy's codes."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from rules.errors import ScanPassError
from rules.policy import load

SYMPTOMS = ("yes", "no", "unsure")
INFECTION = ("yes", "no")


class AnswerError(ScanPassError):
    """An answer outside the allowed codes. `field` names the answer, `value` what was given."""

    def __init__(self, field: str, value: str, allowed: tuple[str, ...] | list[str]):
        self.field, self.value, self.allowed = field, value, tuple(allowed)
        super().__init__(f"unknown {field} {value!r}; choose one of: {', '.join(self.allowed)}")


@dataclass(frozen=True, slots=True)
class PaperScan:
    """A scan the patient has only as a report or photo: its type and date, asked with buttons."""

    modality: str
    date: dt.date | None

    def to_json(self) -> dict:
        return {"modality": self.modality, "date": self.date.isoformat() if self.date else None}


@dataclass(frozen=True, slots=True)
class Answers:
    condition: str = "other"
    area: str = "other"
    visit: dt.date = field(default_factory=dt.date.today)
    symptoms: str = "no"
    infection: str = "no"
    paper_scans: tuple[PaperScan, ...] = ()

    def __post_init__(self) -> None:
        policy = load()
        for name, allowed in (("condition", policy.conditions), ("area", policy.areas),
                              ("symptoms", SYMPTOMS), ("infection", INFECTION)):
            if getattr(self, name) not in allowed:
                raise AnswerError(name, getattr(self, name), allowed)

    @classmethod
    def from_dict(cls, answers: dict, today: dt.date | None = None) -> "Answers":
        """The checker's answers from a conversation's stored answers (ISO dates, codes)."""
        def date(value):
            return dt.date.fromisoformat(value) if value else None

        return cls(condition=answers.get("condition", "other"), area=answers.get("area", "other"),
                   visit=date(answers.get("visit")) or today or dt.date.today(),
                   symptoms=answers.get("symptoms", "no"), infection=answers.get("infection", "no"),
                   paper_scans=tuple(PaperScan(scan["modality"], date(scan.get("date")))
                                     for scan in answers.get("paper_scans", [])))

    def to_json(self) -> dict:
        return {"condition": self.condition, "area": self.area, "visit": self.visit.isoformat(),
                "symptoms": self.symptoms, "infection": self.infection,
                "paper_scans": [scan.to_json() for scan in self.paper_scans]}
