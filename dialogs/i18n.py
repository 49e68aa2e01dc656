"""Locales: which one a patient gets, and its compiled catalog.

Catalogs are `locales/<locale>/LC_MESSAGES/scanpass.po`. The `.mo` files are
not committed: the `locales` package compiles one when it is missing or older
than its `.po` (`locales.compiled`); this module only reads it, and refuses to
go on with a catalog that does not compile.
"""
from __future__ import annotations

import functools

from babel import Locale, UnknownLocaleError
from babel.support import Translations

from locales import DOMAIN, LOCALES_DIR, CatalogError, compiled

DEFAULT = "en"


PREFERRED_ORDER = ("en", "zh_Hans", "ru", "ar", "es", "fr")  # how the language buttons are listed


def shipped() -> list[str]:
    """Locales that have a catalog, e.g. ['en', 'zh_Hans', ...], in the order patients see them."""
    found = {p.parent.parent.name for p in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    return sorted(found, key=lambda name: (PREFERRED_ORDER.index(name) if name in PREFERRED_ORDER else 99, name))


def choose(requested: str | None) -> str:
    """The closest shipped locale: exact, normalised, then base language, then English.

    'zh-CN', 'zh-hans', 'zh' -> 'zh_Hans'; 'pt-BR' -> 'en' until Portuguese ships.
    """
    available = shipped()
    if not requested:
        return DEFAULT
    text = requested.strip().replace("-", "_")
    by_lower = {name.lower(): name for name in available}
    if text.lower() in by_lower:
        return by_lower[text.lower()]
    try:
        locale = Locale.parse(text)
    except (ValueError, UnknownLocaleError):
        return DEFAULT
    candidates = []
    if locale.script:
        candidates.append(f"{locale.language}_{locale.script}")
    if locale.language == "zh":  # Traditional-script regions would want zh_Hant; only Simplified ships
        candidates.append("zh_Hans")
    candidates.append(locale.language)
    for candidate in candidates:
        if candidate.lower() in by_lower:
            return by_lower[candidate.lower()]
    return DEFAULT


@functools.cache
def translations(locale: str) -> Translations:
    po = LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.exists():
        raise CatalogError(f"no catalog for locale {locale!r}")
    with compiled(po).open("rb") as mo:
        return Translations(mo, domain=DOMAIN)
