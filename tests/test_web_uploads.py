"""Resumable uploads (tus) on the web chat and the one-time upload links of Telegram patients."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.web.keys import CORE, WEB
from cases.upload_links import upload_link
from dialogs.events import Button, Command
from storage.models import utcnow
from storage.upload_tokens import UploadTokens
from tests.factory import SeriesSpec, write_study
from tests.webpatient import client, repository, settings  # noqa: F401 — fixtures
from tests.webpatient import TUS, WebPatient, web_app

MB = 1024 * 1024


async def at_files_step(client) -> WebPatient:
    patient = WebPatient(client)
    await patient.start()
    for label in ("English", "I agree", "Coming to China", "other or not sure", "other", "Today", "Yes", "No", "No"):
        await patient.tap(label)
    return patient


def incoming_files(settings) -> list:
    return sorted(path.name for path in (settings.data_dir / "incoming").iterdir())


def stored_files(settings) -> list:
    folder = settings.data_dir / "uploads"
    return sorted(path.name for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


async def test_an_upload_cut_midway_resumes_from_the_servers_offset(client, settings, repository):
    patient = await at_files_step(client)
    data = bytes(range(256)) * (6 * 1024)      # 1.5 MB
    created = await patient.create_upload(len(data), "scan.zip")
    location = created.headers["Location"]

    async def cut_after_first_megabyte():
        yield data[:MB]
        await asyncio.sleep(0.2)
        raise ConnectionResetError("the patient's Wi-Fi dropped")

    with pytest.raises(Exception):
        await patient.patch(location, 0, cut_after_first_megabyte())
    for _ in range(50):     # the server notices the broken connection
        head = await client.head(location, headers=TUS)
        if int(head.headers["Upload-Offset"]) == MB:
            break
        await asyncio.sleep(0.05)
    assert head.status == 200 and int(head.headers["Upload-Offset"]) == MB and int(head.headers["Upload-Length"]) == len(data)
    for _ in range(50):
        rest = await patient.patch(location, MB, data[MB:])
        if rest.status != 409:
            break
        await asyncio.sleep(0.05)   # the cut PATCH still holds the upload for a moment
    assert rest.status == 204 and int(rest.headers["Upload-Offset"]) == len(data)
    answer = await (await client.get(location)).json()
    assert answer["complete"] and answer["received"] == "scan.zip"
    assert "Received scan.zip (1 file so far)." in answer["messages"][0]["text"]
    case = next(case for case in repository.cases() if case.chat.startswith("web:"))
    with open(case.uploads[0].path, "rb") as stored:
        assert stored.read() == data              # byte for byte, though it came in two pieces
    assert not [name for name in incoming_files(settings) if name.endswith(".part")]


async def test_a_wrong_offset_is_refused_with_409_and_the_servers_offset(client):
    patient = await at_files_step(client)
    created = await patient.create_upload(1000, "a.dcm")
    location = created.headers["Location"]
    assert (await patient.patch(location, 0, b"x" * 400)).status == 204
    wrong = await patient.patch(location, 100, b"y" * 100)
    assert wrong.status == 409
    body = await wrong.json()
    assert body["error"] == "wrong_offset" and body["offset"] == 400 and wrong.headers["Upload-Offset"] == "400"
    head = await client.head(location, headers=TUS)
    assert head.headers["Upload-Offset"] == "400"   # the refused bytes changed nothing


async def test_max_upload_mb_is_enforced_at_creation_and_while_receiving(client, settings):
    patient = await at_files_step(client)
    too_big = await patient.create_upload(3 * MB, "disc.iso")
    assert too_big.status == 413
    assert "larger than 2 MB, the limit" in (await too_big.json())["message"]
    created = await patient.create_upload(MB, "liar.zip")      # declares 1 MB, then sends 3
    location = created.headers["Location"]

    async def endless():
        for _ in range(3):
            yield b"z" * MB

    refused = await patient.patch(location, 0, endless())
    assert refused.status == 413
    assert incoming_files(settings) == [] and stored_files(settings) == []   # nothing of it kept
    gone = await client.head(location, headers=TUS)
    assert gone.status == 404


async def test_uploads_belong_to_their_visitor(client, aiohttp_client, settings, repository):
    patient = await at_files_step(client)
    location = (await patient.create_upload(10, "mine.dcm")).headers["Location"]
    stranger = await aiohttp_client(client.server.app)   # another browser: its own cookie
    await stranger.get("/")
    assert (await stranger.head(location, headers=TUS)).status == 404
    anonymous = await aiohttp_client(client.server.app, cookie_jar=None)
    refused = await anonymous.post("/api/uploads", headers={**TUS, "Upload-Length": "10"})
    assert refused.status == 403 and "Open the chat page first" in (await refused.json())["message"]


async def test_protocol_errors_are_clear(client):
    patient = await at_files_step(client)
    no_tus = await client.post("/api/uploads", headers={"Upload-Length": "10"})
    assert no_tus.status == 412
    location = (await patient.create_upload(10, "a.dcm")).headers["Location"]
    wrong_type = await client.patch(location, data=b"x", headers={**TUS, "Upload-Offset": "0",
                                                                   "Content-Type": "text/plain"})
    assert wrong_type.status == 415
    options = await client.options("/api/uploads")
    assert options.headers["Tus-Version"] == "1.0.0" and options.headers["Tus-Max-Size"] == str(2 * MB)


async def test_a_file_before_the_files_step_gets_a_hint_and_is_not_kept(client, settings, tmp_path):
    patient = WebPatient(client)
    await patient.start()
    await patient.tap("English")
    note = tmp_path / "early.dcm"
    note.write_bytes(b"DICM" * 10)
    answer = await patient.upload(note)
    assert answer["received"] is None and "cannot take files at this step" in answer["messages"][0]["text"]
    assert stored_files(settings) == []


# ---- the one-time upload link of a Telegram patient -------------------------------------------------
def telegram_patient(conversation, chat: str = "telegram:4242") -> None:
    """A Russian Telegram patient who reached the files step and sent a 25 MB file."""
    for event in (Command("start"), Button("language:ru"), Button("consent:agree"), Button("direction:inbound"),
                  Button("condition:other"), Button("area:other"), Button("visit:today"), Button("visit_confirm:yes"),
                  Button("symptoms:no"), Button("infection:no")):
        conversation.step(chat, event)


async def test_upload_link_joins_the_telegram_case_answers_there_and_is_spent(aiohttp_client, settings, repository, tmp_path):
    app = web_app(settings, repository)
    client = await aiohttp_client(app)
    conversation = app[CORE]
    telegram_patient(conversation)
    link = upload_link(repository, settings, "telegram:4242")
    assert link.startswith("http://scans.example.org/u/") and "//u" not in link.replace("http://", "")
    path = "/u/" + link.rsplit("/u/", 1)[1]
    page = await client.get(path, headers={"Accept-Language": "en"})
    text = await page.text()
    assert page.status == 200 and '<html lang="ru"' in text and "Отправьте большие файлы" in text
    study = tmp_path / "study"
    write_study(study, [SeriesSpec("CT", 2, {})])
    patient = WebPatient(client)
    ids = []
    for file in sorted(study.iterdir()):
        answer = await patient.upload(file, f"study/{file.name}", at=path + "/uploads")
        ids.append(answer["location"].rsplit("/", 1)[1])
    case = repository.load("telegram:4242")
    assert len(case.uploads) == 2 and case.state == "files"
    told = lambda: [m for m in conversation.outbox.newer("telegram:4242") if m.key.startswith("say:")]  # noqa: E731
    assert told() == []                             # Telegram hears once, when the page is done
    finish = await client.post(path + "/finish", json={"uploads": ids})
    assert finish.status == 200 and (await finish.json()) == {"received": 2, "told": True}
    [message] = told()                              # in the outbox, for a delivery job to send in Telegram
    assert message.body["locale"] == "ru" and [r["message"] for r in message.body["replies"]] == ["ask_files"]
    params = message.body["replies"][0]["params"]
    assert params["received"] == f"study/{file.name}" and params["uploads"] == 2
    again = await client.get(path)
    assert again.status == 410 and "уже использована" in await again.text()
    late = await client.post(path + "/uploads", headers={**TUS, "Upload-Length": "10"})
    assert late.status == 410


async def test_an_expired_or_unknown_link_is_a_clear_page(client, repository, settings):
    with repository.step("telegram:77") as case:
        case.locale = "es"
    token = UploadTokens(repository).issue("telegram:77", now=utcnow() - timedelta(hours=25))
    expired = await client.get(f"/u/{token}", headers={"Accept-Language": "en"})
    assert expired.status == 410 and "ha caducado" in await expired.text()
    unknown = await client.get("/u/not-a-token", headers={"Accept-Language": "fr"})
    assert unknown.status == 404 and "Page introuvable" in await unknown.text()
