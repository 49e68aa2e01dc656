"""The dashboard in a real headless Chromium (Debian's chromium, driven by Playwright; fixtures in
tests/browser.py): a coordinator signs in with the keyboard after a wrong password, claims a Telegram
patient's case and replies; a forged CSRF token and an expired session are refused; the pages fit a
375-px phone, Arabic included. Screenshots of the cases list and a case page go to screenshots/."""
from __future__ import annotations

import time

import asyncio
import re
import threading
from contextlib import contextmanager

import pytest
from aiohttp import web

from bot.web import auth
from tests.browser import browser_page, chromium, screenshot  # noqa: F401 — fixtures
from tests.dashboard_app import FAST, PASSWORD, FakeTelegram, add_account, dashboard_app
from tests.handoffs import hand_off, study_files

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])").expect


@pytest.fixture(autouse=True)
def fast_hashes(monkeypatch):
    monkeypatch.setattr(auth, "PASSWORDS", FAST)


@contextmanager
def serving(app: web.Application):
    """The app on 127.0.0.1 (a free port) with an event loop in a thread of its own (Playwright has the
    main thread's); its address."""
    ready, address = threading.Event(), []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def run() -> None:
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        address.append(runner.addresses[0][1])
        ready.set()
        await stop.wait()
        await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert ready.wait(10), "the server did not start"
    try:
        yield f"http://127.0.0.1:{address[0]}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def wait_until(check, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("it did not happen in time")


def fits(page, width: int) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= width


def test_a_coordinator_signs_in_claims_and_replies_in_a_real_browser(browser_page, tmp_path):
    telegram = FakeTelegram()
    app, repository, clock = dashboard_app(f"sqlite:///{tmp_path / 'scanpass.db'}", tmp_path / "data", telegram)
    add_account(repository)
    files = [(path, f"DICOM/IM{number:04d}.dcm") for number, path in enumerate(study_files(tmp_path / "ct"), 1)]
    thin = [(path, f"CT chest/{path.name}.dcm") for path in study_files(tmp_path / "thin", thickness="1.0")]
    olga = hand_off(repository, "telegram:501", files, locale="ru", sent_at="2026-11-23T08:00:00Z")
    hand_off(repository, "web:3f9c", thin, locale="ar", condition="chronic_disease", area="musculoskeletal",
             sent_at="2026-11-23T09:10:00Z")
    with serving(app) as base:
        page = browser_page(width=1200)
        page.goto(f"{base}/coordinator")
        expect(page.get_by_role("heading", name="Coordinator sign-in")).to_be_visible()
        page.get_by_label("Username").fill("li.wei")
        page.get_by_label("Password").fill("wrong horse battery")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")

        page.get_by_label("Username").focus()                      # the keyboard alone from here
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Cases")).to_be_visible()
        expect(page.get_by_role("link", name=f"#{olga.id}")).to_be_visible()
        screenshot(page, "dashboard-cases")

        page.get_by_role("link", name=f"#{olga.id}").click()
        page.get_by_role("button", name="Claim this case").click()
        expect(page.get_by_role("status")).to_have_text("You have claimed this case.")
        page.get_by_label("Message to the patient").fill("Мы записали вас на КТ в понедельник.")
        page.get_by_role("button", name="Send to the patient").click()
        expect(page.get_by_role("status")).to_have_text("Your message was sent to the patient.")
        reply = (501, "Сообщение от вашего координатора:\n\nМы записали вас на КТ в понедельник.")
        wait_until(lambda: reply in telegram.bot.sent)        # a delivery job sends it, through the outbox
        replies = lambda: [text for _, text in telegram.bot.sent if text.startswith("Сообщение от")]  # noqa: E731
        expect(page.get_by_role("article").get_by_text("slices are 5 mm; for cancer work-up the hospital needs 2.5 mm or thinner")).to_be_visible()
        screenshot(page, "dashboard-case")

        page.get_by_label("Message to the patient").fill("A second message")
        page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(field => field.value = 'forged')")
        page.get_by_role("button", name="Send to the patient").click()
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
        assert len(replies()) == 1

        page.set_viewport_size({"width": 375, "height": 800})
        page.goto(f"{base}/coordinator?status=answered")
        expect(page.get_by_role("link", name=f"#{olga.id}")).to_be_visible()
        assert fits(page, 375)
        screenshot(page, "dashboard-cases-phone")
        page.goto(f"{base}/coordinator?status=new&lang=ar")
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        page.get_by_role("link", name=re.compile(r"^#\d+$")).first.click()
        assert fits(page, 375)
        screenshot(page, "dashboard-case-phone-ar")

        clock.advance(hours=8)                                      # the session's absolute limit
        page.goto(f"{base}/coordinator")
        expect(page).to_have_url(re.compile(r"/coordinator/login\?next="))
        expect(page.get_by_role("heading", name="تسجيل دخول المنسّق")).to_be_visible()   # still in the language picked
