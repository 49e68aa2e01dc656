"""pydicom, imported on first use and set to read leniently.

Importing pydicom costs about a tenth of a second (it loads numpy and its pixel
handlers), and most files never need it: the fast reader in `rules.header`
walks headers on its own. Whatever does need pydicom (character sets,
sequences, odd encodings, facts from a Dataset) calls `pydicom()` first, so
garbage values in the tags read become "absent", never a warning per file.
"""
from __future__ import annotations

from types import ModuleType

_module: ModuleType | None = None


def pydicom() -> ModuleType:
    global _module
    if _module is None:
        import pydicom as module
        import pydicom.charset  # noqa: F401  (used through the module by the reader)
        import pydicom.values  # noqa: F401
        from pydicom import config

        config.settings.reading_validation_mode = config.IGNORE
        _module = module
    return _module
