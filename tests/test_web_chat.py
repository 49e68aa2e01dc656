"""The web chat's handlers through aiohttp's test client: the visitor cookie, a whole English flow to the
checklist over the JSON API, the PDF, coordinators' replies, error pages in the visitor's language."""
from __future__ import annotations

import datetime as dt
import io
import os
import stat
import zipfile

import pytest
from aiohttp import web

from cases.links import LinkFetcher
from bot.web.keys import CORE, JOBS, WEB
from cases import casework
from bot.web.visitors import COOKIE, SECRET_FILE
from tests import providers
from tests.factory import SeriesSpec, write_study
from tests.providers import running_providers
from tests.webpatient import client, repository, settings  # noqa: F401 — fixtures
from tests.webpatient import WebPatient, web_app


async def through_answers(patient: WebPatient) -> None:
    await patient.start()
    for label in ("English", "I agree", "Coming to China", "active cancer treatment or pre-surgical work-up",
                  "brain tumour", "Today", "Yes", "No", "No"):
        await patient.tap(label)


async def test_a_new_visitor_gets_a_signed_http_only_cookie_and_a_secret_made_once(client, settings):
    response = await client.get("/")
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    visitor, _, signature = cookie.value.partition(".")
    assert len(visitor) == 32 and len(signature) == 64
    secret = settings.data_dir / SECRET_FILE
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    again = await client.get("/")
    assert COOKIE not in again.cookies          # a returning visitor keeps theirs


async def test_a_tampered_cookie_is_a_new_visitor_who_cannot_reach_the_case(client):
    patient = WebPatient(client)
    await through_answers(patient)
    real = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value
    visitor, _, signature = real.partition(".")
    forged = ("0" if visitor[0] != "0" else "1") + visitor[1:] + "." + signature
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({COOKIE: forged})
    response = await client.post("/api/chat", json={"command": "start"})
    assert response.status == 403                # the API needs a visitor the server signed
    page = await client.get("/")
    assert page.cookies[COOKIE].value != forged   # the page makes a new visitor
    fresh = WebPatient(client)
    answer = await fresh.post({"command": "start"})
    assert answer["messages"][0]["text"] == "Choose your language."    # not the other patient's files step
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({COOKIE: real})
    back = await WebPatient(client).post({"command": "start"})
    assert "Welcome back" in back["messages"][0]["text"] and "Send your scans" in back["messages"][1]["text"]


async def test_english_flow_to_the_checklist_and_its_pdf(client, tmp_path):
    patient = WebPatient(client)
    await through_answers(patient)
    study = tmp_path / "study"
    write_study(study, [SeriesSpec("CT", 2, {"SliceThickness": "5.0"})], study_date=dt.date.today() - dt.timedelta(days=3))
    for path in sorted(study.iterdir()):
        answer = await patient.upload(path, f"study/{path.name}")
    assert answer["received"] == f"study/{path.name}"
    assert "(2 files so far)" in patient.texts[-1]
    pdf_before = await client.get("/checklist.pdf")
    assert pdf_before.status == 404 and "no checklist yet" in (await pdf_before.text())
    answer = await patient.tap("Done")
    assert answer["busy"]["kind"] == "check"
    assert "Checking your files" in patient.texts[-1]
    await patient.wait()
    checklist = patient.html[-1]
    assert "slices are 5 mm; for cancer work-up the hospital needs 2.5 mm or thinner" in checklist
    assert 'class="badge verdict-redo"' in checklist and "What to bring" in checklist
    assert "Send this to a coordinator?" in patient.texts[-1]
    pdf = await client.get("/checklist.pdf")
    assert pdf.status == 200 and pdf.content_type == "application/pdf"
    assert (await pdf.read()).startswith(b"%PDF")
    await patient.tap("Yes, send it")
    assert "Sent: a coordinator will contact you here." in patient.texts[-1]


async def test_a_coordinators_reply_reaches_the_web_patient(client, repository, settings):
    patient = WebPatient(client)
    await through_answers(patient)
    chat = next(case.chat for case in repository.cases() if case.chat.startswith("web:"))
    with repository.step(chat) as case:
        case.handoff = {"summary": "…"}
    case_id = repository.load(chat).id
    core = client.server.app[CORE]
    casework.answer(core, case_id, "li.wei", "We have your files; call us at 10:00.")
    news = await (await client.get("/api/updates", params={"replies": "0"})).json()
    assert [reply["text"] for reply in news["replies"]] == ["A coordinator replied:\n\nWe have your files; call us at 10:00."] \
        or "We have your files; call us at 10:00." in news["replies"][0]["text"]
    later = await (await client.get("/api/updates", params={"replies": str(news["replies_seen"])})).json()
    assert later["replies"] == []
    assert [m.state for m in core.outbox.for_case(case_id)] == ["sent"]     # the page took it: delivered


async def test_language_select_midway_keeps_the_answers(client):
    patient = WebPatient(client)
    await through_answers(patient)
    answer = await patient.post({"language": "ar"})
    assert answer["locale"] == "ar" and "أرسل فحوصك" in patient.texts[-1]


async def test_commands_typed_in_the_text_field(client):
    patient = WebPatient(client)
    await through_answers(patient)
    await patient.say("/help")
    assert "Commands:" in patient.texts[-2]
    await patient.say("/delete")
    await patient.tap("Yes, delete everything")
    assert "Everything you gave us has been deleted." in patient.texts[-1]


async def test_bad_requests_get_a_clear_json_answer(client):
    await client.get("/")
    not_json = await client.post("/api/chat", data="button=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert not_json.status == 415 and "could not be understood" in (await not_json.json())["message"]
    empty = await client.post("/api/chat", json={})
    assert empty.status == 400 and (await empty.json())["error"] == "unreadable_request"


@pytest.mark.parametrize("language,words", [("en", "Page not found"), ("fr", "Page introuvable")])
async def test_404_page_in_the_visitors_language(client, language, words):
    response = await client.get("/no/such/page", headers={"Accept-Language": language})
    assert response.status == 404 and response.headers["Content-Language"] == language
    assert words in await response.text()
    api = await client.get("/api/nothing", headers={"Accept-Language": language})
    assert api.status == 404 and (await api.json())["error"] == "not_found"


@pytest.mark.parametrize("language,words", [("en", "Too large"), ("ru", "Слишком большой")])
async def test_413_page_in_the_visitors_language(aiohttp_client, settings, repository, language, words):
    app = web_app(settings, repository)

    async def form(request: web.Request) -> web.Response:
        await request.post()          # over aiohttp's body limit: 413
        return web.Response(text="read")

    app.router.add_post("/form", form)
    client = await aiohttp_client(app)
    response = await client.post("/form", data={"x": "a" * (2 * 1024 * 1024)}, headers={"Accept-Language": language})
    assert response.status == 413
    assert words in await response.text()


@pytest.mark.parametrize("language,words", [("en", "Something went wrong"), ("zh-CN", "出了点问题")])
async def test_500_page_in_the_visitors_language_says_nothing_was_lost(aiohttp_client, settings, repository,
                                                                       language, words, caplog):
    app = web_app(settings, repository)

    async def broken(_request: web.Request) -> web.Response:
        raise RuntimeError("patient Jane Doe's file")

    app.router.add_get("/broken", broken)
    client = await aiohttp_client(app)
    response = await client.get("/broken", headers={"Accept-Language": language})
    assert response.status == 500 and words in await response.text()
    assert "Jane Doe" not in caplog.text and "RuntimeError" in caplog.text


async def test_error_pages_follow_the_patients_chosen_language_over_the_browsers(client):
    patient = WebPatient(client, language="en")
    await patient.start()
    await patient.tap("Español")
    response = await client.get("/missing", headers={"Accept-Language": "en"})
    assert "Página no encontrada" in await response.text()


async def test_the_chat_page_is_in_the_browsers_language_with_rtl_for_arabic(client):
    response = await client.get("/", headers={"Accept-Language": "ar-EG,ar;q=0.9,en;q=0.5"})
    text = await response.text()
    assert '<html lang="ar" dir="rtl">' in text
    assert "webkitdirectory" in text and 'role="log"' in text and 'aria-live="polite"' in text


async def test_the_app_carries_one_web_chat_over_the_case_core(client):
    app = client.server.app
    assert app[WEB].channel.core is app[CORE] and app[JOBS].core is app[CORE]


async def test_a_cloud_link_in_the_web_chat_is_downloaded_into_the_case(aiohttp_client, settings, repository, tmp_path,
                                                                       monkeypatch):
    study = tmp_path / "study"
    write_study(study, [SeriesSpec("CT", 2, {"SliceThickness": "1.0"})], study_date=dt.date.today() - dt.timedelta(days=3))
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        for path in sorted(study.iterdir()):
            archive.write(path, f"CT/{path.name}")
    monkeypatch.setitem(providers.FILES, "wetransfer_ct_2024-05-01_1200.zip", packed.getvalue())
    async with running_providers() as server:
        app = web_app(settings, repository)
        app[JOBS].fetcher = LinkFetcher(settings.max_upload_bytes, **server.options)
        patient = WebPatient(await aiohttp_client(app))
        await through_answers(patient)
        await patient.say(server.links["portal"])                 # a hospital viewer, not a file
        await patient.wait()
        assert "opens a web page, not a file" in patient.texts[-2]
        answer = await patient.say(server.links["wetransfer"])    # a transfer link as pasted
        assert answer["busy"]["kind"] == "download" and "Downloading the files now" in patient.texts[-1]
        await patient.wait()
        assert "Received wetransfer_ct_2024-05-01_1200.zip (1 file so far)" in patient.texts[-1]
        await patient.tap("Done")
        await patient.wait()
        assert "1 study found: 1 usable" in patient.html[-1]
        assert server.loopback.hits == 0


async def test_a_pdf_only_scan_of_unknown_date_reaches_the_checklist(client, tmp_path):
    patient = WebPatient(client)
    await through_answers(patient)
    report = tmp_path / "ct-report.pdf"
    report.write_bytes(b"%PDF-1.4\n%%EOF\n")
    await patient.upload(report)
    await patient.tap("Done")
    await patient.wait()
    await patient.tap("CT")
    await patient.tap("I don't know")
    await patient.tap("No more such scans")
    await patient.wait()
    assert "the scan has no date, so its age cannot be checked" in patient.html[-1]
    assert "Send this to a coordinator?" in patient.texts[-1]
    pdf = await client.get("/checklist.pdf")
    assert pdf.status == 200 and (await pdf.read()).startswith(b"%PDF")
    await patient.tap("Yes, send it")                # the next step answers too
    assert "Sent: a coordinator will contact you here." in patient.texts[-1]
