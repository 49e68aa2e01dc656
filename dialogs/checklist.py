"""The patient's checklist: a report rendered in the patient's locale."""
from __future__ import annotations

from dialogs.i18n import choose
from dialogs.render import render
from rules.policy import load
from rules.report import Report

LISTED_FILES = 20  # longer lists of damaged or non-DICOM files end with "and N more"


def checklist(report: Report, lang: str | None) -> str:
    return checklist_text(report.to_json(), lang)


def checklist_text(report: dict, lang: str | None) -> str:
    """The checklist of a report in its JSON form (what the conversation stores)."""
    policy = load()
    return render("checklist.txt.j2", choose(lang), report=report, redo=policy.section("redo"),
                  budget=policy.section("budget"), limit=LISTED_FILES)
