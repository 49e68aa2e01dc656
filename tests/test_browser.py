"""The web chat in a real headless Chromium (Debian's, driven by Playwright) against a real `scanpass serve`:
a patient in English and in Arabic uploads a folder and gets the checklist; an upload cut midway resumes;
a Telegram patient's one-time upload link. Screenshots go to screenshots/ (named in the README)."""
from __future__ import annotations

import datetime as dt
import os

import pytest

from cases import CaseCore
from cases import casework
from cases.upload_links import upload_link
from dialogs.events import Button, Command
from storage import Repository
from tests.browser import browser_page, chromium, screenshot, server  # noqa: F401 — fixtures
from tests.factory import SeriesSpec, write_study

INBOUND = ("consent:agree", "direction:inbound", "condition:active_oncology", "area:brain_tumor", "visit:today",
           "visit_confirm:yes", "symptoms:no", "infection:no")


def tap(page, data: str) -> None:
    """Press a button of the latest question and wait for the answer."""
    before = page.locator(".msg.bot").count()
    page.locator(f'button[data-choice="{data}"]:not([disabled])').last.click()
    page.wait_for_function(f"document.querySelectorAll('.msg.bot').length > {before}")


def study_folder(tmp_path):
    folder = tmp_path / "CT_HEAD"
    write_study(folder, [SeriesSpec("CT", 3, {"SliceThickness": "5.0", "BodyPartExamined": "HEAD"})],
                study_date=dt.date.today() - dt.timedelta(days=3))
    return folder


def to_the_checklist(page, server, tmp_path, language: str) -> None:
    page.goto(server.url)
    page.locator('button[data-choice="language:%s"]' % language).click()
    page.wait_for_load_state("load")
    for data in INBOUND:
        tap(page, data)
    page.locator("#folder").set_input_files(study_folder(tmp_path))
    page.wait_for_function("document.querySelectorAll('.msg.bot.kind-ask_files').length >= 2")   # the answer to the batch
    tap(page, "files:done")
    page.locator(".checklist").wait_for()


def test_english_patient_uploads_a_folder_and_gets_the_checklist(browser_page, server, tmp_path):
    page = browser_page("en-GB")
    page.goto(server.url)
    assert page.locator("html").get_attribute("dir") == "ltr"
    page.locator('button[data-choice="language:en"]').click()
    for data in INBOUND:
        tap(page, data)
    assert "Send your scans" in page.locator(".msg.bot").last.inner_text()
    page.keyboard.press("Tab")     # keyboard: the focused control is visible
    screenshot(page, "chat-en")
    page.locator("#folder").set_input_files(study_folder(tmp_path))
    page.get_by_text("(3 files so far)").wait_for()
    tap(page, "files:done")
    checklist = page.locator(".checklist")
    checklist.wait_for()
    text = checklist.inner_text()
    assert "1 study found: 0 usable, 0 to review, 1 to redo." in text
    assert "slices are 5 mm; for cancer work-up the hospital needs 2.5 mm or thinner" in text
    badge = page.locator(".badge.verdict-redo")
    assert badge.inner_text().strip() and "What to bring" in text and "What to redo and where" in text
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as PDF").click()
    assert download.value.suggested_filename == "scanpass-checklist.pdf"
    screenshot(page, "checklist-en")
    tap(page, "checklist:yes")
    page.get_by_text("Sent: a coordinator will contact you here.").wait_for()
    with Repository.from_settings(server.settings) as repository:   # the coordinator answers from the dashboard
        case_id = next(case.id for case in repository.cases() if case.chat.startswith("web:"))
        casework.answer(CaseCore(repository, server.settings), case_id, "li.wei", "Your MRI is booked for Monday.")
    page.get_by_text("Your MRI is booked for Monday.").wait_for(timeout=15000)   # no reload: the page keeps asking


def test_arabic_patient_gets_a_right_to_left_checklist(browser_page, server, tmp_path):
    page = browser_page("ar-EG")
    page.goto(server.url)
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator(".msg .text").first.inner_text() == "اختر لغتك."     # the language question in Arabic
    to_the_checklist(page, server, tmp_path, "ar")
    assert page.evaluate("getComputedStyle(document.querySelector('.checklist')).direction") == "rtl"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1000     # nothing sticks out sideways
    assert "ما يجب إحضاره معك" in page.locator(".checklist").inner_text()     # "What to bring", in Arabic
    screenshot(page, "checklist-ar")


def test_a_phone_wide_page_has_no_sideways_scrolling(browser_page, server, tmp_path):
    page = browser_page("en-US", width=375, height=812)
    to_the_checklist(page, server, tmp_path, "en")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "phone-375")


def test_an_upload_cut_midway_resumes_in_the_page(browser_page, server, tmp_path):
    page = browser_page("en-US")
    page.goto(server.url)
    page.locator('button[data-choice="language:en"]').click()
    for data in INBOUND:
        tap(page, data)
    big = tmp_path / "disc-part.bin"
    big.write_bytes(os.urandom(12 * 1024 * 1024))      # two chunks of the page's uploader
    offsets, cut = [], []

    def interrupt(route):
        offset = route.request.headers.get("upload-offset")
        if route.request.method == "PATCH":
            offsets.append(int(offset))
            if int(offset) > 0 and not cut:
                cut.append(offset)
                route.abort("connectionreset")       # the connection drops during the second chunk
                return
        route.continue_()

    page.route("**/api/uploads/*", interrupt)
    page.locator("#files").set_input_files(big)
    page.get_by_text("Received disc-part.bin (1 file so far).").wait_for()
    assert cut and offsets.count(int(cut[0])) == 2      # the same chunk sent again, from the server's offset
    case = next(c for c in Repository.from_settings(server.settings).open().cases() if c.chat.startswith("web:"))
    assert case.uploads[0].size == 12 * 1024 * 1024


def test_a_telegram_patients_upload_link(browser_page, server, tmp_path):
    repository = Repository.from_settings(server.settings).open()
    conversation = CaseCore(repository, server.settings)
    chat = "telegram:5150"
    for event in (Command("start"), Button("language:ru"), Button("consent:agree"), Button("direction:inbound"),
                  Button("condition:other"), Button("area:other"), Button("visit:today"), Button("visit_confirm:yes"),
                  Button("symptoms:no"), Button("infection:no")):
        conversation.step(chat, event)
    link = upload_link(repository, server.settings, chat)
    page = browser_page("en-US")
    page.goto(link)
    assert page.locator("html").get_attribute("lang") == "ru"
    page.locator("#folder").set_input_files(study_folder(tmp_path))
    finished = page.locator("#finished")
    finished.wait_for()
    assert "Вернитесь в Telegram" in finished.inner_text()
    screenshot(page, "upload-link-ru")
    assert len(repository.load(chat).uploads) == 3
    page.goto(link)
    assert "уже использована" in page.locator("main").inner_text()
