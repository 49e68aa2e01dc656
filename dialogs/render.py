"""Renders reply templates in a locale: jinja2 with gettext (plural forms) and babel (dates, numbers).

    text = render("checklist.txt.j2", "zh_Hans", report=report)
"""
from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import jinja2
from babel.dates import format_date
from babel.lists import format_list
from babel.numbers import format_decimal

from dialogs.i18n import translations

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _filters(locale: str) -> dict[str, Any]:
    def date(value: dt.date | str | None, format: str = "long") -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            value = dt.date.fromisoformat(value)
        return format_date(value, format=format, locale=locale)

    def number(value: float | int | None) -> str:
        if value is None:
            return ""
        return format_decimal(value, format="#,##0.##", locale=locale)

    def list_of(items: list[str]) -> str:
        return format_list([str(item) for item in items], locale=locale) if items else ""

    return {"date": date, "number": number, "list_of": list_of}


@functools.cache
def environment(locale: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        # Compiled templates kept between runs (jinja2's per-user 0700 folder in the temp dir; a changed
        # template is compiled anew): compiling the checklist's templates took most of a one-file check.
        bytecode_cache=jinja2.FileSystemBytecodeCache(),
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(_filters(locale))
    env.globals["locale"] = locale
    return env


def render(template: str, locale: str, **params: Any) -> str:
    return environment(locale).get_template(template).render(**params)
