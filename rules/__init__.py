"""The checker: `check(paths, answers) -> Report`, the one entry point every channel calls.

    from rules import Answers, check
    report = check(["disc.iso"], Answers(condition="stable_oncology"))
"""
from __future__ import annotations

from typing import Any

__all__ = ["AnswerError", "Answers", "Report", "Verdict", "check"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import rules.header` in a worker does not load the whole checker.
    if name == "check":
        from rules.checker import check
        return check
    if name in ("Answers", "AnswerError"):
        from rules import answers
        return getattr(answers, name)
    if name == "Report":
        from rules.report import Report
        return Report
    if name == "Verdict":
        from rules.verdict import Verdict
        return Verdict
    raise AttributeError(name)
