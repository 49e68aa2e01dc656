"""What the aiohttp app carries for its handlers (typed app keys, set once by `bot.serve.make_app`)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from storage import Repository, Settings

SETTINGS = web.AppKey("settings", Settings)
REPOSITORY = web.AppKey("repository", Repository)
CORE = web.AppKey("core", Any)           # cases.CaseCore: steps, jobs asked for, the outbox
JOBS = web.AppKey("jobs", Any)           # cases.jobs.Jobs: what this process runs when it runs jobs
TELEGRAM = web.AppKey("telegram", Any)   # python-telegram-bot Application, or None when the channel is off (webhook)
WEB = web.AppKey("web_chat", Any)      # bot.web.chat.WebChat: visitors, the web channel, uploads
LOCALE = web.RequestKey("locale", str)  # the language a handler found for this request (error pages use it)
