"""Locales: which one a patient gets, and its compiled catalog.

Catalogs are `locales/<locale>/LC_MESSAGES/scanpass.po`. The `.mo` files are
not committed: `translations()` compiles a catalog when its `.mo` is missing or
older than the `.po` (next to it when the package folder is writable, else in
a cache folder), and refuses to go on with a catalog that does not compile.
"""
from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from rules.errors import ScanPassError

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "scanpass"
DEFAULT = "en"


class CatalogError(ScanPassError):
    """A shipped catalog is missing or does not compile."""


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


def _compiled(po: Path) -> Path:
    mo = po.with_suffix(".mo")
    if not os.access(po.parent, os.W_OK):
        cache = Path(tempfile.gettempdir()) / "scanpass-locales" / po.parent.parent.name / "LC_MESSAGES"
        cache.mkdir(parents=True, exist_ok=True)
        mo = cache / mo.name
    if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
        try:
            with po.open("rb") as source:
                catalog = read_po(source, locale=po.parent.parent.name)
        except Exception as exc:
            raise CatalogError(f"catalog {po} does not compile: {exc}") from None
        partial = mo.with_suffix(f".{os.getpid()}.tmp")
        with partial.open("wb") as target:
            write_mo(target, catalog, use_fuzzy=False)
        partial.replace(mo)
    return mo


@functools.cache
def translations(locale: str) -> Translations:
    po = LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.exists():
        raise CatalogError(f"no catalog for locale {locale!r}")
    with _compiled(po).open("rb") as mo:
        return Translations(mo, domain=DOMAIN)
