"""The gettext catalogs, one folder per locale, and their compiled form.

`.mo` files are not committed: `compiled(po)` makes one when it is missing or older than its `.po`
(next to it when the package folder is writable, else in a cache folder) and refuses a catalog that
does not compile. `dialogs.i18n` reads them; this package is the only place that writes them.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from rules.errors import ScanPassError

LOCALES_DIR = Path(__file__).resolve().parent
DOMAIN = "scanpass"


class CatalogError(ScanPassError):
    """A shipped catalog is missing or does not compile."""


def compiled(po: Path) -> Path:
    """The `.mo` file of a `.po` catalog, compiled first when it is missing or out of date."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

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
