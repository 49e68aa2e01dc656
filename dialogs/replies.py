"""Turns replies into text and buttons in the patient's locale. Channels call `render()` and send the result."""
from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from dialogs.checklist import checklist_text
from dialogs.events import Reply
from dialogs.i18n import choose
from dialogs.render import TEMPLATES, environment

RECORDS_FILE = Path(__file__).with_name("records.toml")


@dataclass(frozen=True)
class Rendered:
    text: str
    buttons: tuple[tuple[tuple[str, str], ...], ...]   # rows of (label, data)


@functools.cache
def message_names() -> frozenset[str]:
    source = (TEMPLATES / "messages.j2").read_text(encoding="utf-8")
    return frozenset(re.findall(r"{%-?\s*macro\s+(\w+)\(", source))


@functools.cache
def records() -> dict:
    return tomllib.loads(RECORDS_FILE.read_text(encoding="utf-8"))


@functools.cache
def _wrappers(locale: str):
    """Compiled once per locale: a message of messages.j2, and a button label of labels.j2, by name."""
    env = environment(locale)
    return (env.from_string('{% import "messages.j2" as m with context %}{{ m[message](p) }}'),
            env.from_string('{% import "labels.j2" as l %}{{ l[label](value) }}'))


def render(reply: Reply, locale: str, retention_days: int = 30) -> Rendered:
    locale = choose(locale)
    params = dict(reply.params)
    params.setdefault("answers", {})
    if reply.message in ("show_checklist", "show_disc") and params.get("report"):
        params["checklist"] = checklist_text(params["report"], locale)
    template, labels = _wrappers(locale)
    text = template.render(message=reply.message, p=params, records=records(), retention_days=retention_days)
    buttons = tuple(tuple((labels.render(label=choice.label, value=choice.value).strip(), choice.data) for choice in row)
                    for row in reply.buttons)
    return Rendered(text.strip(), buttons)
