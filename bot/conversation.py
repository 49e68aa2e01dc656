"""What every channel does with a patient's case: one step in one transaction, and the actions a step asks for.

A channel (terminal, Telegram, web) turns its input into dialog events and
renders the replies; everything in between is here, once:

    conversation = Conversation(repository, settings)
    locale, replies = conversation.step("web:abc", Text("2026-12-01"))
    locale, replies = conversation.receive("web:abc", stream, "study.zip")
    locale, replies = conversation.check("web:abc", progress)          # after Action("check")
    locale, replies = await conversation.download("web:abc", url)      # after Action("download")

Every method returns the patient's locale and the replies to show; each saves
before it returns, so a reply that fails to reach the patient loses nothing.
Blocking methods (all but `download`) belong in a worker thread on an event loop.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from bot.links import LinkError, LinkFetcher
from dialogs.case import Case, Upload
from dialogs.events import Action, CheckFinished, Event, FileReceived, LinkFailed, Reply
from dialogs.flow import FLOW
from dialogs.handoff import summary
from dialogs.i18n import choose
from dialogs.machine import step
from rules import Answers, check
from storage import Repository, Settings
from storage.errors import CaseFull, UploadTooLarge

Replies = list[Reply | Action]
Progress = Callable[[int, int], None]


class Conversation:
    def __init__(self, repository: Repository, settings: Settings, fetcher: LinkFetcher | None = None):
        self.repository, self.settings = repository, settings
        self.fetcher = fetcher or LinkFetcher(settings.max_upload_bytes)

    def step(self, chat: str, event: Event, language: str | None = None) -> tuple[str, Replies]:
        """One step. `language` (a browser's or Telegram's language code) picks the locale of a new case."""
        with self.repository.step(chat) as case:
            _first_language(case, language)
            _, replies = step(case, event)
            return case.locale, replies

    def receive(self, chat: str, source: BinaryIO, name: str, language: str | None = None) -> tuple[str, Replies]:
        """A file from the patient, stored in the case and stepped. Outside the files step (or before
        consent) nothing is kept and the patient gets a hint; over MAX_UPLOAD_MB nothing is kept either.

        The file is copied before the step's transaction, not inside it, so a large copy never holds up
        other patients' steps; if the case moved on meanwhile, the copy is dropped."""
        case = self.repository.load(chat)
        if case is None or FLOW[case.state].input != "files" or not case.consent:
            return self.step(chat, FileReceived(Upload("", name, 0, "")), language)
        try:
            upload = self.repository.store_upload(case, source, name)
        except UploadTooLarge:
            return case.locale, [Reply("upload_too_large", {"limit": self.settings.max_upload_mb})]
        except CaseFull as full:      # MAX_CASE_MB / MAX_CASE_FILES, the same for every channel
            return case.locale, [Reply("case_full", full.params)]
        try:
            with self.repository.step(chat) as current:
                _first_language(current, language)
                kept = current.id == case.id and FLOW[current.state].input == "files" and current.consent
                _, replies = step(current, FileReceived(upload if kept else Upload("", name, 0, "")))
                locale = current.locale
        except BaseException:
            kept = False
            raise
        finally:
            if not kept:
                Path(upload.path).unlink(missing_ok=True)
        return locale, replies

    def check(self, chat: str, progress: Progress | None = None) -> tuple[str, Replies]:
        """Run the checker over the case's uploads and step with its report."""
        case = self.repository.load(chat)
        if case is None:
            return "en", []
        report = check([upload.path for upload in case.uploads], Answers.from_dict(case.answers), progress=progress,
                       names={upload.path: upload.name for upload in case.uploads})  # the patient's names
        return self.step(chat, CheckFinished(report.to_json()))

    async def download(self, chat: str, url: str,
                       progress: Callable[[int, int | None], None] | None = None) -> tuple[str, Replies]:
        """Fetch a cloud link into the case (as `receive` does with a file), or explain why it could not be."""
        downloads = self.settings.data_dir / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=downloads) as scratch:
            try:
                got = await self.fetcher.fetch(url, Path(scratch), progress)
            except LinkError as error:
                return await asyncio.to_thread(
                    self.step, chat, LinkFailed(error.reason, {"limit": self.settings.max_upload_mb}))

            def store() -> tuple[str, Replies]:
                with got.path.open("rb") as source:
                    return self.receive(chat, source, got.name)

            return await asyncio.to_thread(store)

    def hand_off(self, chat: str, to: Sequence[int | str] = ()) -> tuple[int | None, str, dict | None]:
        """Record the coordinator handoff (summary in COORDINATOR_LOCALE); returns the case id, summary and report."""
        with self.repository.step(chat) as case:
            text = summary(case, self.settings.coordinator_locale)
            case.handoff = {"summary": text, "locale": case.locale, "to": list(to),
                            "sent_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
            return case.id, text, case.report

    def delete(self, chat: str) -> None:
        self.repository.delete(chat)


def _first_language(case: Case, language: str | None) -> None:
    """A new case speaks the language its channel reports, until the patient picks one."""
    if language and case.state == "language" and not case.consent and not case.answers:
        case.locale = choose(language)
