"""Handed-off cases for dashboard tests: a patient driven through the channels' own case core (`cases.CaseCore`)
(the real conversation, storage steps, real DICOM from the factory checked by `rules.check`, the handoff
recorded as every channel records it)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from cases import CaseCore
from cases.jobs import Jobs
from dialogs.events import Button, Command
from storage import Repository, Settings
from tests.factory import SeriesSpec, write_study


def study_files(folder: Path, thickness: str = "5.0", days_old: int = 3) -> list[Path]:
    write_study(folder, [SeriesSpec("CT", 3, {"SliceThickness": thickness})],
                study_date=dt.date.today() - dt.timedelta(days=days_old))
    return sorted(folder.iterdir())


def hand_off(repository: Repository, chat: str, files: list[tuple[Path, str]], *, locale: str = "en",
             condition: str = "stable_oncology", area: str = "lung", sent_at: str | None = None,
             coordinator_locale: str = "en"):
    """Drive `chat` from /start to an agreed handoff with `files` (path, the patient's name); the handed-off case.
    `sent_at` replaces the moment of the handoff (ISO UTC) where a test needs a known one."""
    conversation = CaseCore(repository, Settings(data_dir=repository.data_dir, database_url=repository.url,
                                                 coordinator_locale=coordinator_locale))
    for event in (Command("start"), Button(f"language:{locale}"), Button("consent:agree"), Button("direction:inbound"),
                  Button(f"condition:{condition}"), Button(f"area:{area}"), Button("visit:today"),
                  Button("visit_confirm:yes"), Button("symptoms:no"), Button("infection:no")):
        conversation.step(chat, event)
    for path, name in files:
        with path.open("rb") as source:
            conversation.receive(chat, source, name)
    conversation.step(chat, Button("files:done"))
    conversation.queue.runner(Jobs(conversation)).run_pending(["check"])     # the check job, here and now
    assert repository.load(chat).state == "checklist"
    conversation.step(chat, Button("checklist:yes"))
    if sent_at:
        with repository.step(chat) as case:
            case.handoff = {**case.handoff, "sent_at": sent_at}
    case = repository.load(chat)
    assert case.status == "handed_off" and case.handoff
    return case
