"""The summary a coordinator receives when the patient agrees, in the coordinator's locale."""
from __future__ import annotations

from dialogs.case import Case
from dialogs.i18n import choose
from dialogs.render import render


def summary(case: Case, locale: str) -> str:
    """The handoff text; the JSON report travels beside it as a document."""
    report = case.report or {"overall": "no_dicom", "studies": [], "files": {"dicom": 0, "not_dicom": [], "unreadable": []}}
    return render("handoff.txt.j2", choose(locale), case=case, report=report).strip()
