"""HTML pages in the visitor's locale: jinja2 (autoescaped) with the same catalogs, dates and numbers as the chat.

    return page("chat.html.j2", locale, status=200, case=case)

Templates live in `bot/web/templates/`, static files in `bot/web/static/` (served at `/static/`).
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from babel import Locale
from markupsafe import Markup, escape

from dialogs.i18n import shipped, translations
from dialogs.render import TEMPLATES as DIALOG_TEMPLATES
from dialogs.render import _filters

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def direction(locale: str) -> str:
    """'rtl' for right-to-left scripts (Arabic), else 'ltr'."""
    return Locale.parse(locale).character_order == "right-to-left" and "rtl" or "ltr"


def language_name(locale: str) -> str:
    """The language's own name, as a language switch shows it ("Русский", "العربية")."""
    name = Locale.parse(locale).get_display_name(locale) or locale
    return name[:1].upper() + name[1:]


@functools.cache
def environment(locale: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(TEMPLATES),      # the pages
                                    jinja2.FileSystemLoader(DIALOG_TEMPLATES)]),  # labels and reasons, shared
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(_filters(locale))
    env.filters["list_of"] = _escaped_list_of(env.filters["list_of"])
    env.globals.update(locale=locale, direction=direction(locale), html_lang=locale.replace("_", "-"),
                       languages=[(name, language_name(name)) for name in shipped()])
    return env


def _escaped_list_of(list_of):
    """The chat's `list_of` for autoescaped pages: items escaped once (already-safe ones kept), the list safe."""
    return lambda items: Markup(list_of([escape(item) for item in items]))


def render_page(template: str, locale: str, **params: Any) -> str:
    return environment(locale).get_template(template).render(**params)


def page(template: str, locale: str, status: int = 200, **params: Any) -> web.Response:
    response = web.Response(text=render_page(template, locale, **params), status=status, content_type="text/html")
    response.headers["Content-Language"] = locale.replace("_", "-")
    return response
