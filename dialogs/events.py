"""What reaches the conversation (events) and what it answers (replies and actions). Plain data, no I/O.

Replies name a template message and its parameters; a channel renders them in
the patient's locale (`dialogs.replies.render`). Actions ask the channel to do
something the machine cannot do itself (run the checker, erase data, hand off).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dialogs.case import Upload


@dataclass(frozen=True)
class Command:
    name: str            # without the slash: start, restart, cancel, language, delete, help
    args: str = ""


@dataclass(frozen=True)
class Button:
    data: str            # "<state>:<value>", as the button was sent; a stale state is answered with the current step


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class FileReceived:
    upload: Upload


@dataclass(frozen=True)
class LinkReceived:
    url: str


@dataclass(frozen=True)
class LinkFailed:
    """A link the channel could not download; `reason` names the message the patient gets."""
    reason: str                      # not_a_file | not_shared | refused | too_large | failed
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckFinished:
    report: dict[str, Any]   # the checker's JSON report


Event = Command | Button | Text | FileReceived | LinkReceived | LinkFailed | CheckFinished


@dataclass(frozen=True)
class Choice:
    """A button: its label is a labels.j2 macro (`label`) applied to `value`."""

    data: str
    label: str
    value: str


@dataclass(frozen=True)
class Reply:
    message: str                                   # a macro of messages.j2
    params: dict[str, Any] = field(default_factory=dict)
    buttons: tuple[tuple[Choice, ...], ...] = ()   # rows of buttons


@dataclass(frozen=True)
class Action:
    name: str            # check, delete, handoff
    params: dict[str, Any] = field(default_factory=dict)
