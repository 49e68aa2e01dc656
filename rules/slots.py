"""What fills a required slot: the decisions of PRODUCT.md ("Decisions on what fills a slot"), read from the policy.

The classifier says what a series is (`DTI`, `STIR`, `DCE`...); this module says which required slot,
if any, that fills for the patient's area, and which contrast phases a dynamic series's timing names:

    slot_of("DTI", "brain_tumor", policy)   # "DWI": a tensor acquisition fills the DWI slot
    slot_of("STIR", "breast", policy)       # "T2" in breast protocols, None elsewhere
"""
from __future__ import annotations

from typing import Iterable

from rules.facts import SeriesFacts
from rules.policy import Policy
from rules.sequence_physics import Physics

DICOM_ROOT = "1.2.840.10008."


def is_image_object(sop_class: str, policy: Policy) -> bool:
    """An image storage SOP class (CT, MR, PET, enhanced and legacy converted): the only objects that fill a slot."""
    return sop_class in policy.section("slots")["image_sop_classes"]


def non_image_code(sop_class: str, policy: Policy) -> str | None:
    """The code of a SOP class that is not an image (raw data, SR, PR, SC, spectroscopy, private...); None for images
    and for files that name no SOP class (the classifier's other evidence then decides)."""
    rule = policy.section("slots")
    if not sop_class or is_image_object(sop_class, policy):
        return None
    if not sop_class.startswith(DICOM_ROOT):
        return rule["private"]
    table = rule["non_image_sop_classes"]
    for prefix in sorted(table, key=len, reverse=True):
        if sop_class == prefix or sop_class.startswith(prefix + "."):
            return table[prefix]
    return None  # another standard image class (US, CR, NM...): no sequence, decided by modality


def slot_of(code: str | None, area: str, policy: Policy) -> str | None:
    """The required slot a series of this code fills for `area`, or None."""
    if code is None:
        return None
    rule = policy.section("slots")
    slot = rule.get("fills_by_area", {}).get(area, {}).get(code) or rule["fills"].get(code) or code
    return slot if slot in policy.required_codes else None


def injection_delays(series: SeriesFacts) -> list[float]:
    """Seconds from ContrastBolusStartTime to each image's AcquisitionTime, where the header gives both."""
    start = _seconds(series.first.contrast_start_time)
    if start is None:
        return []
    delays = []
    for time in sorted(series.acquisition_times or {series.first.acquisition_time}):
        seconds = _seconds(time)
        if seconds is not None:
            delays.append((seconds - start) % 86400.0)  # an injection before midnight, a scan after it
    return delays


def timed_phases(series: SeriesFacts, physics: Physics) -> list[str]:
    """The contrast phases the header's own timing names, in acquisition order (none when it has no timing)."""
    phases = []
    for delay in injection_delays(series):
        phase = physics.phase_at(delay)
        if phase and phase not in phases:
            phases.append(phase)
    return phases


def filled(classified: Iterable[tuple[SeriesFacts, str | None]], area: str, policy: Policy, physics: Physics) -> list[str]:
    """The required slots a study's series fill, in the policy's canonical order.

    Only image objects fill a slot. A dynamic (DCE) series also fills the phases its timing names."""
    slots = set()
    for series, code in classified:
        if not is_image_object(series.first.sop_class_uid, policy) and series.first.sop_class_uid:
            continue
        slot = slot_of(code, area, policy)
        if slot:
            slots.add(slot)
        if code == "DCE":
            slots.update(timed_phases(series, physics))
    return [code for code in policy.required_codes if code in slots]


def _seconds(value: str) -> float | None:
    """A DICOM TM value (HHMMSS.FFFFFF, or HH:MM:SS) as seconds after midnight; None when unreadable."""
    text = (value or "").strip().replace(":", "")
    digits = text.split(".")[0]
    if len(digits) < 4 or not digits.isdigit():
        return None
    hours, minutes = int(digits[:2]), int(digits[2:4])
    seconds = int(digits[4:6]) if len(digits) >= 6 else 0
    fraction = float("0." + text.split(".")[1]) if "." in text and text.split(".")[1].isdigit() else 0.0
    if hours > 23 or minutes > 59 or seconds > 60:
        return None
    return hours * 3600 + minutes * 60 + seconds + fraction
