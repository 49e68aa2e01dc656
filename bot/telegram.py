"""The Telegram channel: updates become dialog events, replies become messages with inline keyboards.

One place builds the Application (`build_application`). The adapter is thin:
each update is one `dialogs.step()` inside one storage transaction (run in a
worker thread, so other patients' chats stay responsive), then the replies are
sent and the step's actions carried out (the checker runs off the event loop).
Logs never carry patient data: only update ids and exception types.
"""
from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
from pathlib import Path

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from dialogs.case import Upload
from dialogs.events import Action, Button, CheckFinished, Command, FileReceived, Reply, Text
from dialogs.flow import FLOW
from dialogs.handoff import summary
from dialogs.i18n import choose, shipped
from dialogs.machine import step
from dialogs.render import environment
from dialogs.replies import render
from rules import Answers, check
from storage import Repository, Settings
from storage.errors import UploadTooLarge

log = logging.getLogger("scanpass.telegram")

CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024      # getFile on Telegram's cloud Bot API
LOCAL_DOWNLOAD_LIMIT = 2000 * 1024 * 1024    # a local Bot API server
PROGRESS_EVERY = 2.0                          # seconds between edits of the progress message
ALBUM_QUIET = 1.0                             # seconds after an album's last file before answering
COMMANDS = ("start", "restart", "language", "delete", "cancel", "help")
COORDINATOR_COMMANDS = ("cases", "case", "claim", "reply")


class TelegramChannel:
    def __init__(self, repository: Repository, settings: Settings):
        self.repository, self.settings = repository, settings
        self.download_limit = LOCAL_DOWNLOAD_LIMIT if settings.telegram_local_mode else CLOUD_DOWNLOAD_LIMIT
        self.albums: dict[tuple[int, str], object] = {}  # (chat, media group) -> a mark of its latest file

    # ---- one step ------------------------------------------------------------------------
    def _step(self, chat: str, event, language_code: str | None):
        with self.repository.step(chat) as case:
            if case.state == "language" and not case.consent and not case.answers and language_code:
                case.locale = choose(language_code)
            if isinstance(event, _Stored):
                if FLOW[case.state].input != "files" or not case.consent:  # answered with a hint, nothing kept
                    event = FileReceived(Upload(str(event.path), event.name, 0, ""))
                else:
                    try:
                        event = _file_event(self, case, event)
                    except UploadTooLarge:
                        return case.locale, [Reply("upload_too_large", {"limit": self.settings.max_upload_mb})]
            _, replies = step(case, event)
            return case.locale, replies

    async def handle(self, update: Update, context: ContextTypes.DEFAULT_TYPE, event, album: str | None = None) -> None:
        chat_id = update.effective_chat.id
        user = update.effective_user
        locale, replies = await asyncio.to_thread(self._step, f"telegram:{chat_id}", event,
                                                  user.language_code if user else None)
        if album:  # several documents sent at once: one answer for the batch, after its last file
            latest = self.albums[(chat_id, album)] = object()
            await asyncio.sleep(ALBUM_QUIET)
            if self.albums.get((chat_id, album)) is not latest:
                return  # a later file of the same album answers for all of them
            del self.albums[(chat_id, album)]
        await self.send(context, chat_id, replies, locale)
        for action in (reply for reply in replies if isinstance(reply, Action)):
            await self.act(context, chat_id, action, locale)

    async def send(self, context, chat_id: int, replies, locale: str) -> None:
        for reply in replies:
            if isinstance(reply, Reply):
                rendered = render(reply, locale, self.settings.retention_days)
                markup = InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data) for label, data in row]
                                               for row in rendered.buttons]) if rendered.buttons else None
                await context.bot.send_message(chat_id, rendered.text, reply_markup=markup)

    # ---- actions -------------------------------------------------------------------------
    async def act(self, context, chat_id: int, action: Action, locale: str) -> None:
        chat = f"telegram:{chat_id}"
        if action.name == "check":
            await self.run_check(context, chat_id, chat)
        elif action.name == "delete":
            await asyncio.to_thread(self.repository.delete, chat)
        elif action.name == "handoff":
            await self.hand_off(context, chat)

    async def run_check(self, context, chat_id: int, chat: str) -> None:
        case = await asyncio.to_thread(self.repository.load, chat)
        progress = {"done": 0, "total": 0}
        message = await context.bot.send_message(chat_id, "…")

        def report_progress(done: int, total: int) -> None:
            progress.update(done=done, total=total)

        names = {upload.path: upload.name for upload in case.uploads}  # the patient's names, not the names on disk
        job = asyncio.create_task(asyncio.to_thread(check, [u.path for u in case.uploads], Answers.from_dict(case.answers),
                                                    progress=report_progress, names=names))
        shown = ""
        while not job.done():
            await asyncio.wait([job], timeout=PROGRESS_EVERY)
            text = f"{progress['done']}/{progress['total']}" if progress["total"] else "…"
            if text != shown and not job.done():
                shown = text
                try:
                    await message.edit_text(text)
                except TelegramError:  # an edit that fails only costs the progress display
                    pass
        report = job.result()
        try:
            total = report.files.dicom + len(report.files.not_dicom) + len(report.files.unreadable)
            await message.edit_text(f"{total}/{total}")
        except TelegramError:
            pass
        update_locale, replies = await asyncio.to_thread(self._step, chat, CheckFinished(report.to_json()), None)
        await self.send(context, chat_id, replies, update_locale)
        for action in (reply for reply in replies if isinstance(reply, Action)):
            await self.act(context, chat_id, action, update_locale)

    async def hand_off(self, context, chat: str) -> None:
        def record():
            with self.repository.step(chat) as case:
                text = summary(case, self.settings.coordinator_locale)
                case.handoff = {"summary": text, "sent_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                "to": list(self.settings.coordinator_chat_ids)}
                return case.id, text, case.report

        case_id, text, report = await asyncio.to_thread(record)
        for coordinator in self.settings.coordinator_chat_ids:
            await context.bot.send_message(coordinator, text)
            document = json.dumps(report or {}, ensure_ascii=False, indent=2).encode()
            await context.bot.send_document(coordinator, InputFile(document, filename=f"scanpass-case-{case_id}.json"))

    # ---- coordinators --------------------------------------------------------------------
    async def coordinate(self, context, chat_id: int, name: str, args: str) -> None:
        """/cases, /case ID, /claim ID, /reply ID text — only in COORDINATOR_CHAT_IDS."""
        coordinator = environment(choose(self.settings.coordinator_locale)).get_template("coordinator.j2").module
        number, _, text = args.partition(" ")
        if name == "cases":
            handed = [case for case in await asyncio.to_thread(self.repository.cases, None, 50) if case.handoff]
            await context.bot.send_message(chat_id, str(coordinator.cases(handed)).strip())
            return
        case = await asyncio.to_thread(self.repository.get, int(number)) if number.isdigit() else None
        if case is None or not case.handoff or not case.chat.startswith("telegram:"):
            answer = coordinator.unknown_case(number) if number else coordinator.usage()
            await context.bot.send_message(chat_id, str(answer).strip())
            return
        if name == "case":
            await context.bot.send_message(chat_id, summary(case, self.settings.coordinator_locale))
        elif name == "claim":
            await asyncio.to_thread(self._mark, case.chat, "claimed", {"claimed_by": chat_id})
            await context.bot.send_message(chat_id, str(coordinator.claimed(case.id)).strip())
        elif name == "reply" and text.strip():
            patient = case.chat.partition(":")[2]
            rendered = render(Reply("coordinator_reply", {"text": text.strip()}), case.locale)
            await context.bot.send_message(int(patient), rendered.text)
            await asyncio.to_thread(self._mark, case.chat, "answered", {"replied_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
            await context.bot.send_message(chat_id, str(coordinator.replied(case.id)).strip())
        else:
            await context.bot.send_message(chat_id, str(coordinator.usage()).strip())

    def _mark(self, chat: str, status: str, details: dict) -> None:
        with self.repository.step(chat) as case:
            case.status = status
            case.handoff = {**(case.handoff or {}), **details}

    # ---- updates -------------------------------------------------------------------------
    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message.text and message.text.startswith("/"):
            name, _, args = message.text[1:].partition(" ")
            name = name.split("@")[0].lower()
            if name in COORDINATOR_COMMANDS and update.effective_chat.id in self.settings.coordinator_chat_ids:
                await self.coordinate(context, update.effective_chat.id, name, args.strip())
            else:  # elsewhere these are unknown commands, answered by the conversation
                await self.handle(update, context, Command(name, args))
        elif message.text:
            await self.handle(update, context, Text(message.text))
        elif message.document or message.photo:
            await self.on_file(update, context)

    async def on_file(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        attachment = message.document or message.photo[-1]
        name = getattr(attachment, "file_name", None) or f"photo-{message.message_id}.jpg"
        chat = f"telegram:{update.effective_chat.id}"
        if (attachment.file_size or 0) > self.download_limit:
            case = await asyncio.to_thread(self.repository.load, chat)
            await self.send(context, update.effective_chat.id,
                            [Reply("file_too_large_telegram", {"limit": self.download_limit // (1024 * 1024)})],
                            case.locale if case else choose(update.effective_user.language_code))
            return
        downloads = self.settings.data_dir / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=downloads) as scratch:
            target = Path(scratch) / "file"
            try:
                telegram_file = await context.bot.get_file(attachment.file_id)
                await telegram_file.download_to_drive(target)
            except BadRequest:  # "file is too big" and the like: the patient is told how to send it instead
                case = await asyncio.to_thread(self.repository.load, chat)
                await self.send(context, update.effective_chat.id,
                                [Reply("file_too_large_telegram", {"limit": self.download_limit // (1024 * 1024)})],
                                case.locale if case else "en")
                return
            await self.handle(update, context, _Stored(target, name), album=message.media_group_id)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        try:
            await query.answer()  # stops the spinner on the patient's button
        except TelegramError:
            pass
        await self.handle(update, context, Button(query.data or ""))

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.warning("update %s failed: %s", getattr(update, "update_id", "?"), type(context.error).__name__)
        if isinstance(update, Update) and update.effective_chat:
            try:  # show the patient's current step again; nothing saved is lost
                await self.handle(update, context, Command("start"))
            except Exception as error:  # noqa: BLE001 — the error handler must not raise
                log.warning("could not recover update %s: %s", update.update_id, type(error).__name__)

    async def post_init(self, application: Application) -> None:
        for locale in shipped():
            env = environment(locale)
            module = env.get_template("commands.j2").module
            commands = [BotCommand(name, str(getattr(module, name)()).strip()) for name in COMMANDS]
            language = None if locale == "en" else locale.split("_")[0]
            await application.bot.set_my_commands(commands, language_code=language)


class _Stored:
    """A downloaded file waiting to be stored in the step's transaction (see `TelegramChannel._step`)."""

    def __init__(self, path: Path, name: str):
        self.path, self.name = path, name


def _file_event(channel: TelegramChannel, case, stored: _Stored):
    with stored.path.open("rb") as source:
        return FileReceived(channel.repository.store_upload(case, source, stored.name))


def build_application(settings: Settings, repository: Repository) -> Application:
    """The one place the Telegram Application is built."""
    builder = (ApplicationBuilder().token(settings.telegram_bot_token).concurrent_updates(True)
               .rate_limiter(AIORateLimiter(max_retries=3)))
    if settings.telegram_base_url:
        builder = builder.base_url(settings.telegram_base_url)
    if settings.telegram_base_file_url:
        builder = builder.base_file_url(settings.telegram_base_file_url)
    if settings.telegram_local_mode:
        builder = builder.local_mode(True)
    channel = TelegramChannel(repository, settings)
    builder = builder.post_init(channel.post_init)
    application = builder.build()
    application.add_handler(CallbackQueryHandler(channel.on_button))
    application.add_handler(MessageHandler(filters.TEXT | filters.Document.ALL | filters.PHOTO, channel.on_message))
    application.add_error_handler(channel.on_error)
    application.bot_data["channel"] = channel
    return application
