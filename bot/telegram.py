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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bot.conversation import Conversation
from bot.links import LinkFetcher
from bot.web import casework
from bot.web.upload_links import upload_link
from dialogs.flow import FLOW
from dialogs.events import Action, Button, Command, Reply, Text
from dialogs.handoff import summary
from dialogs.i18n import choose, shipped
from dialogs.render import environment
from dialogs.replies import render
from storage import Repository, Settings

log = logging.getLogger("scanpass.telegram")

CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024      # getFile on Telegram's cloud Bot API
LOCAL_DOWNLOAD_LIMIT = 2000 * 1024 * 1024    # a local Bot API server
PROGRESS_EVERY = 2.0                          # seconds between edits of the progress message
ALBUM_QUIET = 1.0                             # seconds after an album's last file before answering
CHECKS_AT_ONCE = 2                            # checks run side by side; more wait their turn, steps never do
COMMANDS = ("start", "restart", "language", "delete", "cancel", "help")
COORDINATOR_COMMANDS = ("cases", "case", "claim", "reply")


class TelegramChannel:
    def __init__(self, repository: Repository, settings: Settings, fetcher: LinkFetcher | None = None):
        self.repository, self.settings = repository, settings
        self.conversation = Conversation(repository, settings, fetcher)
        self.download_limit = LOCAL_DOWNLOAD_LIMIT if settings.telegram_local_mode else CLOUD_DOWNLOAD_LIMIT
        self.albums: dict[tuple[int, str], object] = {}  # (chat, media group) -> a mark of its latest file
        # Checks get threads of their own: a queue of checks never delays a patient's button press.
        self.checks = ThreadPoolExecutor(max_workers=CHECKS_AT_ONCE, thread_name_prefix="scanpass-check")

    # ---- one step ------------------------------------------------------------------------
    async def handle(self, update: Update, context: ContextTypes.DEFAULT_TYPE, event) -> None:
        chat_id = update.effective_chat.id
        language = update.effective_user.language_code if update.effective_user else None
        locale, replies = await asyncio.to_thread(self.conversation.step, f"telegram:{chat_id}", event, language)
        await self.deliver(context, chat_id, locale, replies)

    async def deliver(self, context, chat_id: int, locale: str, replies, album: str | None = None) -> None:
        """Send a step's replies, then carry out its actions."""
        if album:  # several documents sent at once: one answer for the batch, after its last file
            latest = self.albums[(chat_id, album)] = object()
            await asyncio.sleep(ALBUM_QUIET)
            if self.albums.get((chat_id, album)) is not latest:
                return  # a later file of the same album answers for all of them
            del self.albums[(chat_id, album)]
        await self.send(context, chat_id, replies, locale)
        for action in (reply for reply in replies if isinstance(reply, Action)):
            await self.act(context, chat_id, action)

    async def send(self, context, chat_id: int, replies, locale: str) -> None:
        for reply in replies:
            if isinstance(reply, Reply):
                rendered = render(reply, locale, self.settings.retention_days)
                markup = InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data) for label, data in row]
                                               for row in rendered.buttons]) if rendered.buttons else None
                await context.bot.send_message(chat_id, rendered.text, reply_markup=markup)

    # ---- actions -------------------------------------------------------------------------
    async def act(self, context, chat_id: int, action: Action) -> None:
        chat = f"telegram:{chat_id}"
        if action.name == "check":
            progress = {"done": 0, "total": 0}

            def report_progress(done: int, total: int) -> None:
                progress.update(done=done, total=total)

            locale, replies = await self.with_progress(
                context, chat_id,
                asyncio.get_running_loop().run_in_executor(self.checks, self.conversation.check, chat, report_progress),
                lambda: f"{progress['done']}/{progress['total']}" if progress["total"] else "…")
            await self.deliver(context, chat_id, locale, replies)
        elif action.name == "download":
            got = {"bytes": 0, "total": None}

            def report_bytes(done: int, total: int | None) -> None:
                got.update(bytes=done, total=total)

            locale, replies = await self.with_progress(
                context, chat_id, self.conversation.download(chat, action.params["url"], report_bytes),
                lambda: _megabytes(got["bytes"], got["total"]))
            await self.deliver(context, chat_id, locale, replies)
        elif action.name == "delete":
            await asyncio.to_thread(self.conversation.delete, chat)
        elif action.name == "handoff":
            await self.hand_off(context, chat)

    async def with_progress(self, context, chat_id: int, work, progress_text):
        """Run `work` while one message shows its progress, edited at most every PROGRESS_EVERY seconds."""
        message = await context.bot.send_message(chat_id, "…")
        job = asyncio.ensure_future(work)
        shown = "…"
        while not job.done():
            await asyncio.wait([job], timeout=PROGRESS_EVERY)
            text = progress_text()
            if text != shown and not job.done():
                shown = text
                try:
                    await message.edit_text(text)
                except TelegramError:  # an edit that fails only costs the progress display
                    pass
        final = progress_text()
        if final != shown:
            try:
                await message.edit_text(final)
            except TelegramError:
                pass
        return job.result()

    async def hand_off(self, context, chat: str) -> None:
        to = self.settings.coordinator_chat_ids
        case_id, text, report = await asyncio.to_thread(self.conversation.hand_off, chat, to)
        for coordinator in to:
            await context.bot.send_message(coordinator, text)
            document = json.dumps(report or {}, ensure_ascii=False, indent=2).encode()
            await context.bot.send_document(coordinator, InputFile(document, filename=f"scanpass-case-{case_id}.json"))

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
            delivery = await casework.answer(self.repository, context.application, case.id, who, text.strip())
            if delivery.delivered:
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
                    return self.conversation.receive(f"telegram:{chat_id}", source, name, language)

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


def _megabytes(done: int, total: int | None) -> str:
    """Download progress as the patient sees it: "12 / 300 MB" (or "12 MB" when the size is unknown)."""
    mb = 1024 * 1024
    return f"{done // mb} / {max(total // mb, 1)} MB" if total else f"{done // mb} MB"


def build_application(settings: Settings, repository: Repository, fetcher: LinkFetcher | None = None) -> Application:
    """The one place the Telegram Application is built."""
    builder = (ApplicationBuilder().token(settings.telegram_bot_token).concurrent_updates(True)
               .rate_limiter(AIORateLimiter(overall_max_rate=settings.telegram_messages_per_second,
                                                 max_retries=3)))
    if settings.telegram_base_url:
        builder = builder.base_url(settings.telegram_base_url)
    if settings.telegram_base_file_url:
        builder = builder.base_file_url(settings.telegram_base_file_url)
    if settings.telegram_local_mode:
        builder = builder.local_mode(True)
    channel = TelegramChannel(repository, settings, fetcher)
    builder = builder.post_init(channel.post_init)
    application = builder.build()
    application.add_handler(CallbackQueryHandler(channel.on_button))
    application.add_handler(MessageHandler(filters.TEXT | filters.Document.ALL | filters.PHOTO, channel.on_message))
    application.add_error_handler(channel.on_error)
    application.bot_data["channel"] = channel
    return application
