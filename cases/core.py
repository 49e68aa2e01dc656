"""What every channel and every worker does with a patient's case: one step in one transaction, with the
jobs and messages that step asks for committed in that same transaction.

    core = CaseCore(repository, settings, queue)
    locale, replies = core.step("web:abc", Text("2026-12-01"))
    locale, replies = core.receive("web:abc", stream, "study.zip")

A step's replies come back to the channel that took the step, to be shown at once. What a step asks
for is done here, never by the channel: a check or a link download becomes a job (`cases.jobs`),
a handoff becomes messages to the coordinators in the outbox, /delete erases the case. What a job
answers later (the checklist, a downloaded link's receipt) and what a coordinator writes go to the
outbox; push channels (Telegram) have each message delivered by a job, pull channels (the web page,
the terminal) read theirs (`core.outbox.newer`).

Blocking: call these from a worker thread on an event loop.
"""
from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from cases.messages import reply_to_json
from dialogs.case import Case, Upload
from dialogs.events import Action, CheckFinished, Event, FileReceived, LinkFailed, Reply
from dialogs.flow import CHECKING, FLOW
from dialogs.handoff import summary
from dialogs.i18n import choose
from dialogs.machine import step
from storage import Repository, Settings
from storage.errors import CaseFull, UploadTooLarge
from storage.jobs import JobTable
from storage.outbox import Outbox
from storage.progress import ProgressBoard

Replies = list[Reply]
Progress = Callable[[int, int | None], None]
PUSHED = ("telegram:",)          # chats whose messages a delivery job sends; others read their own


class CaseCore:
    def __init__(self, repository: Repository, settings: Settings, queue=None):
        from cases.queue import EmbeddedQueue

        self.repository, self.settings = repository, settings
        self.queue = queue or EmbeddedQueue(JobTable(repository))
        self.outbox = Outbox(repository)
        self.progress = ProgressBoard(repository)

    # ---- steps ---------------------------------------------------------------------------------
    def step(self, chat: str, event: Event, language: str | None = None) -> tuple[str, Replies]:
        """One step. `language` (a browser's or Telegram's language code) picks the locale of a new case."""
        erase = False
        with self.repository.step(chat) as case:
            _first_language(case, language)
            _, replies = step(case, event, dt.date.today())
            erase = self._act(case, replies)
            locale = case.locale
        if erase:
            self.repository.delete(chat)
        self.queue.wake()
        return locale, _shown(replies)

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
        kept = False
        try:
            with self.repository.step(chat) as current:
                _first_language(current, language)
                kept = current.id == case.id and FLOW[current.state].input == "files" and current.consent
                _, replies = step(current, FileReceived(upload if kept else Upload("", name, 0, "")), dt.date.today())
                self._act(current, replies)
                locale = current.locale
        except BaseException:
            kept = False
            raise
        finally:
            if not kept:
                Path(upload.path).unlink(missing_ok=True)
        self.queue.wake()
        return locale, _shown(replies)

    def tell(self, chat: str, key: str, replies: Sequence[Reply], case: Case | None = None,
             sender: str = "scanpass") -> int | None:
        """Record replies for a chat in the outbox (inside a step: in its transaction) and, for a push
        channel, ask for their delivery. `key` makes it happen once."""
        body = {"locale": case.locale if case is not None else "en", "from": sender,
                "replies": [reply_to_json(r) for r in replies if isinstance(r, Reply)]}
        return self._record(chat, key, body, case.id if case is not None else None)

    def _record(self, chat: str, key: str, body: dict, case_id: int | None) -> int | None:
        message = self.outbox.record(chat, key, body, case_id)
        if message is not None and chat.startswith(PUSHED):
            self.queue.ask("deliver", f"deliver:{message}", {"message": message})
        return message

    def announce(self, chat: str, replies: Sequence[Reply]) -> None:
        """Replies of a step taken elsewhere (the upload page) for a patient of another channel."""
        with self.repository.step(chat) as case:
            self.tell(chat, f"say:{case.id}:{secrets.token_hex(8)}", replies, case)
        self.queue.wake()

    # ---- what a step asks for ------------------------------------------------------------------
    def _act(self, case: Case, replies: list) -> bool:
        """Inside the step's transaction: ask for the jobs and record the messages the step's actions
        call for. Returns whether the case is to be erased after the commit."""
        erase = False
        for action in (reply for reply in replies if isinstance(reply, Action)):
            if action.name in ("check", "download"):
                token = self.progress.start(case.chat, case.id, action.name)
                params = {"chat": case.chat, "token": token, **action.params}
                self.queue.ask(action.name, f"{action.name}:{token}", params)
            elif action.name == "handoff":
                self._hand_off(case)
            elif action.name == "delete":
                erase = True
        return erase

    def _hand_off(self, case: Case) -> None:
        """The coordinator handoff (summary in COORDINATOR_LOCALE), kept with the case, and for each of
        COORDINATOR_CHAT_IDS the summary and the JSON report in the outbox."""
        text = summary(case, self.settings.coordinator_locale)
        to = list(self.settings.coordinator_chat_ids)
        sent_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        case.handoff = {"summary": text, "locale": case.locale, "to": to, "sent_at": sent_at}
        token = secrets.token_hex(8)
        for coordinator in to:
            for part, body in (("summary", {"text": text}),
                               ("report", {"document": {"name": f"scanpass-case-{case.id}.json",
                                                        "json": case.report or {}}})):
                self._record(f"telegram:{coordinator}", f"handoff:{case.id}:{token}:{coordinator}:{part}",
                             {"from": "scanpass", **body}, case.id)

    def delete(self, chat: str) -> None:
        self.repository.delete(chat)

    # ---- what jobs do (cases.jobs calls these) --------------------------------------------------
    def finish(self, chat: str, token: str, event: Event) -> bool:
        """The step that ends a check or a download: taken only if the job is still the case's current
        one (a job run twice, or one the patient walked away from, changes nothing). Its replies go to
        the outbox, keyed by the job: one checklist per check."""
        with self.repository.step(chat) as case:
            if not self.progress.finish(chat, token):
                return False
            if isinstance(event, CheckFinished) and case.state not in CHECKING:
                return False
            _, replies = step(case, event, dt.date.today())
            erase = self._act(case, replies)
            self.tell(chat, f"job:{token}", _shown(replies), case)
        if erase:
            self.repository.delete(chat)
        self.queue.wake()
        return True

    def receive_download(self, chat: str, token: str, path: Path, name: str) -> bool:
        """A downloaded link's file joins the case as an upload would, answered through the outbox."""
        case = self.repository.load(chat)
        if case is None or not self.progress.current(chat, token):
            return False
        if FLOW[case.state].input != "files" or not case.consent:
            return self.finish(chat, token, FileReceived(Upload("", name, 0, "")))
        try:
            with path.open("rb") as source:
                upload = self.repository.store_upload(case, source, name)
        except UploadTooLarge:
            return self.finish(chat, token, LinkFailed("too_large", {"limit": self.settings.max_upload_mb}))
        try:
            done = self.finish(chat, token, FileReceived(upload))
        except BaseException:
            Path(upload.path).unlink(missing_ok=True)
            raise
        if not done:
            Path(upload.path).unlink(missing_ok=True)
        return done


def _shown(replies: list) -> Replies:
    return [reply for reply in replies if isinstance(reply, Reply)]


def _first_language(case: Case, language: str | None) -> None:
    """A new case speaks the language its channel reports, until the patient picks one."""
    if language and case.state == "language" and not case.consent and not case.answers:
        case.locale = choose(language)
