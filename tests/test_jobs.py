"""Jobs of the embedded queue and the case core: a job killed midway runs again, running twice has no
double effect (one checklist per check), a step that rolls back leaves no job, a failed delivery is
retried and shown."""
from __future__ import annotations

import datetime as dt

import pytest

from cases import CaseCore
from cases.jobs import Jobs, Undelivered
from dialogs.events import Action, Button, Command
from storage import Repository, Settings
from storage.jobs import JobTable
from tests.factory import SeriesSpec, write_study

ANSWERS = (Command("start"), Button("language:en"), Button("consent:agree"), Button("direction:inbound"),
           Button("condition:other"), Button("area:other"), Button("visit:today"), Button("visit_confirm:yes"),
           Button("symptoms:no"), Button("infection:no"))


@pytest.fixture
def core(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    with Repository.from_settings(settings) as repository:
        yield CaseCore(repository, settings)


def at_the_check(core, tmp_path, chat="web:jobs") -> str:
    for event in ANSWERS:
        core.step(chat, event)
    study = tmp_path / "study"
    write_study(study, [SeriesSpec("CT", 2, {"SliceThickness": "1.0"})], study_date=dt.date.today())
    for path in sorted(study.iterdir()):
        with path.open("rb") as source:
            core.receive(chat, source, path.name)
    core.step(chat, Button("files:done"))
    return chat


def test_a_check_job_killed_midway_runs_again_and_gives_one_checklist(core, tmp_path):
    chat = at_the_check(core, tmp_path)
    table = core.queue.table
    first = table.claim(["check"], lease=-1)          # claimed by a process that then died: its lease is over
    assert first is not None and first.kind == "check"
    again = table.claim(["check"], lease=60)           # another runner takes it over
    assert again.id == first.id and again.attempts == 2
    jobs = Jobs(core)
    jobs.run(again.kind, again.params)
    jobs.run(first.kind, first.params)                 # the dead runner's copy, had it finished after all
    table.done(again.id)
    checklists = [m for m in core.outbox.newer(chat) if m.key.startswith("job:")]
    assert len(checklists) == 1
    assert [r["message"] for r in checklists[0].body["replies"]][0] == "show_checklist"
    assert core.repository.load(chat).state == "checklist" and core.progress.get(chat) is None


def test_a_step_that_rolls_back_leaves_no_job(core, tmp_path):
    chat = at_the_check(core, tmp_path)
    table: JobTable = core.queue.table
    queued = table.waiting()
    with pytest.raises(RuntimeError):
        with core.repository.step(chat) as case:
            core._act(case, [Action("check")])
            raise RuntimeError("the step failed after asking")
    assert table.waiting() == queued


def test_a_delivery_that_fails_three_times_is_sent_on_the_fourth(core, tmp_path):
    sent, failures = [], [1, 2, 3]

    def telegram(message):
        if failures:
            failures.pop()
            raise ConnectionError("Telegram is away")
        sent.append(message.id)

    jobs = Jobs(core, {"telegram": telegram})
    for event in ANSWERS:
        core.step("telegram:77", event)
    with core.repository.step("telegram:77") as case:
        message = core.tell("telegram:77", "reply:test", [], case, sender="coordinator")
    for attempt in range(3):
        with pytest.raises(Undelivered):
            jobs.deliver(message)
        assert core.outbox.get(message).state == "queued" and core.outbox.get(message).error == "ConnectionError"
    jobs.deliver(message)
    jobs.deliver(message)                               # run twice: sent once
    assert sent == [message] and core.outbox.get(message).state == "sent"
    assert core.outbox.get(message).attempts == 3


def test_the_purge_is_asked_once_a_day(core):
    table = core.queue.table
    assert table.ask("purge", "purge:2026-12-08", {"day": "2026-12-08"})
    assert not table.ask("purge", "purge:2026-12-08", {"day": "2026-12-08"})
