"""Every reason and note code, with each of the fields it can lack, in every locale, as text, HTML and PDF.

A reason in the JSON report carries only the fields that apply (`rules/report.py` drops empty ones): an
undated scan's `date_unknown` has no `value`, a `missing_sequences` with nothing found has no `found`. Each
checklist (the chat's text, the web page's HTML, the PDF) and the coordinator's summary must word every
one of them, never crash and never show a raw code.
"""
from __future__ import annotations

import pytest

from bot.web.checklist_pdf import FontsMissing, checklist_pdf, fonts
from bot.web.transcript import checklist_html
from dialogs.case import Case
from dialogs.checklist import checklist_text
from dialogs.handoff import summary
from dialogs.i18n import shipped
from rules.policy import load

CODES = load().section("codes")

# Each reason as the checker can emit it: (code, the fields present). One entry per set of fields a code can
# come with (rules/judging.py), so a field a reason may lack is tested absent.
REASONS = [
    ("within_window", {"verdict": "usable", "value": 3, "limit": 28}),
    ("within_window", {"verdict": "usable", "value": 0, "limit": 28}),             # scanned on the visit day
    ("near_window_limit", {"verdict": "review", "value": 30, "limit": 28, "upper": 42}),
    ("beyond_window", {"verdict": "redo", "value": 200, "limit": 180}),
    ("beyond_window", {"verdict": "review", "value": 200, "limit": 180}),          # orthopaedic: review beyond
    ("date_unknown", {"verdict": "review"}),                                       # no date at all: no value
    ("date_unknown", {"verdict": "review", "value": "2027-03-01"}),                # dated after the visit
    ("ultrasound_redone", {"verdict": "redo", "value": "US"}),
    ("angiography_reference", {"verdict": "review", "value": "XA"}),
    ("modality_unsupported", {"verdict": "review", "value": "SR"}),
    ("modality_unsupported", {"verdict": "review", "value": ""}),                  # no Modality in the header
    ("ct_slice_too_thick", {"verdict": "redo", "value": 7.5, "limit": 5.0}),
    ("ct_thin_slices_needed", {"verdict": "redo", "value": 5.0, "limit": 2.5}),
    ("mr_low_field", {"verdict": "redo", "value": 1.0, "limit": 1.5}),
    ("field_strength_unknown", {"verdict": "usable"}),
    ("missing_sequences", {"verdict": "redo", "missing": ["DWI", "T1_CONTRAST"], "found": ["T1", "T2"]}),
    ("missing_sequences", {"verdict": "redo", "missing": ["T1", "T2", "FLAIR"]}),  # nothing found: no found
    ("pet_suv_data_missing", {"verdict": "review", "missing": ["PatientWeight"]}),
    ("pet_suv_data_missing", {"verdict": "review",
                              "missing": ["RadionuclideTotalDose", "RadiopharmaceuticalStartTime", "PatientWeight"]}),
    ("symptoms_changed", {"verdict": "redo", "value": "yes"}),
    ("symptoms_changed", {"verdict": "review", "value": "unsure"}),
    ("infection_in_house", {"verdict": "redo"}),
    ("presurgical_localisation", {"verdict": "review", "value": "pre_neurosurgery"}),
    ("dicom_needed", {"verdict": "redo"}),
]
NOTES = [
    ("bring_english_report", {}),
    ("jpeg2000", {}),
    ("private_tags", {}),
    ("several_facilities", {"value": 2}),
    ("older_duplicate", {"value": "2026-10-01"}),
    ("not_dicom", {"value": 1}),
    ("not_dicom", {"value": 3}),
]
ANSWERS = {"direction": "inbound", "condition": "active_oncology", "area": "brain_tumor", "visit": "2026-12-08",
           "symptoms": "no", "infection": "no"}


def study(reasons: list[dict], notes: list[dict] = (), number: int = 1, date: str | None = None) -> dict:
    return {"study_instance_uid": f"1.2.3.{number}", "modality": "CT", "body_part": "CHEST", "study_date": date,
            "age_days": None, "verdict": max((r["verdict"] for r in reasons), key=["usable", "review", "redo"].index),
            "reasons": reasons, "notes": list(notes),
            "series": [{"series_instance_uid": f"1.2.3.{number}.1", "description": "", "modality": "CT", "images": 2,
                        "slice_thickness": 1.0, "field_strength": None, "sequence": None,
                        "transfer_syntax": "1.2.840.10008.1.2.1"}],
            "sequences_found": [], "sequences_missing": [], "description": "", "institution": "", "date_source": None}


def report(studies: list[dict], notes: list[dict] = ()) -> dict:
    return {"overall": "review", "notes": list(notes), "studies": studies, "answers": ANSWERS,
            "files": {"dicom": 2, "dicomdir": 0, "not_dicom": [], "unreadable": [], "ignored": []}}


def one_reason(code: str, fields: dict) -> dict:
    return report([study([{"code": code, **fields}])])


def one_note(code: str, fields: dict) -> dict:
    return report([study([{"code": "within_window", "verdict": "usable", "value": 3, "limit": 28}],
                         [{"code": code, **fields}])])


def everything() -> dict:
    """One report holding every reason and note variant (what the PDF test renders once per locale)."""
    studies = [study([{"code": code, **fields}], number=n) for n, (code, fields) in enumerate(REASONS, 1)]
    studies[0]["notes"] = [{"code": code, **fields} for code, fields in NOTES]
    return report(studies, [{"code": "several_facilities", "value": 2}])


def variant_id(entry) -> str:
    code, fields = entry
    return code + "[" + ",".join(sorted(set(fields) - {"verdict"})) + "]"


def test_the_table_covers_every_code_the_policy_knows():
    assert {code for code, _ in REASONS} == set(CODES["reasons"])
    assert {code for code, _ in NOTES} == set(CODES["notes"])


def wording(text: str, code: str) -> None:
    """The reason was put in words: no raw code (the templates' fallback), no Python value leaking out."""
    assert code not in text.replace("_", " ").split() and f" {code}\n" not in text and f"- {code}" not in text
    for leak in ("None", "Undefined", "[]", "{'", "{{"):
        assert leak not in text, f"{leak!r} in {text!r}"


@pytest.mark.parametrize("locale", shipped())
@pytest.mark.parametrize("entry", REASONS, ids=variant_id)
def test_every_reason_in_the_text_and_html_checklists(entry, locale):
    code, fields = entry
    data = one_reason(code, fields)
    text = checklist_text(data, locale)
    wording(text, code)
    html = checklist_html(data, locale)
    wording(html, code)
    assert '<ul class="reasons">' in html


@pytest.mark.parametrize("locale", shipped())
@pytest.mark.parametrize("entry", NOTES, ids=variant_id)
def test_every_note_in_the_text_and_html_checklists(entry, locale):
    code, fields = entry
    data = one_note(code, fields)
    wording(checklist_text(data, locale), code)
    wording(checklist_html(data, locale), code)


@pytest.mark.parametrize("locale", shipped())
def test_undated_reason_says_the_scan_has_no_date_in_each_language(locale):
    undated = checklist_text(one_reason("date_unknown", {"verdict": "review"}), locale)
    future = checklist_text(one_reason("date_unknown", {"verdict": "review", "value": "2027-03-01"}), locale)
    assert undated != future                      # "no date" is not worded as "dated after the visit"
    assert "2027" in future and "2027" not in undated


@pytest.mark.parametrize("locale", shipped())
def test_every_reason_and_note_in_the_coordinators_summary(locale):
    case = Case(chat="web:x", id=7, locale="ar", consent=True, answers=ANSWERS, report=everything())
    text = summary(case, locale)
    for code, _ in REASONS:
        if code != "within_window":               # the summary lists only what needs attention
            assert f"[{code}]" in text            # each code beside its wording
    assert "None" not in text and "Undefined" not in text


@pytest.mark.parametrize("locale", shipped())
def test_every_reason_and_note_in_the_pdf(locale):
    try:
        fonts()
    except FontsMissing as missing:
        pytest.skip(f"{missing} (./test installs fonts-dejavu-core and fonts-noto-cjk)")
    pdf = checklist_pdf(everything(), locale)
    assert pdf.startswith(b"%PDF-") and len(pdf) > 5000
