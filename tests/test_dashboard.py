"""The coordinator dashboard as a coordinator uses it: cases by status with search, a case's page (answers,
verdicts with reasons, files, JSON report, summary), claim, a reply that reaches the patient on their
channel, the originals as a zip, the page's language. Cases are real: a patient driven through the
conversation, files from the DICOM factory, the checker's report."""
from __future__ import annotations

import io
import json
import logging
import re
import zipfile

import pytest

from bot.web import auth
from storage.coordinators import Coordinators
from tests.dashboard_app import BROWSER, FAST, PASSWORD, FakeTelegram, add_account, csrf_of, dashboard_app, eventually, \
    sign_in
from tests.handoffs import hand_off, study_files
from tests.webpatient import WebPatient


@pytest.fixture(autouse=True)
def fast_hashes(monkeypatch):
    monkeypatch.setattr(auth, "PASSWORDS", FAST)


@pytest.fixture
def files(tmp_path):
    return [(path, f"DICOM/IM{number:04d}.dcm") for number, path in enumerate(study_files(tmp_path / "study"), 1)]


async def open_dashboard(aiohttp_client, database_url, tmp_path, telegram=None, **settings):
    app, repository, clock = dashboard_app(database_url, tmp_path / "data", telegram, **settings)
    add_account(repository)
    client = await aiohttp_client(app)
    client.repository, client.clock, client.telegram = repository, clock, telegram
    assert (await sign_in(client)).status == 303
    return client


@pytest.fixture
async def dashboard(database_url, aiohttp_client, tmp_path):
    return await open_dashboard(aiohttp_client, database_url, tmp_path, FakeTelegram())


async def text_of(client, path: str) -> str:
    response = await client.get(path, headers=BROWSER)
    assert response.status == 200, path
    return re.sub(r"\s+", " ", await response.text())


async def post(client, path: str, **data):
    return await client.post(path, data={"csrf": await csrf_of(client), **data}, headers=BROWSER, allow_redirects=False)


def listed(html: str) -> list[str]:
    return re.findall(r'href="/coordinator/case/(\d+)"', html)


async def test_cases_by_status_newest_first_with_what_a_coordinator_needs(dashboard, files):
    olga = hand_off(dashboard.repository, "telegram:501", files, locale="ru", sent_at="2026-11-23T08:00:00Z")
    pierre = hand_off(dashboard.repository, "web:pierre", files[:1], locale="fr", condition="chronic_disease",
                      area="other", sent_at="2026-11-23T09:00:00Z")
    page = await text_of(dashboard, "/coordinator")
    assert listed(page) == [str(pierre.id), str(olga.id)]               # newest handoff first
    assert "New (2)" in page and "Claimed (0)" in page and "Answered (0)" in page
    assert "Русский" in page and "Français" in page
    assert "stable cancer surveillance · lung" in page and "chronic disease or endocrine work-up · other" in page
    assert "REDO" in page and "1 study found: 0 usable, 0 to review, 1 to redo." in page
    assert "Nov 23, 2026, 8:00:00 AM" in page          # text_of folds the narrow space

    assert (await post(dashboard, f"/coordinator/case/{olga.id}/claim")).status == 303
    assert listed(await text_of(dashboard, "/coordinator")) == [str(pierre.id)]
    claimed = await text_of(dashboard, "/coordinator?status=claimed")
    assert listed(claimed) == [str(olga.id)] and "li.wei" in claimed and "Claimed (1)" in claimed


@pytest.mark.parametrize("query,who", [
    ("{olga}", ["olga"]), ("#{pierre}", ["pierre"]), ("русский", ["olga"]), ("ru", ["olga"]),
    ("Français", ["pierre"]), ("lung", ["olga"]), ("cancer", ["olga"]), ("chronic", ["pierre"]),
    ("redo", ["olga"]), ("ct_thin_slices_needed", ["olga"]), ("usable", ["pierre"]), ("lung redo", ["olga"]),
    ("lung usable", []),
])
async def test_search_finds_cases_by_number_language_condition_and_verdict(dashboard, files, tmp_path, query, who):
    thin = [(path, f"thin/{path.name}") for path in study_files(tmp_path / "thin", thickness="1.0")]
    cases = {"olga": hand_off(dashboard.repository, "telegram:501", files, locale="ru"),
             "pierre": hand_off(dashboard.repository, "web:pierre", thin, locale="fr", condition="chronic_disease",
                                area="musculoskeletal")}
    query = query.format(**{name: case.id for name, case in cases.items()})
    response = await dashboard.get("/coordinator", params={"q": query}, headers=BROWSER)
    page = await response.text()
    assert listed(page) == [str(cases[name].id) for name in who]
    if not who:
        assert f"No case here matches “{query}”." in page


async def test_a_case_page_shows_answers_verdicts_with_reasons_files_and_summary(dashboard, files):
    case = hand_off(dashboard.repository, "telegram:501", files, locale="ru")
    page = await text_of(dashboard, f"/coordinator/case/{case.id}")
    assert f"Case {case.id}" in page and "Русский" in page and "telegram" in page
    for answer in ("Coming to China", "stable cancer surveillance", "lung", "Symptoms changed", "No"):
        assert answer in page
    assert "1. CT, chest, " in page and "REDO" in page
    assert "slices are 5 mm; for cancer work-up the hospital needs 2.5 mm or thinner" in page
    assert "ct_thin_slices_needed" in page
    assert "DICOM/IM0001.dcm" in page and "DICOM/IM0003.dcm" in page
    size = case.uploads[0].size
    assert f"{size / 1000:.1f} kB" in page
    assert f"ScanPass case {case.id}: REDO" in page                     # the handoff summary
    assert f'href="/coordinator/case/{case.id}/originals.zip"' in page and "Claim this case" in page
    response = await dashboard.get(f"/coordinator/case/{case.id}", headers=BROWSER)
    assert response.headers["Cache-Control"] == "no-store" and response.headers["X-Frame-Options"] == "DENY"


async def test_the_json_report_downloads_as_the_checker_wrote_it(dashboard, files):
    case = hand_off(dashboard.repository, "telegram:501", files)
    response = await dashboard.get(f"/coordinator/case/{case.id}/report.json", headers=BROWSER)
    assert response.headers["Content-Disposition"] == f'attachment; filename="scanpass-case-{case.id}.json"'
    assert json.loads(await response.read()) == case.report


async def test_the_originals_download_as_a_zip_under_the_patients_names(dashboard, files):
    files = files + [(files[0][0], "DICOM/IM0001.dcm"), (files[1][0], "../../etc/passwd")]
    case = hand_off(dashboard.repository, "web:anna", files)
    response = await dashboard.get(f"/coordinator/case/{case.id}/originals.zip", headers=BROWSER)
    assert response.status == 200 and response.headers["Content-Type"] == "application/zip"
    assert "Content-Length" not in response.headers                     # streamed, not built first
    with zipfile.ZipFile(io.BytesIO(await response.read())) as archive:
        assert archive.namelist() == ["DICOM/IM0001.dcm", "DICOM/IM0002.dcm", "DICOM/IM0003.dcm",
                                      "DICOM/IM0001 (2).dcm", "etc/passwd"]
        assert archive.read("DICOM/IM0002.dcm") == files[1][0].read_bytes()
        assert archive.read("etc/passwd") == files[1][0].read_bytes()


async def test_a_claimed_case_is_not_taken_over_by_another_coordinator(dashboard, files, aiohttp_client):
    case = hand_off(dashboard.repository, "telegram:501", files)
    await post(dashboard, f"/coordinator/case/{case.id}/claim")
    assert "You have claimed this case." in await text_of(dashboard, f"/coordinator/case/{case.id}?done=claimed")
    Coordinators(dashboard.repository).add("anna", auth.hash_password(PASSWORD), "en")
    anna = await aiohttp_client(dashboard.server)
    await sign_in(anna, "anna")
    response = await post(anna, f"/coordinator/case/{case.id}/claim")
    assert response.headers["Location"] == f"/coordinator/case/{case.id}?done=taken"
    assert "This case is already claimed by li.wei." in await text_of(anna, response.headers["Location"])
    assert dashboard.repository.get(case.id).handoff["claimed_by"] == "li.wei"


async def test_a_reply_reaches_a_telegram_patient_in_their_language_and_is_kept(dashboard, files, caplog):
    caplog.set_level(logging.DEBUG)
    case = hand_off(dashboard.repository, "telegram:501", files, locale="ru")
    dashboard.clock.advance(minutes=30)
    response = await post(dashboard, f"/coordinator/case/{case.id}/reply", text="Мы записали вас на КТ в понедельник.")
    assert response.headers["Location"] == f"/coordinator/case/{case.id}?done=replied"
    reply = (501, "Сообщение от вашего координатора:\n\nМы записали вас на КТ в понедельник.")
    await eventually(lambda: reply in dashboard.telegram.bot.sent)      # delivered by a job, through the outbox
    assert dashboard.telegram.bot.sent.count(reply) == 1
    stored = dashboard.repository.get(case.id)
    assert stored.status == "answered" and stored.handoff["claimed_by"] == "li.wei"
    [entry] = stored.handoff["replies"]
    assert (entry["text"], entry["at"], entry["by"]) == ("Мы записали вас на КТ в понедельник.", "2026-11-23T09:30:00Z",
                                                          "li.wei")
    await eventually(lambda: _delivery_line(dashboard, case.id).startswith("sent"))
    page = await text_of(dashboard, response.headers["Location"])
    assert "Your message was sent to the patient." in page and "Мы записали вас на КТ в понедельник." in page
    assert ">delivered<" in page.replace("delivery-sent\">", ">")
    assert listed(await text_of(dashboard, "/coordinator?status=answered")) == [str(case.id)]
    assert "понедельник" not in caplog.text and "DICOM/IM" not in caplog.text   # no patient data in logs


async def test_a_reply_to_a_web_patient_is_kept_for_their_chat_page(dashboard, files):
    case = hand_off(dashboard.repository, "web:3f9c", files, locale="es")
    await post(dashboard, f"/coordinator/case/{case.id}/reply", text="Le esperamos el lunes.")
    await post(dashboard, f"/coordinator/case/{case.id}/reply", text="Traiga el disco, por favor.")
    stored = dashboard.repository.get(case.id)
    assert [(r["text"], r["by"]) for r in stored.handoff["replies"]] == [
        ("Le esperamos el lunes.", "li.wei"), ("Traiga el disco, por favor.", "li.wei")]
    assert stored.status == "answered" and dashboard.telegram.bot.sent == []
    page = await text_of(dashboard, f"/coordinator/case/{case.id}")
    assert page.count("waiting to be delivered") == 2          # until the patient's page takes them


@pytest.mark.parametrize("telegram", [None, FakeTelegram(running=False), FakeTelegram(failing=True)],
                         ids=["channel off", "channel stopped", "send fails"])
async def test_a_reply_telegram_cannot_take_now_is_kept_and_shown_waiting(database_url, aiohttp_client, tmp_path, files,
                                                                       telegram):
    client = await open_dashboard(aiohttp_client, database_url, tmp_path, telegram)
    case = hand_off(client.repository, "telegram:501", files)
    response = await post(client, f"/coordinator/case/{case.id}/reply", text="Please call us.")
    assert response.headers["Location"] == f"/coordinator/case/{case.id}?done=replied"
    if telegram is not None and telegram.running and telegram.bot.failing:   # retried with backoff; the failure's kind is shown
        await eventually(lambda: "NetworkError" in _delivery_line(client, case.id))
    page = await text_of(client, response.headers["Location"])
    assert "waiting to be delivered" in page
    stored = client.repository.get(case.id)
    assert stored.handoff["replies"][0]["text"] == "Please call us."
    assert telegram is None or not any("Please call us." in text for _, text in telegram.bot.sent)


def _delivery_line(client, case_id: int) -> str:
    """The state of the case's last reply in the outbox, and its last error."""
    from storage.outbox import Outbox

    replies = [m for m in Outbox(client.repository).for_case(case_id) if m.key.startswith("reply:")]
    return f"{replies[-1].state} {replies[-1].error}" if replies else ""


@pytest.mark.parametrize("text,problem", [("   ", "Write a message first."),
                                          ("x" * 3501, "The message is too long: at most 3,500 characters.")])
async def test_an_empty_or_too_long_reply_is_sent_back(dashboard, files, text, problem):
    case = hand_off(dashboard.repository, "telegram:501", files)
    response = await post(dashboard, f"/coordinator/case/{case.id}/reply", text=text)
    assert response.status == 400 and problem in await response.text()
    assert _delivery_line(dashboard, case.id) == "" and "replies" not in dashboard.repository.get(case.id).handoff


async def test_a_case_not_handed_off_or_erased_is_not_found(dashboard, files):
    with dashboard.repository.step("telegram:777") as case:
        case.consent = True                                              # talking, never handed off
    kept = dashboard.repository.load("telegram:777")
    erased = hand_off(dashboard.repository, "telegram:501", files)
    dashboard.repository.delete("telegram:501")
    for number in (kept.id, erased.id, 999):
        response = await dashboard.get(f"/coordinator/case/{number}", headers=BROWSER)
        assert response.status == 404 and f"There is no handed-off case {number}." in await response.text()
    response = await post(dashboard, f"/coordinator/case/{erased.id}/reply", text="hello")
    assert response.status == 404 and dashboard.repository.load("telegram:501") is None   # nothing re-created


async def test_the_dashboard_speaks_coordinator_locale_and_the_switch_is_remembered(database_url, aiohttp_client,
                                                                                    tmp_path, files):
    client = await open_dashboard(aiohttp_client, database_url, tmp_path, coordinator_locale="zh_Hans")
    login = await client.get("/coordinator/login", headers={**BROWSER, "Cookie": ""})
    case = hand_off(client.repository, "telegram:501", files, locale="ru")
    page = await text_of(client, f"/coordinator/case/{case.id}")
    assert "Case" in page    # li.wei's account is English; the switch decides from here
    switched = await text_of(client, f"/coordinator/case/{case.id}?lang=zh_Hans")
    assert 'lang="zh-Hans"' in switched and "层厚为 5 毫米" in switched
    assert "层厚为 5 毫米" in await text_of(client, f"/coordinator/case/{case.id}")        # the cookie remembers
    arabic = await text_of(client, "/coordinator?lang=ar")
    assert 'dir="rtl"' in arabic
    assert login.status == 200


async def test_a_web_chat_patient_hands_off_and_reads_the_coordinators_reply(dashboard, aiohttp_client, tmp_path):
    patient = WebPatient(await aiohttp_client(dashboard.server), language="fr")
    await patient.start()
    for label in ("Français", "J'accepte"):
        await patient.tap(label)
    for step in range(7):   # direction, condition, area, visit, confirmation, symptoms, infection: first choices
        await patient.post({"button": patient.buttons[0][1] if step not in (5, 6) else patient.buttons[1][1]})
    for path in study_files(tmp_path / "study"):
        await patient.upload(path, f"étude/{path.name}")
    await patient.post({"button": "files:done"})
    await patient.wait()
    await patient.post({"button": "checklist:yes"})
    case = next(case for case in dashboard.repository.cases() if case.chat.startswith("web:"))
    assert case.handoff and listed(await text_of(dashboard, "/coordinator")) == [str(case.id)]

    await post(dashboard, f"/coordinator/case/{case.id}/reply", text="Nous avons vos fichiers ; appelez-nous à 10 h.")
    news = await (await patient.client.get("/api/updates", params={"replies": "0"})).json()
    assert [reply["text"] for reply in news["replies"]] == [
        "Message de votre coordinateur\u00a0:\n\nNous avons vos fichiers ; appelez-nous à 10 h."]
    archive = await dashboard.get(f"/coordinator/case/{case.id}/originals.zip", headers=BROWSER)
    with zipfile.ZipFile(io.BytesIO(await archive.read())) as originals:
        assert originals.namelist() == ["étude/IM00001", "étude/IM00002", "étude/IM00003"]
