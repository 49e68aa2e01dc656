"""Loads `rules/sequence_physics.toml`: the TR/TE/TI ranges, cine and dynamic thresholds and contrast-phase
timing windows the sequence classifier uses, each with its source in the file. Read once, checked loudly.

    physics = load()
    physics.spin_echo_t1.tr_max   # 800.0
"""
from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rules.policy import PolicyError, read_data_file

PHYSICS_FILE = Path(__file__).with_name("sequence_physics.toml")


@dataclass(frozen=True, slots=True)
class Limits:
    """One weighting's parameter bounds; an absent bound is None (no limit on that side)."""

    tr_min: float | None = None
    tr_max: float | None = None
    te_min: float | None = None
    te_max: float | None = None
    ti_min: float | None = None
    ti_max: float | None = None

    def ti_within(self, ti: float) -> bool:
        return (self.ti_min is None or ti >= self.ti_min) and (self.ti_max is None or ti <= self.ti_max)


@dataclass(frozen=True, slots=True)
class Physics:
    spin_echo_t1: Limits
    spin_echo_t2: Limits
    spin_echo_pd: Limits
    flair: Limits
    stir: Limits
    inversion_t1: Limits
    t2_star: Limits
    t1_spoiled: Limits
    cine_phases_min: int
    cine_phases_with_name: int
    dynamic_phases_min: int
    b0_max: float
    tensor_directions_min: int
    phase_windows: dict[str, tuple[float, float]]

    def phase_at(self, seconds: float) -> str | None:
        """The contrast phase whose window holds `seconds` after the injection started; None between windows."""
        for phase, (low, high) in self.phase_windows.items():
            if low <= seconds <= high:
                return phase
        return None


def _limits(raw: dict[str, Any], path: str) -> Limits:
    table = raw
    for part in path.split("."):
        if part not in table:
            raise PolicyError(f"sequence physics file lacks [{path}]")
        table = table[part]
    unknown = set(table) - set(Limits.__slots__)
    if unknown:
        raise PolicyError(f"sequence physics [{path}] has unknown keys {sorted(unknown)}")
    limits = Limits(**{key: float(value) for key, value in table.items()})
    for low, high in (("tr_min", "tr_max"), ("te_min", "te_max"), ("ti_min", "ti_max")):
        if getattr(limits, low) is not None and getattr(limits, high) is not None and getattr(limits, low) > getattr(limits, high):
            raise PolicyError(f"sequence physics [{path}]: {low} above {high}")
    return limits


def parse(text: str) -> Physics:
    try:
        raw = tomllib.loads(text)
        windows = {}
        for phase, window in raw["phase_windows"].items():
            low, high = float(window["seconds_min"]), float(window["seconds_max"])
            if low > high:
                raise PolicyError(f"sequence physics phase window {phase}: minimum above maximum")
            windows[phase] = (low, high)
        return Physics(
            spin_echo_t1=_limits(raw, "spin_echo.t1"),
            spin_echo_t2=_limits(raw, "spin_echo.t2"),
            spin_echo_pd=_limits(raw, "spin_echo.pd"),
            flair=_limits(raw, "inversion.flair"),
            stir=_limits(raw, "inversion.stir"),
            inversion_t1=_limits(raw, "inversion.t1"),
            t2_star=_limits(raw, "gradient_echo.t2_star"),
            t1_spoiled=_limits(raw, "gradient_echo.t1_spoiled"),
            cine_phases_min=int(raw["cine"]["phases_min"]),
            cine_phases_with_name=int(raw["cine"]["phases_with_name"]),
            dynamic_phases_min=int(raw["dynamic"]["phases_min"]),
            b0_max=float(raw["diffusion"]["b0_max"]),
            tensor_directions_min=int(raw["diffusion"]["tensor_directions_min"]),
            phase_windows=windows,
        )
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"sequence physics file is not valid TOML: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise PolicyError(f"sequence physics file is malformed: {exc!r}") from None


@functools.cache
def load(path: Path = PHYSICS_FILE) -> Physics:
    return parse(read_data_file(path, "sequence physics"))
