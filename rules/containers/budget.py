"""The archive bomb limits: declared and actually read sizes, the ratio, the number of files, the depth."""
from __future__ import annotations

from dataclasses import dataclass

from rules.containers.members import UNREADABLE, Entry


@dataclass(frozen=True)
class Limits:
    max_total_bytes: int = 16 * 1024**3  # uncompressed bytes per top-level upload path (archive bomb limit)
    max_ratio: float = 100.0  # uncompressed/compressed ratio of an archive ...
    ratio_floor_bytes: int = 64 * 1024**2  # ... only enforced once its uncompressed size exceeds this
    max_files: int = 200_000  # members/files per top-level upload path; the rest are skipped (a real disc holds < 50,000)
    max_depth: int = 1  # archives inside archives: one level


class LimitHit(Exception):
    def __init__(self, code: str, limit: int | float):
        super().__init__(code)
        self.code, self.limit = code, limit


class Budget:
    """Bytes and files one batch has taken so far; raises `LimitHit` past a limit."""

    def __init__(self, limits: Limits):
        self.limits, self.bytes, self.files = limits, 0, 0

    @property
    def room(self) -> int:
        return self.limits.max_total_bytes - self.bytes

    def take_bytes(self, count: int) -> None:
        self.bytes += count
        if self.bytes > self.limits.max_total_bytes:
            raise LimitHit("archive_too_large", self.limits.max_total_bytes)

    def take_file(self) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise LimitHit("too_many_files", self.limits.max_files)


def size_problem(display: str, unpacked: int, packed: int, limits: Limits, room: int) -> Entry | None:
    """archive_too_large or archive_ratio from an archive's declared sizes."""
    if unpacked > room:
        return Entry(display, UNREADABLE, "archive_too_large", limits.max_total_bytes)
    if unpacked > limits.ratio_floor_bytes and unpacked > limits.max_ratio * max(packed, 1):
        return Entry(display, UNREADABLE, "archive_ratio", limits.max_ratio)
    return None
