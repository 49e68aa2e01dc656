"""The chat page (`/`) and its JSON API: the same conversation as Telegram and the terminal, in a browser.

    GET  /                   the page, in the case's language (a new visitor: the browser's)
    POST /api/chat           {"button": "state:value"} | {"text": "..."} | {"command": "start"} | {"language": "ar"}
    GET  /api/updates        progress of a check or download, their replies, coordinators' replies
    GET  /checklist.pdf      the checklist as a PDF
    POST /api/uploads        a resumable upload (tus; see `bot.web.uploads`), then HEAD/PATCH/GET /api/uploads/ID

A visitor is a signed cookie (`bot.web.visitors`); the API refuses requests without one. POSTs must be
JSON (or carry tus headers), which a cross-site form cannot send.
"""
from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
import logging
from pathlib import Path

from aiohttp import web

from bot.web.bodies import json_body
from bot.web.channel import WebChannel
from bot.web.checklist_pdf import FontsMissing, checklist_pdf
from bot.web.errors import error_pages
from bot.web.keys import CORE, LOCALE, REPOSITORY, SETTINGS, WEB
from bot.web.pages import page
from bot.web.problems import Problem
from bot.web.upload_links import setup_upload_links
from bot.web.uploads import CLEAN_EVERY, Uploads, add_upload_routes
from bot.web.visitors import Visitors, accept_language, signing_secret
from dialogs.events import Button, Command, Reply, Text
from dialogs.i18n import shipped
from storage.incoming import Incoming

log = logging.getLogger("scanpass.web")

# PDFs are made on threads of their own, never on the steps' threads: a burst of them queues here.
PDF_THREADS = 1


class WebChat:
    """What the chat's handlers share: visitors, the channel, the uploads."""

    def __init__(self, app: web.Application):
        settings = app[SETTINGS]
        self.visitors = Visitors(signing_secret(settings), secure=settings.public_url.startswith("https:"))
        self.channel = WebChannel(app[CORE])
        self.uploads = Uploads(app[REPOSITORY], settings.max_upload_bytes, self.complete,
                               stall_seconds=settings.http_read_timeout)
        self.pdfs = ThreadPoolExecutor(max_workers=PDF_THREADS, thread_name_prefix="scanpass-pdf")

    async def complete(self, incoming: Incoming, path: Path) -> dict:
        """A finished upload joins its case (`CaseCore.receive`); the answer is kept for the page."""
        def receive():
            with path.open("rb") as source:
                return self.channel.core.receive(incoming.owner, source, incoming.name)

        locale, replies = await asyncio.to_thread(receive)
        answer = self.channel.answer(locale, replies)
        received = any(isinstance(reply, Reply) and reply.params.get("received") for reply in replies)
        return {"locale": locale, "messages": answer.messages, "received": incoming.name if received else None}

    def visitor(self, request: web.Request) -> str:
        chat = self.visitors.chat(request)
        if chat is None:
            raise Problem(403, "no_visitor")
        return chat

    async def authorize(self, request: web.Request, incoming: Incoming) -> bool:
        if incoming.via == "chat":
            return self.visitors.chat(request) == incoming.owner
        return incoming.via.startswith("link:")   # created through a valid one-time link: the id is the capability


# ---- handlers --------------------------------------------------------------------------------------
async def chat_page(request: web.Request) -> web.Response:
    chat_app: WebChat = request.app[WEB]
    chat, cookie = chat_app.visitors.chat_or_new(request)
    case = await asyncio.to_thread(request.app[REPOSITORY].load, chat) if cookie is None else None
    locale = request[LOCALE] = case.locale if case else accept_language(request)
    settings = request.app[SETTINGS]
    response = page("chat.html.j2", locale, max_upload_mb=settings.max_upload_mb)
    chat_app.visitors.remember(response, cookie)
    return response


async def chat_step(request: web.Request) -> web.Response:
    chat_app: WebChat = request.app[WEB]
    chat = chat_app.visitor(request)
    body = await json_body(request)
    language = accept_language(request)
    if "language" in body:
        answer = await _switch_language(request, chat, str(body["language"]), language)
    else:
        answer = await chat_app.channel.step(chat, _event(body), language)
    return web.json_response(answer.json(await chat_app.channel.busy(chat)))


async def _switch_language(request: web.Request, chat: str, wanted: str, language: str):
    """The header's language select: the Language step's button, reached with /language when elsewhere."""
    if wanted not in shipped():
        raise Problem(400, "unreadable_request")
    channel = request.app[WEB].channel
    case = await asyncio.to_thread(request.app[REPOSITORY].load, chat)
    if case is None or case.state != "language":
        await asyncio.to_thread(channel.core.step, chat, Command("language"), language)
    return await channel.step(chat, Button(f"language:{wanted}"), language)


def _event(body: dict):
    if isinstance(body.get("button"), str):
        return Button(body["button"])
    if isinstance(body.get("command"), str):
        return Command(body["command"].lstrip("/").lower(), str(body.get("args", "")))
    text = body.get("text")
    if isinstance(text, str) and text.strip():
        text = text.strip()[:4000]
        if text.startswith("/"):     # a command, as in the other channels
            name, _, args = text[1:].partition(" ")
            return Command(name.lower(), args)
        return Text(text)
    raise Problem(400, "unreadable_request")


async def chat_updates(request: web.Request) -> web.Response:
    chat_app: WebChat = request.app[WEB]
    chat = chat_app.visitor(request)
    try:
        seen = max(0, int(request.query.get("replies", "0")))
    except ValueError:
        raise Problem(400, "unreadable_request") from None
    return web.json_response(await chat_app.channel.updates(chat, seen))


async def checklist_download(request: web.Request) -> web.Response:
    chat_app: WebChat = request.app[WEB]
    chat = chat_app.visitor(request)
    case = await asyncio.to_thread(request.app[REPOSITORY].load, chat)
    if case is None or not case.report:
        if case is not None:
            request[LOCALE] = case.locale
        raise Problem(404, "no_checklist")
    request[LOCALE] = case.locale
    try:
        pdf = await asyncio.get_running_loop().run_in_executor(chat_app.pdfs, checklist_pdf, case.report, case.locale)
    except FontsMissing:
        raise Problem(503, "pdf_unavailable") from None
    return web.Response(body=pdf, content_type="application/pdf",
                        headers={"Content-Disposition": 'attachment; filename="scanpass-checklist.pdf"',
                                 "Cache-Control": "no-store"})


async def create_upload(request: web.Request) -> web.Response:
    chat_app: WebChat = request.app[WEB]
    chat = chat_app.visitor(request)
    incoming = await chat_app.uploads.create(request, chat, "chat")
    return chat_app.uploads.created(incoming, "/api/uploads")


# ---- wiring ----------------------------------------------------------------------------------------
def setup_chat(app: web.Application) -> None:
    """Adds the chat page, its API, the uploads, the one-time upload pages and the error pages to `app`."""
    chat_app = app[WEB] = WebChat(app)
    app.middlewares.append(error_pages)
    app.router.add_get("/", chat_page)
    app.router.add_post("/api/chat", chat_step)
    app.router.add_get("/api/updates", chat_updates)
    app.router.add_get("/checklist.pdf", checklist_download)
    app.router.add_post("/api/uploads", create_upload)
    add_upload_routes(app, chat_app.uploads, chat_app.authorize)
    setup_upload_links(app)
    app.cleanup_ctx.append(_sweeping)


async def _sweeping(app: web.Application):
    """Forgotten partial uploads are deleted hourly; a failed sweep is retried the next hour. The server
    stops after a sweep under way has finished (its thread never outlives the repository)."""
    chat_app: WebChat = app[WEB]
    stop = asyncio.Event()

    async def sweep() -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(chat_app.uploads.sweep)
            except Exception as error:  # noqa: BLE001 — the database may be away for a moment
                log.warning("sweep of forgotten uploads failed: %s", type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), CLEAN_EVERY)

    task = asyncio.create_task(sweep())
    yield
    stop.set()
    await task
    chat_app.pdfs.shutdown(wait=False, cancel_futures=True)
