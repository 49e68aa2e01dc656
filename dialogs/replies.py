"""Turns replies into text and buttons in the patient's locale. Channels call `render()` and send the result."""
from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from dialogs.checklist import LISTED_FILES
from dialogs.events import Reply
from dialogs.i18n import choose
from dialogs.render import TEMPLATES, environment
from rules.policy import load

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


def render(reply: Reply, locale: str, retention_days: int = 30) -> Rendered:
    locale = choose(locale)
    env = environment(locale)
    policy = load()
    params = dict(reply.params)
    params.setdefault("answers", {})
    if reply.message in ("show_checklist", "show_disc") and params.get("report"):
        params["checklist"] = env.get_template("checklist.txt.j2").render(
            report=params["report"], redo=policy.section("redo"), budget=policy.section("budget"), limit=LISTED_FILES)
    template = env.from_string('{% import "messages.j2" as m with context %}{{ m[message](p) }}')
    text = template.render(message=reply.message, p=params, records=records(), retention_days=retention_days)
    labels = env.from_string('{% import "labels.j2" as l %}{{ l[label](value) }}')
    buttons = tuple(tuple((labels.render(label=choice.label, value=choice.value).strip(), choice.data) for choice in row)
                    for row in reply.buttons)
    return Rendered(text.strip(), buttons)
