"""`scanpass serve`: the project's aiohttp app (the web chat, the dashboard, health) and, when
TELEGRAM_BOT_TOKEN is set, the Telegram channel: polling, or a webhook on this app when
TELEGRAM_WEBHOOK_URL is set (checked against TELEGRAM_WEBHOOK_SECRET).

    scanpass serve          # Ctrl-C stops it

On SQLite (the one-process default) it also runs the jobs — checks, downloads, deliveries, the daily
purge — on threads of its own (`cases.queue.EmbeddedRunner`); on PostgreSQL `scanpass worker` runs them.
"""
from __future__ import annotations

import asyncio
import logging
import signal
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from telegram import Update

from bot.web.chat import setup_chat
from bot.web.dashboard import setup_dashboard
from bot.web.keys import CORE, JOBS, REPOSITORY, SETTINGS, TELEGRAM
from bot.web.pages import STATIC
from cases import CaseCore
from cases.jobs import Jobs
from cases.queue import EmbeddedQueue, queue_for
from storage import Repository, Settings

log = logging.getLogger("scanpass.serve")


class PrivateAccessLog(AbstractAccessLogger):
    """One line per request without anything that could point at a patient: the route's pattern
    (`/u/{token}`), never the path as sent, its query (search words) or the client's address."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        resource = request.match_info.route.resource if isinstance(request, web.Request) else None
        where = resource.canonical if resource is not None else "(no route)"
        self.logger.info("%s %s %s %.0f ms", request.method, where, response.status, time * 1000)


HEALTH_TIMEOUT = 2.0   # seconds /healthz waits for the database's `SELECT 1`


async def healthz(request: web.Request) -> web.Response:
    """200 `{"ok": true}`, or 503 naming what is wrong (`{"ok": false, "database": "unreachable"}`).
    One database ping at a time per process: callers arriving meanwhile share its answer."""
    problems = {}
    repository = request.app.get(REPOSITORY)
    if repository is not None:
        state = request.app[HEALTH]
        if state.ping is None or state.ping.done():
            state.ping = asyncio.ensure_future(asyncio.to_thread(repository.ping))
        try:
            await asyncio.wait_for(asyncio.shield(state.ping), HEALTH_TIMEOUT)
        except TimeoutError:
            problems["database"] = "timeout"
        except Exception as error:  # noqa: BLE001 — any failure of the ping: unhealthy, said by its kind only
            log.warning("health: database unreachable (%s)", type(error).__name__)
            problems["database"] = "unreachable"
    if problems:
        return web.json_response({"ok": False, **problems}, status=503)
    return web.json_response({"ok": True})


def senders(settings: Settings) -> dict:
    """The push channels this process can deliver to: Telegram when the bot's token is set."""
    if not settings.telegram_bot_token:
        return {}
    from bot.telegram_sender import TelegramSender
    return {"telegram": TelegramSender(settings)}


class Health:
    """What /healthz keeps between calls: the database ping under way, if any."""

    def __init__(self):
        self.ping: asyncio.Future | None = None


HEALTH = web.AppKey("health", Health)


def runner_options(settings: Settings) -> dict:
    """The aiohttp server's settings for `scanpass serve` (and tests that want the same server):
    a request's headers must arrive within HTTP_READ_TIMEOUT of the connection opening (or of the
    previous answer), and an idle keep-alive connection closes after as long; the access log keeps
    patients out (`PrivateAccessLog`). Bodies that stall are cut by their handlers (`bot.web.uploads`,
    `bot.web.bodies`); aiohttp 3.14 has no body read timeout of its own."""
    return {"access_log_class": PrivateAccessLog, "keepalive_timeout": settings.http_read_timeout}


def make_app(settings: Settings, repository: Repository | None = None, application=None,
             core: CaseCore | None = None, fetcher=None) -> web.Application:
    """The project's aiohttp app: health, static files, the web chat and the dashboard (with a repository),
    and the Telegram webhook when TELEGRAM_WEBHOOK_URL is set. On the embedded queue (SQLite) the app
    also runs the jobs while it runs. `fetcher` (a `cases.links.LinkFetcher`) replaces the default one.

    Handlers find the settings, the repository, the case core and the Telegram Application under `bot.web.keys`."""
    app = web.Application()
    app[SETTINGS], app[TELEGRAM], app[HEALTH] = settings, application, Health()
    app.router.add_get("/healthz", healthz)
    if repository is not None:
        app[REPOSITORY] = repository
        app[CORE] = core = core or CaseCore(repository, settings, queue_for(repository, settings))
        app[JOBS] = Jobs(core, senders(settings), fetcher)
        if isinstance(core.queue, EmbeddedQueue):
            app.cleanup_ctx.append(_running_jobs)
        setup_chat(app)
        setup_dashboard(app)
    app.router.add_static("/static/", STATIC)
    if application is not None and settings.telegram_webhook_url:
        app.router.add_post(webhook_path(settings), _webhook_handler(application, settings.telegram_webhook_secret))
    return app


def webhook_path(settings: Settings) -> str:
    return urlsplit(settings.telegram_webhook_url).path or "/telegram"


def _webhook_handler(application, secret: str | None):
    async def receive(request: web.Request) -> web.Response:
        if secret and request.headers.get("X-Telegram-Bot-Api-Secret-Token") != secret:
            return web.Response(status=403, text="wrong secret token")
        try:
            update = Update.de_json(await request.json(), application.bot)
        except (ValueError, TypeError, KeyError):
            return web.Response(status=400, text="not a Telegram update")
        await application.update_queue.put(update)
        return web.Response(text="ok")

    return receive


async def _running_jobs(app: web.Application):
    """The embedded queue's runner, for as long as the app runs (jobs a killed process left run again)."""
    runner = await asyncio.to_thread(app[CORE].queue.runner(app[JOBS]).start)   # off the loop: it reads the database
    yield
    await asyncio.to_thread(runner.stop)
    for send in app[JOBS].senders.values():
        await asyncio.to_thread(send.close)


async def serve(settings: Settings, stop: asyncio.Event | None = None, fetcher=None) -> None:
    """Run until `stop` is set. `fetcher` (a `cases.links.LinkFetcher`) replaces the default one: tests point
    it at their own provider servers."""
    stop = stop or asyncio.Event()
    repository = Repository.from_settings(settings).open()
    core = CaseCore(repository, settings, queue_for(repository, settings))
    application = None
    if settings.telegram_bot_token:
        from bot.telegram import build_application

        application = build_application(core)
    runner = web.AppRunner(make_app(settings, repository, application, core, fetcher), **runner_options(settings))
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    print(f"ScanPass on http://{settings.http_host}:{settings.http_port} (health: /healthz)", flush=True)
    if not isinstance(core.queue, EmbeddedQueue):
        print("Jobs: run `scanpass worker` (PostgreSQL)", flush=True)
    if application is not None:
        await application.initialize()
        await application.post_init(application)
        await application.start()
        if settings.telegram_webhook_url:
            await application.bot.set_webhook(settings.telegram_webhook_url,
                                              secret_token=settings.telegram_webhook_secret)
            print(f"Telegram channel: webhook at {webhook_path(settings)}", flush=True)
        else:
            await application.updater.start_polling(drop_pending_updates=False)
            print("Telegram channel: polling", flush=True)
    else:
        print("Telegram channel: off (set TELEGRAM_BOT_TOKEN to start it)", flush=True)
    try:
        await stop.wait()
    finally:
        if application is not None:
            if application.updater.running:
                await application.updater.stop()
            await application.stop()
            await application.shutdown()
        await runner.cleanup()
        repository.close()


def run(settings: Settings) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its request lines carry the bot token
    asyncio.run(main())
    return 0
