"""Every message a template uses exists, translated, in every shipped catalog; locale choice falls back sensibly."""
from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from dialogs.i18n import LOCALES_DIR, choose, shipped

ROOT = Path(__file__).resolve().parent.parent


def template_messages() -> set:
    """Every message of the dialogs' templates and of the web pages (templates and the Python that shows text)."""
    options = {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"}
    found = set()
    sources = [(ROOT / "dialogs" / "templates", [("**.j2", "jinja2")], {"**.j2": options}),
               (ROOT / "bot" / "web", [("templates/**.j2", "jinja2"), ("**.py", "python")], {"templates/**.j2": options})]
    for folder, methods, option_map in sources:
        for _file, _line, message, _comments, _context in extract_from_dir(folder, method_map=methods,
                                                                           options_map=option_map):
            found.add(message if isinstance(message, str) else tuple(message))
    return found


def catalog(locale: str):
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "scanpass.po").open("rb") as po:
        return read_po(po, locale=locale)


def test_en_and_zh_hans_ship():
    assert {"en", "zh_Hans"} <= set(shipped())


@pytest.mark.parametrize("locale", shipped())
def test_every_template_message_is_translated(locale):
    messages = template_messages()
    assert messages, "no messages extracted: the extractor is misconfigured"
    cat = catalog(locale)
    for message in messages:
        key = message[0] if isinstance(message, tuple) else message
        entry = cat.get(key)
        assert entry is not None, f"{locale}: missing {key!r}"
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        assert all(strings), f"{locale}: untranslated {key!r}"
        assert not entry.fuzzy, f"{locale}: fuzzy {key!r}"


@pytest.mark.parametrize("locale", [name for name in shipped() if name != "en"])
def test_no_english_left_in_a_translation(locale):
    for entry in catalog(locale):
        if not entry.id:
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        if len(ids[0].split()) <= 2:  # a word or two ("No", "CT", "PET-CT") may be the same in both languages
            continue
        for string in strings:
            assert string not in ids, f"{locale}: {entry.id!r} left in English"


@pytest.mark.parametrize("requested,expected", [
    ("zh-CN", "zh_Hans"), ("zh-hans", "zh_Hans"), ("zh", "zh_Hans"), ("zh_Hans", "zh_Hans"),
    ("en-GB", "en"), ("pt-BR", "en"), ("", "en"), (None, "en"), ("xx-garbage!", "en"),
])
def test_locale_is_the_closest_shipped_one(requested, expected):
    assert choose(requested) == expected
