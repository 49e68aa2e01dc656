"""The patient's checklist: a report rendered in the patient's locale."""
from __future__ import annotations

from dialogs.i18n import choose
from dialogs.render import render
from rules.policy import load
from rules.report import Report

LISTED_FILES = 20  # longer lists of damaged or non-DICOM files end with "and N more"


def checklist(report: Report, lang: str | None) -> str:
    policy = load()
    return render("checklist.txt.j2", choose(lang), report=report.to_json(), redo=policy.section("redo"),
                  budget=policy.section("budget"), limit=LISTED_FILES)
