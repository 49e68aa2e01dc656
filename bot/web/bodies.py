"""Reading a request's JSON body so that no body makes a 500: too large (over the app's client_max_size)
is a 413, too slow (HTTP_READ_TIMEOUT) a 408, not JSON or nested too deep a 400, each said in words.

    body = await json_body(request)      # a dict, or Problem
"""
from __future__ import annotations

import asyncio
import json

from aiohttp import web

from bot.web.keys import SETTINGS
from bot.web.problems import Problem


async def json_body(request: web.Request) -> dict:
    if request.content_type != "application/json":
        raise Problem(415, "unreadable_request")
    try:
        async with asyncio.timeout(request.app[SETTINGS].http_read_timeout):
            raw = await request.read()       # over client_max_size: HTTPRequestEntityTooLarge (413)
    except TimeoutError:
        raise Problem(408, "request_timeout") from None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):     # RecursionError: nested thousands deep
        raise Problem(400, "unreadable_request") from None
    if not isinstance(body, dict):
        raise Problem(400, "unreadable_request")
    return body
