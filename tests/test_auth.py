"""Coordinator accounts: the CLI and argon2id hashes."""
from __future__ import annotations

import io

import pytest
from argon2 import PasswordHasher

from bot import cli
from bot.web import auth
from storage import Repository, Settings
from storage.coordinators import Coordinators

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)   # argon2id still, cheap for tests
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def fast_hashes(monkeypatch):
    monkeypatch.setattr(auth, "PASSWORDS", FAST)


# ---- the command line ---------------------------------------------------------------------------------

@pytest.fixture
def environment(monkeypatch, tmp_path, database_url):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("COORDINATOR_LOCALE", "zh_Hans")
    monkeypatch.chdir(tmp_path)
    return Settings.from_env(env_file=None)


def typed(monkeypatch, *answers):
    answers = iter(answers)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))


def test_coordinator_add_list_remove(environment, monkeypatch, capsys):
    typed(monkeypatch, PASSWORD, PASSWORD)
    assert cli.main(["coordinator", "add", "li.wei"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main(["coordinator", "add", "anna", "--locale", "ru", "--password-stdin"]) == 0
    capsys.readouterr()
    assert cli.main(["coordinator", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == ["anna\tru", "li.wei\tzh_Hans"]   # default: COORDINATOR_LOCALE
    stored = Coordinators(Repository.from_settings(environment).open()).find("li.wei")
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash
    assert cli.main(["coordinator", "remove", "anna"]) == 0
    capsys.readouterr()
    cli.main(["coordinator", "list"])
    assert capsys.readouterr().out.splitlines() == ["li.wei\tzh_Hans"]


@pytest.mark.parametrize("argv,typed_passwords,error", [
    (["coordinator", "add", "li.wei"], (PASSWORD, PASSWORD + "!"), "scanpass: the passwords do not match; nothing was saved"),
    (["coordinator", "add", "li.wei"], ("short", "short"), "scanpass: the password is too short: use at least 12 characters"),
    (["coordinator", "add", "two words"], (), "scanpass: a username is 1 to 200 characters, without spaces or slashes"),
    (["coordinator", "add", "li.wei", "--locale", "xx"], (), "scanpass: --locale: no catalog for 'xx' (shipped: en, zh_Hans, ru, ar, es, fr)"),
    (["coordinator", "remove", "nobody"], (), "scanpass: no coordinator 'nobody'"),
])
def test_coordinator_commands_refuse_with_one_line(environment, monkeypatch, capsys, argv, typed_passwords, error):
    typed(monkeypatch, *typed_passwords)
    assert cli.main(argv) == 2
    assert capsys.readouterr().err == error + "\n"
    assert Coordinators(Repository.from_settings(environment).open()).all() == []


def test_adding_an_existing_coordinator_is_refused(environment, monkeypatch, capsys):
    typed(monkeypatch, PASSWORD, PASSWORD, PASSWORD, PASSWORD)
    cli.main(["coordinator", "add", "li.wei"])
    assert cli.main(["coordinator", "add", "li.wei"]) == 2
    assert capsys.readouterr().err == "scanpass: coordinator 'li.wei' already exists\n"
