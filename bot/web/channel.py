"""The web channel: a step of a web (or upload-page) patient, the actions it asks for, and what the page polls.

Steps run in worker threads (`Conversation` is blocking). The long actions — the check and a cloud
link's download — run as one background job per chat; the page polls `updates()` for their progress
and, when they end, for their replies. A coordinator's replies (kept in `case.handoff["replies"]`)
reach the page the same way. When the Telegram channel runs, handoffs go to the coordinator chats
through it, and a Telegram patient's step taken on the upload page is answered in their Telegram chat.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from bot.conversation import Conversation
from bot.web.transcript import coordinator_message, messages
from dialogs.events import Action, Command, Reply

log = logging.getLogger("scanpass.web")


@dataclass
class Job:
    """A check or a download running for one chat, and its replies until the page takes them."""

    kind: str                        # check | download
    done: int = 0
    total: int | None = 0
    task: asyncio.Task | None = None
    finished: list[dict] = field(default_factory=list)


@dataclass
class Answer:
    locale: str
    messages: list[dict]

    def json(self, busy: dict | None) -> dict:
        return {"locale": self.locale, "messages": self.messages, "busy": busy}


class WebChannel:
    def __init__(self, conversation: Conversation, telegram=None):
        self.conversation, self.telegram = conversation, telegram
        self.settings = conversation.settings
        self.jobs: dict[str, Job] = {}

    # ---- steps ---------------------------------------------------------------------------------
    async def step(self, chat: str, event, language: str | None = None) -> Answer:
        locale, replies = await asyncio.to_thread(self.conversation.step, chat, event, language)
        return await self.answer(chat, locale, replies)

    async def answer(self, chat: str, locale: str, replies) -> Answer:
        """Render a step's replies, then carry out its actions (long ones in the background)."""
        shown = messages(replies, locale, self.settings.retention_days)
        for action in (reply for reply in replies if isinstance(reply, Action)):
            more = await self.act(chat, action)
            if more is not None:
                locale, shown = more.locale, shown + more.messages
        if any(reply.message == "checking" for reply in replies if isinstance(reply, Reply)):
            self.start(chat, "check")   # also after a restart of the server: the check is due and nobody runs it
        return Answer(locale, shown)

    async def act(self, chat: str, action: Action) -> Answer | None:
        if action.name == "check":
            self.start(chat, "check")
        elif action.name == "download":
            self.start(chat, "download", action.params["url"])
        elif action.name == "delete":
            await asyncio.to_thread(self.conversation.delete, chat)
        elif action.name == "handoff":
            await self.hand_off(chat)
        return None

    async def hand_off(self, chat: str) -> None:
        channel = self.telegram.bot_data.get("channel") if self.telegram is not None else None
        if channel is not None:   # summary and JSON report to COORDINATOR_CHAT_IDS, as for a Telegram patient
            await channel.hand_off(self.telegram, chat)
        else:
            await asyncio.to_thread(self.conversation.hand_off, chat)

    # ---- background jobs -----------------------------------------------------------------------
    def start(self, chat: str, kind: str, url: str | None = None) -> None:
        current = self.jobs.get(chat)
        if current is not None and current.task is not None and not current.task.done():
            return
        job = self.jobs[chat] = Job(kind, finished=current.finished if current else [])

        def progress(done: int, total: int | None) -> None:
            job.done, job.total = done, total

        async def run() -> None:
            try:
                if kind == "check":
                    locale, replies = await asyncio.to_thread(self.conversation.check, chat, progress)
                else:
                    locale, replies = await self.conversation.download(chat, url, progress)
                answer = await self.answer(chat, locale, replies)
                job.finished.extend(answer.messages)
            except Exception as error:  # noqa: BLE001 — the patient gets their current step again
                log.warning("web %s failed: %s", kind, type(error).__name__)
                answer = await self.step(chat, Command("start"))
                job.finished.extend(answer.messages)

        job.task = asyncio.create_task(run())

    async def updates(self, chat: str, replies_seen: int) -> dict:
        """What the page polls: a job's progress, replies that arrived since, coordinators' replies."""
        job, busy = self.jobs.get(chat), self.busy(chat)
        finished = []
        if job is not None and job.finished:
            finished, job.finished = job.finished, []
            if busy is None:
                self.jobs.pop(chat, None)
        case = await asyncio.to_thread(self.conversation.repository.load, chat)
        coordinators = (case.handoff or {}).get("replies", []) if case else []
        locale = case.locale if case else "en"
        return {"locale": locale, "busy": busy, "messages": finished,
                "replies": [coordinator_message(reply["text"], locale) for reply in coordinators[replies_seen:]],
                "replies_seen": len(coordinators), "handed_off": bool(case and case.handoff)}

    def busy(self, chat: str) -> dict | None:
        job = self.jobs.get(chat)
        if job is None or job.task is None or job.task.done():
            return None
        return {"kind": job.kind, "done": job.done, "total": job.total}

    # ---- Telegram patients on the upload page --------------------------------------------------
    async def tell_telegram(self, chat: str, locale: str, replies) -> bool:
        """Send replies to a `telegram:<id>` chat through the running Telegram channel. False when it does not run."""
        channel = self.telegram.bot_data.get("channel") if self.telegram is not None else None
        if channel is None or not chat.startswith("telegram:"):
            return False
        await channel.send(self.telegram, int(chat.partition(":")[2]), replies, locale)
        return True

    async def close(self) -> None:
        for job in self.jobs.values():
            if job.task is not None and not job.task.done():
                job.task.cancel()
        await asyncio.gather(*(job.task for job in self.jobs.values() if job.task is not None), return_exceptions=True)
