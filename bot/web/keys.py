"""What the aiohttp app carries for its handlers (typed app keys, set once by `bot.serve.make_app`)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from storage import Repository, Settings

SETTINGS = web.AppKey("settings", Settings)
REPOSITORY = web.AppKey("repository", Repository)
TELEGRAM = web.AppKey("telegram", Any)   # python-telegram-bot Application, or None when the channel is off
WEB = web.AppKey("web_chat", Any)      # bot.web.chat.WebChat: visitors, the web channel, uploads
LOCALE = web.RequestKey("locale", str)  # the language a handler found for this request (error pages use it)
