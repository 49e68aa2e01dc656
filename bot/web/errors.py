"""Error answers in the visitor's language: a page (404, 410, 413, 500…) for people, JSON for the API.

The language: what the handler found out (`request[LOCALE]`, e.g. an upload link's case), else the
visitor's case (their cookie), else the browser's Accept-Language. Unexpected exceptions are logged by
type and route only (never paths, which may hold upload tokens, nor bodies) and answered with a 500
that says nothing was lost.
"""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from bot.web.keys import LOCALE, REPOSITORY, WEB
from bot.web.pages import page
from bot.web.problems import Problem, problem_text
from bot.web.uploads import tus_headers
from bot.web.visitors import accept_language

log = logging.getLogger("scanpass.web")

CODES = {404: "not_found", 405: "not_found", 413: "request_too_large"}   # aiohttp's own refusals
MB = 1024 * 1024


@web.middleware
async def error_pages(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as problem:
        return await _answer(request, problem.status, problem.code, problem.params)
    except web.HTTPException as error:
        if error.status not in CODES:
            raise
        limit = max(1, request.client_max_size // MB)    # 413 here: a body over client_max_size, not a file
        return await _answer(request, error.status, CODES[error.status], {"limit": limit} if error.status == 413 else {})
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as error:  # noqa: BLE001 — anything unexpected: a clear page, and the saved case untouched
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else "?"
        log.error("%s %s failed: %s", request.method, route, type(error).__name__)
        return await _answer(request, 500, "server_error", {})


async def visitor_locale(request: web.Request) -> str:
    if LOCALE in request:
        return request[LOCALE]
    chat_app = request.app.get(WEB)
    chat = chat_app.visitors.chat(request) if chat_app else None
    if chat:
        try:
            case = await asyncio.to_thread(request.app[REPOSITORY].load, chat)
        except Exception:  # noqa: BLE001 — an error page must not fail on the database
            case = None
        if case is not None:
            return case.locale
    return accept_language(request)


async def _answer(request: web.Request, status: int, code: str, params: dict) -> web.Response:
    locale = await visitor_locale(request)
    message = problem_text(code, locale, **params)
    if _wants_json(request):
        response = web.json_response({"error": code, "message": message, **params}, status=status)
        if "Tus-Resumable" in request.headers:
            tus_headers(response, offset=params.get("offset"))
        return response
    return page("error.html.j2", locale, status=status, code=code, error_status=status, message=message)


def _wants_json(request: web.Request) -> bool:
    return (request.path.startswith("/api/") or "/uploads" in request.path or request.path.endswith("/finish")
            or "Tus-Resumable" in request.headers or request.headers.get("Accept", "").startswith("application/json"))
