"""The project's aiohttp app for dashboard tests: a repository, a clock the test moves, a stand-in for the
Telegram channel, accounts, signing in."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from telegram.error import NetworkError

from bot.serve import make_app
from bot.telegram_sender import TelegramSender
from bot.web.keys import JOBS
from cases import CaseCore
from cases.queue import EmbeddedQueue
from storage.jobs import JobTable
from bot.web import auth
from storage import Repository, Settings
from storage.coordinators import Coordinators

PASSWORD = "correct horse battery"
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0", "Accept-Language": "en-GB,en;q=0.9"}
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)   # argon2id still, cheap for tests


class FakeBot:
    def __init__(self, failing: bool = False):
        self.sent: list[tuple[int, str]] = []
        self.failing = failing

    async def send_message(self, chat_id, text, **_options):
        if self.failing:
            raise NetworkError("connection reset")
        self.sent.append((chat_id, text))


class FakeTelegram:
    """What the web app uses of python-telegram-bot's Application: `running`, `bot.send_message` (the dashboard's
    replies) and `bot_data` (where the web chat looks for the Telegram channel; here there is none)."""

    def __init__(self, running: bool = True, failing: bool = False):
        self.running, self.bot, self.bot_data = running, FakeBot(failing), {}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


def dashboard_app(database_url: str, data_dir, telegram=None, **settings):
    """The app; with `telegram`, its fake bot is the Telegram sender of the app's delivery jobs (a running
    one delivers; one not running stands for a process without the Telegram channel: nothing delivers)."""
    settings = Settings(data_dir=data_dir, database_url=database_url, **settings)
    repository = Repository.from_settings(settings).open()
    # The embedded queue on both databases: the app runs its jobs itself. (Procrastinate, the queue of
    # PostgreSQL deployments, is tested with real worker processes in tests/test_cluster.py.)
    core = CaseCore(repository, settings, EmbeddedQueue(JobTable(repository)))
    app = make_app(settings, repository, telegram, core)
    if telegram is not None and telegram.running:
        app[JOBS].senders["telegram"] = TelegramSender(settings, bot=telegram.bot)
    clock = app[auth.CLOCK] = Clock()
    app.on_cleanup.append(lambda _app: _close(repository))
    return app, repository, clock


async def _close(repository: Repository) -> None:
    repository.close()


def add_account(repository: Repository, username: str = "li.wei", locale: str = "en") -> None:
    Coordinators(repository).add(username, auth.hash_password(PASSWORD), locale)


def form_token(html: str, name: str = "csrf") -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


async def sign_in(client, username: str = "li.wei", password: str = PASSWORD, headers=None, next_page: str = ""):
    """Open the sign-in page (it sets the form's token cookie), send the form; the response, not followed."""
    headers = headers or BROWSER
    page = await client.get("/coordinator/login", headers=headers)
    token = form_token(await page.text())
    return await client.post("/coordinator/login", headers=headers, allow_redirects=False,
                             data={"csrf": token, "username": username, "password": password, "next": next_page})


async def csrf_of(client, path: str = "/coordinator", headers=None) -> str:
    page = await client.get(path, headers=headers or BROWSER)
    return form_token(await page.text())


async def eventually(check, seconds: float = 20.0):
    """Wait until `check()` is true (a delivery job ran); its last value."""
    import asyncio

    for _ in range(int(seconds / 0.05)):
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("it did not happen in time")
