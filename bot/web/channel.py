"""The web channel: a web (or upload-page) patient's step, and what the page polls.

A step goes through the case core (`cases.CaseCore`) in a worker thread; its replies are rendered for
the page at once. Checks and downloads are jobs; their progress and their answers (and coordinators'
replies) are read from the database — the progress board and the outbox — so any instance answers
any patient's poll, whichever instance or worker ran the job.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.web.transcript import messages
from cases import CaseCore, reply_from_json


@dataclass
class Answer:
    locale: str
    messages: list[dict]

    def json(self, busy: dict | None) -> dict:
        return {"locale": self.locale, "messages": self.messages, "busy": busy}


class WebChannel:
    def __init__(self, core: CaseCore):
        self.core = core
        self.settings = core.settings

    async def step(self, chat: str, event, language: str | None = None) -> Answer:
        locale, replies = await asyncio.to_thread(self.core.step, chat, event, language)
        return self.answer(locale, replies)

    def answer(self, locale: str, replies) -> Answer:
        return Answer(locale, messages(replies, locale, self.settings.retention_days))

    async def busy(self, chat: str) -> dict | None:
        return _busy(await asyncio.to_thread(self.core.progress.get, chat))

    async def updates(self, chat: str, after: int) -> dict:
        """What the page polls: a job's progress, the messages recorded for this chat after id `after`
        (what jobs answered, coordinators' replies). A fresh page (after=0) gets coordinators' replies
        and what it has not shown yet."""
        return await asyncio.to_thread(self._updates, chat, after)

    def _updates(self, chat: str, after: int) -> dict:
        core = self.core
        progress = core.progress.get(chat)
        news = core.outbox.newer(chat, after)
        if after == 0:
            news = [m for m in news if m.state == "queued" or m.body.get("from") == "coordinator"]
        case = core.repository.load(chat)
        locale = case.locale if case else "en"
        shown, replies = [], []
        for message in news:
            rendered = messages([reply_from_json(r) for r in message.body.get("replies", [])],
                                locale, self.settings.retention_days)
            (replies if message.body.get("from") == "coordinator" else shown).extend(rendered)
        core.outbox.sent([m.id for m in news if m.state == "queued"])
        return {"locale": locale, "busy": _busy(progress), "messages": shown, "replies": replies,
                "replies_seen": max([after] + [m.id for m in news]), "handed_off": bool(case and case.handoff)}


def _busy(progress) -> dict | None:
    """A job under way as the page shows it (chat.js `watch`), or None."""
    return {"kind": progress.kind, "done": progress.done, "total": progress.total} if progress else None
