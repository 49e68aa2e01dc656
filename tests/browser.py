"""Playwright fixtures: Debian's chromium (/usr/bin/chromium, installed by ./test) and a real `scanpass serve`.

No browser is downloaded: Playwright drives the system chromium through `executable_path`. Without it
the browser tests skip and say why.
"""
from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import urllib.request
from pathlib import Path

import pytest

from bot.serve import serve
from storage import Settings

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`serve()` on a free port in a thread of its own (its own event loop), until `stop()`."""

    def __init__(self, settings: Settings, application=None):
        self.settings, self.application = settings, application
        self.url = f"http://127.0.0.1:{settings.http_port}"
        self.loop = asyncio.new_event_loop()
        self.stopping = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.stopping = asyncio.Event()
        self.loop.run_until_complete(serve(self.settings, self.stopping))

    def start(self) -> Server:
        self.thread.start()
        for _ in range(200):
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1).read()
                return self
            except OSError:
                threading.Event().wait(0.05)
        raise RuntimeError("the server did not start")

    def stop(self) -> None:
        if self.stopping is not None:
            self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(timeout=30)


@pytest.fixture
def server(tmp_path):
    running = Server(Settings(data_dir=tmp_path / "data", http_port=free_port())).start()
    yield running
    running.stop()


@pytest.fixture   # per test: Playwright's sync API keeps an event loop running in this thread while it is open,
def chromium():   # and a pytest-asyncio test after it in the same worker would refuse to start its own
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("Debian's chromium is not installed (./test installs it: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium):
    """A fresh browser context (its own cookies) and page; English unless the test sets the locale."""
    contexts = []

    def open_page(locale: str = "en-US", width: int = 1000, height: int = 900):
        context = chromium.new_context(locale=locale, viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
