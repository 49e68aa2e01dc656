"""The policy file is the only home of clinical numbers, and a bad edit of it stops the program loudly."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from rules.policy import POLICY_FILE, PolicyError, load, parse

RULES = Path(__file__).resolve().parent.parent / "rules"


def test_every_section_names_its_source():
    policy = load()
    for name, window in {**policy.windows, **policy.pet_windows}.items():
        assert window.source, name
    for section in ("modality_caps", "required", "redo"):
        for name, table in policy.section(section).items():
            assert table.get("source"), f"{section}.{name}"


def test_a_missing_policy_file_fails_loudly(tmp_path):
    with pytest.raises(PolicyError, match="cannot be read"):
        load.__wrapped__(tmp_path / "nope.toml")


@pytest.mark.parametrize("edit,message", [
    (("usable = 28\nreview = 42", "usable = 28\nreview = 21"), "review limit below usable"),
    (('beyond = "redo"\nsource = "000, 001"', 'beyond = "maybe"\nsource = "000, 001"'), "malformed"),
    (("[windows.other]", "[windows.misc]"), "no window for"),
    (("[budget]", "[budget_x]"), r"lacks \[budget\]"),
    (("version = 1", "version = = 1"), "not valid TOML"),
])
def test_a_malformed_policy_is_refused(edit, message):
    text = POLICY_FILE.read_text(encoding="utf-8")
    old, new = edit
    assert old in text
    with pytest.raises(PolicyError, match=message):
        parse(text.replace(old, new, 1))


def test_the_code_holds_no_day_or_millimetre_limits():
    """The windows and thresholds of the policy do not appear as literals in the judging code."""
    source = (RULES / "judging.py").read_text() + (RULES / "studies.py").read_text()
    for number in ("28", "42", "90", "180", "14", "2.5", "5.0", "1.5"):
        assert not re.search(rf"(?<![\w.]){re.escape(number)}(?![\w.])", source), number
