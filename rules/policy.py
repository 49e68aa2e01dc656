"""Loads `rules/policy.toml`, the one place clinical numbers live, and fails loudly when it is wrong.

    policy = load()
    policy.window("active_oncology", "CT").usable  # 28

The file is read once per process (cached). A missing file, a missing key, an
unknown verdict or a window whose review limit is below its usable limit raises
`PolicyError` naming the problem, so a bad edit stops the program at start.
"""
from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rules.errors import ScanPassError
from rules.verdict import Verdict

POLICY_FILE = Path(__file__).with_name("policy.toml")


# The verdict each rule gives, by (section, key): read by rules/verdicts.py, checked at load.
VERDICT_KEYS = (("age", "within_window"), ("age", "near_window_limit"), ("age", "date_unknown"),
                ("ct_slice_thickness", "verdict"), ("mr_field_strength", "low_field_verdict"),
                ("mr_field_strength", "unknown_verdict"), ("pet_suv", "verdict"), ("sequences", "missing_verdict"),
                ("paper_scans", "verdict"), ("presurgical", "cap"))


class PolicyError(ScanPassError):
    """The policy file is missing or malformed."""


@dataclass(frozen=True, slots=True)
class Window:
    usable: int
    review: int | None
    beyond: Verdict
    source: str


@dataclass(frozen=True, slots=True)
class Policy:
    raw: dict[str, Any]
    windows: dict[str, Window]
    pet_windows: dict[str, Window]

    @property
    def conditions(self) -> list[str]:
        return self.raw["codes"]["conditions"]

    @property
    def areas(self) -> list[str]:
        return self.raw["codes"]["areas"]

    def window(self, condition: str, modality: str) -> Window:
        if modality == "PT" and condition in self.pet_windows:
            return self.pet_windows[condition]
        return self.windows[condition]

    def section(self, name: str) -> dict[str, Any]:
        return self.raw[name]

    def required(self, area: str) -> dict[str, Any] | None:
        return self.raw["required"].get(area)

    def verdict(self, section: str, key: str) -> Verdict:
        """The verdict a rule gives, e.g. `verdict("age", "date_unknown")`."""
        return Verdict(self.raw[section][key])

    @property
    def required_codes(self) -> tuple[str, ...]:
        """The required-sequence codes in their canonical order (T1 T2 FLAIR DWI T1_CONTRAST CINE ...)."""
        return tuple(self.raw["codes"]["sequences"])


def _window(name: str, table: dict[str, Any]) -> Window:
    try:
        window = Window(
            usable=int(table["usable"]),
            review=int(table["review"]) if "review" in table else None,
            beyond=Verdict(table["beyond"]),
            source=str(table["source"]),
        )
    except (KeyError, ValueError) as exc:
        raise PolicyError(f"policy window {name!r} is malformed: {exc}") from None
    if window.review is not None and window.review < window.usable:
        raise PolicyError(f"policy window {name!r}: review limit below usable limit")
    return window


def parse(text: str) -> Policy:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy file is not valid TOML: {exc}") from None
    for key in ("windows", "pet_windows", "modality_caps", "ct_slice_thickness", "mr_field_strength",
                "pet_suv", "answers", "modalities", "sequences", "paper_scans", "presurgical", "required", "redo", "budget", "codes",
                "age", "slots", "notes"):
        if key not in raw:
            raise PolicyError(f"policy file lacks [{key}]")
    windows = {name: _window(name, table) for name, table in raw["windows"].items()}
    missing = set(raw["codes"]["conditions"]) - set(windows)
    if missing:
        raise PolicyError(f"policy file has no window for {sorted(missing)}")
    pet_windows = {name: _window(f"pet {name}", table) for name, table in raw["pet_windows"].items()}
    for name, cap in raw["modality_caps"].items():
        try:
            Verdict(cap["verdict"])
        except (KeyError, ValueError):
            raise PolicyError(f"modality cap {name!r} has no valid verdict") from None
    for area, table in raw["required"].items():
        unknown = set(table.get("sequences", [])) - set(raw["codes"].get("sequences", []))
        if unknown:
            raise PolicyError(f"required sequences of {area!r} are not sequence codes: {sorted(unknown)}")
    for section, key in VERDICT_KEYS:
        try:
            Verdict(raw[section][key])
        except (KeyError, ValueError):
            raise PolicyError(f"policy [{section}] has no valid verdict {key!r}") from None
    return Policy(raw=raw, windows=windows, pet_windows=pet_windows)


def read_data_file(path: Path, what: str) -> str:
    """The text of a data file the checker cannot run without; PolicyError naming it when unreadable."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{what} file {path} cannot be read: {exc.strerror}") from None


@functools.cache
def load(path: Path = POLICY_FILE) -> Policy:
    return parse(read_data_file(path, "policy"))
