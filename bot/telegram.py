"""The Telegram channel: updates become dialog events, replies become messages with inline keyboards.

One place builds the Application (`build_application`). The adapter is thin:
each update is one step of the case core (`cases.CaseCore`, run in a worker
thread, so other patients' chats stay responsive), then its replies are sent.
What the step asked for (a check, a download, the handoff) is a job or an outbox
message; their answers reach the chat through delivery jobs (`bot.telegram_sender`),
whichever process runs them. While a check or download runs, one message shows its
progress, read from the database. Logs never carry patient data: only update ids
and exception types.
"""
from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from pathlib import Path

from telegram import BotCommand, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bot.telegram_sender import keyboard
from cases import CaseCore, casework
from cases.upload_links import upload_link
from dialogs.flow import FLOW
from dialogs.events import Button, Command, Reply, Text
from dialogs.handoff import summary
from dialogs.i18n import choose, shipped
from dialogs.render import environment
from dialogs.replies import render

log = logging.getLogger("scanpass.telegram")

CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024      # getFile on Telegram's cloud Bot API
LOCAL_DOWNLOAD_LIMIT = 2000 * 1024 * 1024    # a local Bot API server
PROGRESS_EVERY = 2.0                          # seconds between edits of the progress message
PROGRESS_FOR = 60 * 60                        # seconds a progress message is kept up at most
ALBUM_QUIET = 1.0                             # seconds after an album's last file before answering
COMMANDS = ("start", "restart", "language", "delete", "cancel", "help")
COORDINATOR_COMMANDS = ("cases", "case", "claim", "reply")


class TelegramChannel:
    def __init__(self, core: CaseCore):
        self.core, self.repository, self.settings = core, core.repository, core.settings
        self.download_limit = LOCAL_DOWNLOAD_LIMIT if self.settings.telegram_local_mode else CLOUD_DOWNLOAD_LIMIT
        self.albums: dict[tuple[int, str], object] = {}  # (chat, media group) -> a mark of its latest file

    # ---- one step ------------------------------------------------------------------------
    async def handle(self, update: Update, context: ContextTypes.DEFAULT_TYPE, event) -> None:
        chat_id = update.effective_chat.id
        language = update.effective_user.language_code if update.effective_user else None
        locale, replies = await asyncio.to_thread(self.core.step, f"telegram:{chat_id}", event, language)
        await self.deliver(context, chat_id, locale, replies)

    async def deliver(self, context, chat_id: int, locale: str, replies, album: str | None = None) -> None:
        """Send a step's replies; while the job it asked for runs, show its progress."""
        if album:  # several documents sent at once: one answer for the batch, after its last file
            latest = self.albums[(chat_id, album)] = object()
            await asyncio.sleep(ALBUM_QUIET)
            if self.albums.get((chat_id, album)) is not latest:
                return  # a later file of the same album answers for all of them
            del self.albums[(chat_id, album)]
        await self.send(context, chat_id, replies, locale)
        if any(reply.message in ("checking", "link_received") for reply in replies):
            await self.show_progress(context, chat_id)

    async def send(self, context, chat_id: int, replies, locale: str) -> None:
        for reply in replies:
            if isinstance(reply, Reply):
                rendered = render(reply, locale, self.settings.retention_days)
                await context.bot.send_message(chat_id, rendered.text, reply_markup=keyboard(rendered.buttons))

    async def show_progress(self, context, chat_id: int) -> None:
        """One message showing a check's files done (or a download's megabytes), edited at most every
        PROGRESS_EVERY seconds until the job ends (its answer comes as a delivered message)."""
        chat, board = f"telegram:{chat_id}", self.core.progress
        progress = await asyncio.to_thread(board.get, chat)
        if progress is None:
            return
        message = await context.bot.send_message(chat_id, "…")
        shown, until = "…", time.monotonic() + PROGRESS_FOR
        while progress is not None and time.monotonic() < until:
            text = _progress_text(progress)
            if text != shown:
                shown = text
                try:
                    await message.edit_text(text)
                except TelegramError:  # an edit that fails only costs the progress display
                    pass
            await asyncio.sleep(PROGRESS_EVERY)
            progress = await asyncio.to_thread(board.get, chat)

    # ---- coordinators --------------------------------------------------------------------
    async def coordinate(self, context, chat_id: int, name: str, args: str, who: str) -> None:
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
            await asyncio.to_thread(self._mark, case.chat, "claimed", {"claimed_by": who})
            await context.bot.send_message(chat_id, str(coordinator.claimed(case.id)).strip())
        elif name == "reply" and text.strip():   # the same path as the dashboard's reply
            await asyncio.to_thread(casework.answer, self.core, case.id, who, text.strip())
            await context.bot.send_message(chat_id, str(coordinator.replied(case.id)).strip())
        else:
            await context.bot.send_message(chat_id, str(coordinator.usage()).strip())

    def _mark(self, chat: str, status: str, details: dict) -> None:
        """A coordinator's claim, kept with the handoff."""
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
                user = update.effective_user   # the coordinator, named as the dashboard shows them
                who = (f"@{user.username}" if user.username else user.full_name) if user else str(update.effective_chat.id)
                await self.coordinate(context, update.effective_chat.id, name, args.strip(), who)
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
        chat_id = update.effective_chat.id
        language = update.effective_user.language_code if update.effective_user else None
        if (attachment.file_size or 0) > self.download_limit:
            await self.too_large(context, chat_id, language)
            return
        downloads = self.settings.data_dir / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=downloads) as scratch:
            target = Path(scratch) / "file"
            try:
                telegram_file = await context.bot.get_file(attachment.file_id)
                await telegram_file.download_to_drive(target)
            except BadRequest:  # "file is too big" and the like: the patient is told how to send it instead
                await self.too_large(context, chat_id, language)
                return

            def receive():
                with target.open("rb") as source:
                    return self.core.receive(f"telegram:{chat_id}", source, name, language)

            locale, replies = await asyncio.to_thread(receive)
        await self.deliver(context, chat_id, locale, replies, album=message.media_group_id)

    async def too_large(self, context, chat_id: int, language: str | None) -> None:
        """A file over the Bot API's download limit: the other ways to send it, with a one-time web upload
        link when the patient is at the files step (the page joins the files to this case)."""
        chat = f"telegram:{chat_id}"
        case = await asyncio.to_thread(self.repository.load, chat)
        params = {"limit": self.download_limit // (1024 * 1024)}
        if case is not None and case.consent and FLOW[case.state].input == "files":
            params["upload_url"] = await asyncio.to_thread(upload_link, self.repository, self.settings, chat)
        await self.send(context, chat_id, [Reply("file_too_large_telegram", params)],
                        case.locale if case else choose(language))

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


def _progress_text(progress) -> str:
    if progress.kind == "check":
        return f"{progress.done}/{progress.total}" if progress.total else "…"
    return _megabytes(progress.done, progress.total)


def _megabytes(done: int, total: int | None) -> str:
    """Download progress as the patient sees it: "12 / 300 MB" (or "12 MB" when the size is unknown)."""
    mb = 1024 * 1024
    return f"{done // mb} / {max(total // mb, 1)} MB" if total else f"{done // mb} MB"


def build_application(core: CaseCore) -> Application:
    """The one place the Telegram Application is built."""
    settings = core.settings
    builder = (ApplicationBuilder().token(settings.telegram_bot_token).concurrent_updates(True)
               .rate_limiter(AIORateLimiter(overall_max_rate=settings.telegram_messages_per_second,
                                                 max_retries=3)))
    if settings.telegram_base_url:
        builder = builder.base_url(settings.telegram_base_url)
    if settings.telegram_base_file_url:
        builder = builder.base_file_url(settings.telegram_base_file_url)
    if settings.telegram_local_mode:
        builder = builder.local_mode(True)
    channel = TelegramChannel(core)
    builder = builder.post_init(channel.post_init)
    application = builder.build()
    application.add_handler(CallbackQueryHandler(channel.on_button))
    application.add_handler(MessageHandler(filters.TEXT | filters.Document.ALL | filters.PHOTO, channel.on_message))
    application.add_error_handler(channel.on_error)
    application.bot_data["channel"] = channel
    return application
