"""Delivers outbox messages to Telegram chats: what a worker (or the one-process server) runs for the
Telegram channel. Needs only the bot's token, not the channel's updates: any process may deliver.

    send = TelegramSender(settings)      # its own Bot on an event loop of its own
    send(message)                        # raises on any failure; the delivery job is retried
"""
from __future__ import annotations

import asyncio
import json
import threading

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.request import HTTPXRequest

from cases import reply_from_json
from dialogs.replies import render
from storage import Settings
from storage.outbox import Message

SEND_TIMEOUT = 60.0        # seconds for one message, its retries after a flood wait included


def keyboard(buttons) -> InlineKeyboardMarkup | None:
    rows = [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in buttons]
    return InlineKeyboardMarkup(rows) if rows else None


class TelegramSender:
    def __init__(self, settings: Settings, bot=None):
        self.settings = settings
        self.bot, self.ready = bot, bot is not None      # a given bot (a test's) is ready as it is
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="scanpass-telegram-send", daemon=True)
        self.thread.start()
        if bot is not None:
            return
        options = {}
        if settings.telegram_base_url:
            options["base_url"] = settings.telegram_base_url
        if settings.telegram_base_file_url:
            options["base_file_url"] = settings.telegram_base_file_url
        self.bot = Bot(settings.telegram_bot_token, local_mode=settings.telegram_local_mode,
                       request=HTTPXRequest(connection_pool_size=8), **options)

    def __call__(self, message: Message) -> None:
        asyncio.run_coroutine_threadsafe(self._send(message), self.loop).result(SEND_TIMEOUT)

    async def _send(self, message: Message) -> None:
        if not self.ready:
            await self.bot.initialize()
            self.ready = True
        chat_id = int(message.chat.partition(":")[2])
        body = message.body
        if "document" in body:
            document = body["document"]
            data = json.dumps(document["json"], ensure_ascii=False, indent=2).encode()
            await self.bot.send_document(chat_id, InputFile(data, filename=document["name"]))
        elif "text" in body:
            await self.bot.send_message(chat_id, body["text"])
        for reply in body.get("replies", []):
            rendered = render(reply_from_json(reply), body.get("locale", "en"), self.settings.retention_days)
            await self.bot.send_message(chat_id, rendered.text, reply_markup=keyboard(rendered.buttons))

    def close(self) -> None:
        async def shutdown() -> None:
            if isinstance(self.bot, Bot) and self.ready:
                await self.bot.shutdown()
        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        except Exception:  # noqa: BLE001 — closing is best effort
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
