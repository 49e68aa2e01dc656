"""What planning and walking hand out: batches to read, items read, entries listed."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO

UNREADABLE, IGNORED = "unreadable", "ignored"


@dataclass(frozen=True)
class Entry:
    """A problem or an ignored file, shown to the patient."""

    name: str
    status: str  # "unreadable" | "ignored"
    code: str
    limit: int | float | None = None


@dataclass(frozen=True)
class Batch:
    """Members a worker opens on its own (picklable).

    For "files" batches `container` is the folder the display names are relative
    to ("" when the batch is one loose file, shown under `display`).
    """

    kind: str  # "files" | "zip" | "iso" | "stream"
    container: str
    display: str
    members: tuple[str, ...]
    quiet: tuple[str, ...] = ()


@dataclass
class Plan:
    batches: list[Batch] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    total_members: int = 0


@dataclass
class Item:
    name: str
    size: int | None
    stream: BinaryIO  # positioned at 0; valid only until the iteration advances
    quiet: str = ""



@dataclass
class Survey:
    """The members of a zip or disc worth reading, and what was left out."""

    members: list[str] = field(default_factory=list)
    quiet: list[str] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
