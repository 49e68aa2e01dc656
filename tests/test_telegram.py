"""The Telegram channel end to end: `scanpass serve` with the real python-telegram-bot client polling a
Bot API test double on 127.0.0.1 (tests/botapi.py). No test reaches Telegram."""
from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import re
import socket
import zipfile

from types import SimpleNamespace

import aiohttp

from cases.links import LinkFetcher
from bot.serve import serve
from storage import Repository, Settings
from tests import providers
from tests.botapi import running_double
from tests.providers import running_providers
from tests.factory import SeriesSpec, write_study

COORDINATOR = -100777
PROVIDERS = SimpleNamespace(links={}, requests=[], loopback=None)  # the running fake cloud providers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def zipped_study(tmp_path, thickness: str = "5.0") -> bytes:
    folder = tmp_path / "study"
    write_study(folder, [SeriesSpec("CT", 3, {"SliceThickness": thickness})],
                study_date=dt.date.today() - dt.timedelta(days=3))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"DICOM/{path.name}")
    return buffer.getvalue()


async def with_bot(tmp_path, *scenarios, fetcher=None):
    """Run each scenario against its own `scanpass serve` on the same data: one bot restart between two."""
    async with running_double() as api:
        for scenario in scenarios:
            settings = Settings(data_dir=tmp_path / "data", http_port=free_port(), telegram_bot_token=api.token,
                                telegram_base_url=api.base_url, telegram_base_file_url=api.base_file_url,
                                coordinator_chat_ids=(COORDINATOR,))
            stop = asyncio.Event()
            server = asyncio.create_task(serve(settings, stop, fetcher))
            try:
                await scenario(api)
            finally:
                stop.set()
                await server


async def tap(api, user, label: str) -> None:
    """Press the button with this label on the last keyboard, then wait for the bot's answer."""
    before = len(user.sent())
    buttons = dict(user.last_buttons())
    assert label in buttons, f"no {label!r} in {list(buttons)}"
    user.press(buttons[label])
    await api.wait_for(lambda: len(user.sent()) > before)


async def say(api, user, text: str) -> None:
    before = len(user.sent())
    user.send_text(text)
    await api.wait_for(lambda: len(user.sent()) > before)


async def to_the_files_step(api, user) -> None:
    """/start, then the inbound flow in English with the plainest answers, up to "Send your scans"."""
    await say(api, user, "/start")
    for label in ("English", "I agree", "Coming to China", "other or not sure", "other", "Today", "Yes", "No", "No"):
        await tap(api, user, label)


def texts(user) -> str:
    return "\n".join(message["text"] or "" for message in user.sent())


def test_inbound_in_russian_with_a_zip_to_the_checklist_and_the_coordinator(tmp_path, capsys):
    study = zipped_study(tmp_path)

    async def scenario(api):
        olga = api.user(501, first_name="Olga", language_code="ru")
        await say(api, olga, "/start")
        assert "Выберите язык" in olga.sent()[-1]["text"] or olga.last_buttons()
        await tap(api, olga, "Русский")
        agree = olga.last_buttons()[0][0]
        await tap(api, olga, agree)                               # согласие
        await tap(api, olga, olga.last_buttons()[0][0])           # в Китай
        await tap(api, olga, olga.last_buttons()[0][0])           # активная онкология
        await tap(api, olga, olga.last_buttons()[6][0])           # лёгкие
        await say(api, olga, "в следующий вторник")
        await tap(api, olga, olga.last_buttons()[0][0])           # дата верна
        await tap(api, olga, olga.last_buttons()[1][0])           # симптомы не менялись
        await tap(api, olga, olga.last_buttons()[1][0])           # не инфекция
        before = len(olga.sent())
        olga.send_document(study, "scans.zip")
        await api.wait_for(lambda: len(olga.sent()) > before)
        assert "scans.zip" in olga.sent()[-1]["text"]
        before = len(olga.sent())
        olga.press(dict(olga.last_buttons())[olga.last_buttons()[0][0]])  # Готово
        await api.wait_for(lambda: any("DICOM" in (m["text"] or "") and m["reply_markup"] for m in olga.sent()[before:]),
                           timeout=30)
        checklist = olga.sent()[-1]["text"]
        assert "5" in checklist and "2,5" in checklist            # the slice-thickness reason, in Russian numbers
        await tap(api, olga, olga.last_buttons()[0][0])           # отправить координатору
        await api.wait_for(lambda: any(m["document"] for m in api.sent(COORDINATOR)))
        summary = api.sent(COORDINATOR)[0]["text"]
        assert "ScanPass case" in summary and "[ct_thin_slices_needed]" in summary
        upload = api.calls("sendDocument")[-1]["document"]
        assert upload["filename"].startswith("scanpass-case-")
        report = json.loads(upload["data"])
        assert report["studies"][0]["reasons"][1]["code"] == "ct_thin_slices_needed"
        assert api.calls("answerCallbackQuery"), "button presses are answered so the spinner stops"
        coordinator = api.user(COORDINATOR, first_name="Coordinator", language_code="en")
        await say(api, coordinator, "/cases")
        case_id = re.search(r"#(\d+) new: REDO", coordinator.sent()[-1]["text"]).group(1)
        await say(api, coordinator, f"/claim {case_id}")
        assert f"Case {case_id} is yours" in coordinator.sent()[-1]["text"]
        before = len(olga.sent())
        await say(api, coordinator, f"/reply {case_id} Мы записали вас на КТ в понедельник.")
        await api.wait_for(lambda: len(olga.sent()) > before)
        assert olga.sent()[-1]["text"] == "Сообщение от вашего координатора:\n\nМы записали вас на КТ в понедельник."
        await say(api, coordinator, "/cases")
        assert f"#{case_id} answered" in coordinator.sent()[-1]["text"]
        before = len(olga.sent())
        olga.send_text("/cases")                                  # not a coordinator: an unknown command
        await api.wait_for(lambda: len(olga.sent()) > before + 1)  # the hint, then the current question
        assert "/help" in olga.sent()[before]["text"]
        assert len(api.commands("ru")) == 6 and len(api.commands("")) == 6

    asyncio.run(with_bot(tmp_path, scenario))
    assert "501" not in capsys.readouterr().out  # no patient identifiers printed
    with Repository(Settings(data_dir=tmp_path / "data").database_url, tmp_path / "data") as repository:
        handoff = repository.load("telegram:501").handoff   # what the dashboard shows of the Telegram claim and reply
    assert handoff["claimed_by"] == "Coordinator" and handoff["replies"][0]["by"] == "Coordinator"


def test_a_broken_file_a_large_file_and_a_stale_button(tmp_path):
    async def scenario(api):
        ann = api.user(601, language_code="en")
        await say(api, ann, "/start")
        await tap(api, ann, "English")
        stale = ann.sent()[-1]
        await tap(api, ann, "I agree")
        before = len(ann.sent())
        ann.press("consent:agree", message=stale["message_id"])   # "I agree" again, from the old message
        await api.wait_for(lambda: len(ann.sent()) > before + 1)  # a hint, then the current question
        assert "earlier question" in ann.sent()[before]["text"]
        for label in ("Coming to China", "other or not sure", "other", "Today", "Yes", "No", "No"):
            await tap(api, ann, label)
        before = len(ann.sent())
        ann.send_document(None, "huge.zip", size=25 * 1024 * 1024)
        await api.wait_for(lambda: len(ann.sent()) > before)
        answer = ann.sent()[-1]["text"]
        assert "larger than 20 MB" in answer and "send the link here" in answer
        page = re.search(r"(http://127\.0\.0\.1:\d+/u/\S+)", answer).group(1)   # the one-time web upload page
        async with aiohttp.ClientSession() as web_browser:
            async with web_browser.get(page) as response:
                assert response.status == 200 and "text/html" in response.headers["Content-Type"]
        ann.send_document(b"\x00" * 128 + b"DICM" + b"\x02\x00", "broken.dcm")
        await api.wait_for(lambda: "broken.dcm" in (ann.sent()[-1]["text"] or ""))
        ann.press(dict(ann.last_buttons())["Done"])
        await api.wait_for(lambda: "Send this to a coordinator?" in (ann.sent()[-1]["text"] or ""), timeout=30)
        assert "No DICOM scan was found" in ann.sent()[-1]["text"]
        assert "broken.dcm: the file is cut short" in ann.sent()[-1]["text"]

    asyncio.run(with_bot(tmp_path, scenario))


def test_a_restart_of_the_bot_between_two_steps(tmp_path):
    async def first(api):
        ann = api.user(701, language_code="zh-CN")
        await say(api, ann, "/start")
        assert ann.last_buttons()[0][0] == "English"
        await tap(api, ann, "简体中文")
        await tap(api, ann, "我同意")

    async def second(api):
        ann = api.user(701)
        await tap(api, ann, "来中国就医")                          # a button from before the restart still works
        assert "这次治疗属于哪种情况" in ann.sent()[-1]["text"]

    asyncio.run(with_bot(tmp_path, first, second))


def test_a_flood_limit_is_waited_out_and_the_step_is_kept(tmp_path):
    async def scenario(api):
        ann = api.user(801, language_code="fr")
        await say(api, ann, "/start")
        api.fail_next("sendMessage", times=1, retry_after=1)     # Telegram answers 429 once
        await tap(api, ann, "Français")
        assert api.attempts("sendMessage") >= 3                  # /start, the refused one, and its retry
        assert ann.last_buttons()[0][1] == "consent:agree"        # the consent notice arrived after the wait

    asyncio.run(with_bot(tmp_path, scenario))


def test_webhook_mode_on_the_projects_own_app(tmp_path):
    port = free_port()

    async def scenario():
        async with running_double() as api:
            settings = Settings(data_dir=tmp_path / "data", http_port=port, telegram_bot_token=api.token,
                                telegram_base_url=api.base_url, telegram_base_file_url=api.base_file_url,
                                telegram_webhook_url=f"http://127.0.0.1:{port}/telegram/hook",
                                telegram_webhook_secret="s3cret")
            stop = asyncio.Event()
            server = asyncio.create_task(serve(settings, stop))
            try:
                await api.wait_for(lambda: api.webhook)
                assert api.webhook == (f"http://127.0.0.1:{port}/telegram/hook", "s3cret")
                ann = api.user(901, language_code="es")
                await say(api, ann, "/start")                       # delivered by POST to the webhook
                assert ann.last_buttons()[0][1] == "language:en"
                status, _ = await api.post_webhook({"update_id": 99, "message": {}}, secret_token="wrong")
                assert status == 403                                # a forged update is refused
            finally:
                stop.set()
                await server

    asyncio.run(scenario())


def test_an_album_of_documents_is_one_batch_with_one_answer(tmp_path):
    study = tmp_path / "album"
    write_study(study, [SeriesSpec("CT", 3, {"SliceThickness": "1.0"})], study_date=dt.date.today())

    async def scenario(api):
        ann = api.user(1001, language_code="en")
        await to_the_files_step(api, ann)
        before = len(ann.sent())
        for path in sorted(study.iterdir()):
            ann.send_document(path.read_bytes(), path.name, media_group_id="album-1")
        await api.wait_for(lambda: len(ann.sent()) > before)
        await asyncio.sleep(1.5)                                   # no further answers trickle in
        answers = ann.sent()[before:]
        assert len(answers) == 1 and "(3 files so far)" in answers[0]["text"]
        ann.press(dict(ann.last_buttons())["Done"])
        await api.wait_for(lambda: "1 study found: 1 usable" in (ann.sent()[-1]["text"] or ""), timeout=30)

    asyncio.run(with_bot(tmp_path, scenario))


def test_inbound_in_english_with_cloud_links_to_the_checklist_and_the_coordinator(tmp_path, monkeypatch):
    monkeypatch.setitem(providers.FILES, "ct-chest.zip", zipped_study(tmp_path, thickness="1.0"))

    async def scenario(api):
        ann = api.user(701, language_code="en")
        await to_the_files_step(api, ann)
        before = len(ann.sent())
        ann.send_text(PROVIDERS.links["portal"])                 # a hospital viewer, not a file
        await api.wait_for(lambda: any("opens a web page, not a file" in (m["text"] or "") for m in ann.sent()[before:]))
        before = len(ann.sent())
        ann.send_text("http://169.254.169.254/latest/meta-data/")  # the cloud's metadata address
        await api.wait_for(lambda: any("private or local network address" in (m["text"] or "")
                                       for m in ann.sent()[before:]))
        before = len(ann.sent())
        ann.send_text(PROVIDERS.links["dropbox"])                # a Dropbox share link, dl=0 as people paste it
        await api.wait_for(lambda: any("ct-chest.zip (1 file so far)" in (m["text"] or "") for m in ann.sent()[before:]))
        texts_now = [m["text"] for m in ann.sent()[before:]]
        assert any("Got the link. Downloading the files now" in (text or "") for text in texts_now)
        assert any(("dropbox.com", "dl=1") == (host.split(".", 1)[1], path.rsplit("&", 1)[1])
                   for _method, host, path in PROVIDERS.requests if host == "www.dropbox.com" and "&" in path)
        ann.press(dict(ann.last_buttons())["Done"])
        await api.wait_for(lambda: "1 study found: 1 usable" in (ann.sent()[-1]["text"] or ""), timeout=30)
        await tap(api, ann, "Yes, send it")
        await api.wait_for(lambda: any(m["document"] for m in api.sent(COORDINATOR)))
        assert "ScanPass case" in api.sent(COORDINATOR)[0]["text"]
        assert PROVIDERS.loopback.hits == 0

    async def run():
        async with running_providers() as server:
            PROVIDERS.links, PROVIDERS.requests, PROVIDERS.loopback = server.links, server.requests, server.loopback
            fetcher = LinkFetcher(Settings().max_upload_bytes, **server.options)
            await with_bot(tmp_path, scenario, fetcher=fetcher)

    asyncio.run(run())
