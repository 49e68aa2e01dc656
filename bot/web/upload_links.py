"""One-time upload pages (`/u/TOKEN`) for Telegram patients whose file is too large for the Bot API.

    link = cases.upload_link(repository, settings, "telegram:12345")   # https://…/u/TOKEN, valid 24 h, tied to the case

The page speaks the case's language and takes files (the same resumable uploads as the chat) into the
case; when the patient's files are all in, the page calls `finish`: the token is spent, the Telegram
chat gets the files step's answer, and the page says to go back to Telegram. An unknown token is a
404, an expired or spent one a 410, each a page in the visitor's language.
"""
from __future__ import annotations

import asyncio

from aiohttp import web

from bot.web.bodies import json_body
from bot.web.keys import CORE, LOCALE, REPOSITORY, SETTINGS, WEB
from bot.web.pages import page
from bot.web.problems import Problem
from dialogs.machine import ask
from storage.upload_tokens import Grant, UploadTokens, token_hash


async def _grant(request: web.Request) -> Grant:
    """The token's grant if it may be used; otherwise the page or JSON that says why."""
    grant = await asyncio.to_thread(UploadTokens(request.app[REPOSITORY]).find, request.match_info["token"])
    if grant.status == "unknown":
        raise Problem(404, "not_found")
    request[LOCALE] = grant.locale
    if grant.status != "valid":
        raise Problem(410, f"link_{grant.status}")
    return grant


async def upload_page(request: web.Request) -> web.Response:
    await _grant(request)
    response = page("upload.html.j2", request[LOCALE], token=request.match_info["token"],
                    max_upload_mb=request.app[SETTINGS].max_upload_mb)
    response.headers["Referrer-Policy"] = "no-referrer"   # the token stays out of other sites' logs
    response.headers["Cache-Control"] = "no-store"
    return response


async def create_upload(request: web.Request) -> web.Response:
    grant = await _grant(request)
    uploads = request.app[WEB].uploads
    incoming = await uploads.create(request, grant.chat, f"link:{token_hash(request.match_info['token'])}")
    return uploads.created(incoming, "/api/uploads")


async def finish(request: web.Request) -> web.Response:
    """The patient's files are in: spend the token and answer in their Telegram chat."""
    grant = await _grant(request)
    token = request.match_info["token"]
    chat_app = request.app[WEB]
    via = f"link:{token_hash(token)}"
    uploads = (await json_body(request)).get("uploads", [])
    if not isinstance(uploads, list):
        raise Problem(400, "unreadable_request")
    ids = [str(upload) for upload in uploads]
    found = [await chat_app.uploads.get(upload) for upload in ids[:request.app[SETTINGS].max_case_files]]
    received = [incoming.answer["received"] for incoming in found
                if incoming is not None and incoming.via == via and (incoming.answer or {}).get("received")]
    if not await asyncio.to_thread(UploadTokens(request.app[REPOSITORY]).spend, token):
        raise Problem(410, "link_spent")
    case = await asyncio.to_thread(request.app[REPOSITORY].load, grant.chat)
    told = False
    if case is not None:     # the files step's answer, delivered in the patient's own chat
        reply = ask(case, received=received[-1]) if received else ask(case)
        await asyncio.to_thread(request.app[CORE].announce, grant.chat, [reply])
        told = True
    return web.json_response({"received": len(received), "told": told})


def setup_upload_links(app: web.Application) -> None:
    app.router.add_get("/u/{token}", upload_page)
    app.router.add_post("/u/{token}/uploads", create_upload)
    app.router.add_post("/u/{token}/finish", finish)
