"""Whole conversations through storage, one transaction per step, with the process 'restarted' between steps."""
from __future__ import annotations

import datetime as dt

import pytest

from dialogs.events import Action, Button, CheckFinished, Command, FileReceived, Reply, Text
from dialogs.machine import step
from dialogs.replies import render
from rules import Answers, check
from storage import Repository
from tests.factory import SeriesSpec, write_study

TODAY = dt.date(2026, 11, 23)
CHAT = "test:restart"


class Client:
    """Sends events through a repository the way a channel does; `restart()` opens a fresh one on the same data."""

    def __init__(self, url: str, data_dir):
        self.url, self.data_dir = url, data_dir
        self.repository = Repository(url, data_dir).open()
        self.buttons: list[tuple[str, str]] = []
        self.texts: list[str] = []
        self.actions: list[Action] = []

    def restart(self) -> None:
        self.repository.close()
        self.repository = Repository(self.url, self.data_dir).open()

    def send(self, event) -> None:
        with self.repository.step(CHAT) as case:
            _, replies = step(case, event, today=TODAY)
            locale = case.locale
        for reply in replies:
            if isinstance(reply, Action):
                self.actions.append(reply)
            elif isinstance(reply, Reply):
                rendered = render(reply, locale)
                self.texts.append(rendered.text)
                if rendered.buttons:
                    self.buttons = [button for row in rendered.buttons for button in row]

    def tap(self, label: str) -> None:
        data = next(data for text, data in self.buttons if text == label)
        self.send(Button(data))

    @property
    def state(self) -> str:
        return self.repository.load(CHAT).state


INBOUND = ["English", "I agree", "Coming to China", "stable cancer surveillance", "lung", "Today", "Yes", "No", "No"]


@pytest.mark.parametrize("restart_after", range(len(INBOUND) + 1))
def test_a_restart_at_any_step_continues_where_the_patient_was(database_url, tmp_path, restart_after):
    client = Client(database_url, tmp_path / "data")
    client.send(Command("start"))
    for index, label in enumerate(INBOUND):
        if index == restart_after:
            before = client.state
            client.restart()
            client.send(Command("start"))
            assert client.state == before
            if before not in ("language", "consent"):  # before consent nothing is remembered but the language
                assert client.texts[-2] == "Welcome back. Here is where you left off."
        client.tap(label)
    assert client.state == "files"
    study = tmp_path / "study"
    write_study(study, [SeriesSpec("CT", 2, {"SliceThickness": "1.0"})], study_date=TODAY - dt.timedelta(days=5))
    with client.repository.step(CHAT) as case:
        with (study / next(p.name for p in study.iterdir())).open("rb") as source:
            stored = client.repository.store_upload(case, source, "IM00001")
        step(case, FileReceived(stored), today=TODAY)
    client.restart()
    client.tap("Done")
    assert client.actions[-1] == Action("check")
    case = client.repository.load(CHAT)
    report = check([upload.path for upload in case.uploads], Answers.from_dict(case.answers, TODAY))
    client.restart()
    client.send(CheckFinished(report.to_json()))
    assert client.state == "checklist" and "1 study found: 1 usable, 0 to review, 0 to redo." in client.texts[-1]


def test_an_old_button_after_a_restart_shows_the_current_step(database_url, tmp_path):
    client = Client(database_url, tmp_path / "data")
    client.send(Command("start"))
    client.tap("English")
    old = client.buttons
    client.tap("I agree")
    client.restart()
    client.send(Button(old[0][1]))
    assert client.texts[-2] == "That button belongs to an earlier question. Here is the current one:"
    assert client.state == "direction"


def test_nothing_but_the_language_is_stored_before_consent(database_url, tmp_path):
    client = Client(database_url, tmp_path / "data")
    client.send(Command("start"))
    client.tap("Русский")
    case = client.repository.load(CHAT)
    assert case.locale == "ru" and case.answers == {} and not case.consent
    client.send(Text("hello"))
    assert client.repository.load(CHAT).answers == {}
