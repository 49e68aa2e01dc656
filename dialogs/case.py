"""A patient's case as the conversation sees it: plain data, no ORM, no I/O.

`storage/` loads and saves it; `dialogs.step()` changes it. `state` is a stable
string (a state name of the flow), never a pickle.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Upload:
    """A file the patient sent, stored under DATA_DIR."""

    path: str        # where it lives on disk (under DATA_DIR/uploads/<case id>/)
    name: str        # the name the patient gave it (display only; never used to build a path)
    size: int
    sha256: str


@dataclass
class Case:
    chat: str                          # channel-qualified chat key: "terminal:local", "telegram:12345", "web:<cookie id>"
    id: int | None = None              # set by storage
    locale: str = "en"
    state: str = "language"
    consent: bool = False              # nothing but the language is stored before the patient agrees
    answers: dict[str, Any] = field(default_factory=dict)   # direction, condition, area, visit (ISO date), symptoms, ...
    history: list[str] = field(default_factory=list)         # states visited, for Back
    uploads: list[Upload] = field(default_factory=list)
    report: dict[str, Any] | None = None                      # the checker's JSON report, once checked
    handoff: dict[str, Any] | None = None                     # coordinator handoff, once sent
    status: str = "open"               # open, checked, handed_off, closed
