"""`scanpass check` loads only what a check needs: what a one-file JSON check and a text checklist import."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.factory import make_dataset, write

REPO = Path(__file__).resolve().parent.parent
SERVER_ONLY = ("telegram", "aiohttp", "sqlalchemy", "sqlmodel", "alembic", "psycopg", "dateparser", "fpdf", "uharfbuzz", "argon2")
NOT_FOR_JSON = ("jinja2", "babel", "pydicom", "numpy", "py7zr", "pycdlib", "multiprocessing", "filetype")
SCRIPT = """
import contextlib, io, json, sys
from bot.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted({name.split(".")[0] for name in sys.modules})}))
"""


def _imported(*args: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 0
    return set(result["modules"])


def test_a_json_check_of_one_file_imports_neither_the_server_nor_the_checklist_nor_pydicom(tmp_path):
    path = write(make_dataset("CT", SliceThickness="1.0"), tmp_path / "IM1")
    modules = _imported("check", str(path), "--format", "json")
    assert "rules" in modules  # the check ran in this process
    assert modules.isdisjoint(SERVER_ONLY + NOT_FOR_JSON), sorted(modules.intersection(SERVER_ONLY + NOT_FOR_JSON))


def test_a_text_checklist_imports_jinja_and_babel_but_nothing_of_the_server(tmp_path):
    path = write(make_dataset("CT", SliceThickness="1.0"), tmp_path / "IM1")
    modules = _imported("check", str(path))
    assert {"jinja2", "babel"} <= modules
    assert modules.isdisjoint(SERVER_ONLY), sorted(modules.intersection(SERVER_ONLY))
