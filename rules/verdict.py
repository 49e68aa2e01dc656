"""Verdicts, ordered from best to worst, so the worst of several is `max()`."""
from __future__ import annotations

import enum


class Verdict(enum.StrEnum):
    USABLE = "usable"
    REVIEW = "review"
    REDO = "redo"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, Verdict):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:  # type: ignore[override]
        return self == other or self < other  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, Verdict):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:  # type: ignore[override]
        return self == other or self > other  # type: ignore[operator]


_RANK = {Verdict.USABLE: 0, Verdict.REVIEW: 1, Verdict.REDO: 2}
