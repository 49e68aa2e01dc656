"""ScanPass as deployed: two `scanpass serve` on one PostgreSQL database and a shared DATA_DIR behind
HAProxy with the shipped deploy/haproxy.cfg (tests/cluster.py starts it all)."""
from __future__ import annotations

import asyncio
import datetime as dt
import signal
import zipfile

import aiohttp
import pytest

from cases import CaseCore, casework
from cases.queue import queue_for
from storage import Repository, Settings
from tests.botapi import running_double
from tests.cluster import cluster, cluster_database  # noqa: F401 — fixtures
from tests.cluster import wait_for
from tests.factory import SeriesSpec, write_study
from tests.webpatient import WebPatient

QUESTIONS = ("English", "I agree", "Coming to China", "other or not sure", "other", "Today", "Yes", "No", "No")


class Browser:
    """An aiohttp session on the balancer with a cookie jar, recording which instance answered each request."""

    def __init__(self, url: str):
        self.served_by: list[str | None] = []
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(self._record)
        self.session = aiohttp.ClientSession(base_url=url, cookie_jar=aiohttp.CookieJar(unsafe=True),
                                             trace_configs=[trace], timeout=aiohttp.ClientTimeout(total=30))

    async def _record(self, _session, _context, params) -> None:
        self.served_by.append(params.response.headers.get("X-Served-By"))

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.session.close()


def test_healthz_through_the_balancer_is_answered_by_every_instance(cluster):
    deployment = cluster(serve=2)
    answers = [deployment.get("/healthz") for _ in range(6)]
    assert [status for status, _, _ in answers] == [200] * 6
    assert {served_by for _, served_by, _ in answers} == {"s1", "s2"}


async def test_a_web_patient_is_served_by_both_instances_through_questions_and_a_tus_upload(cluster, tmp_path):
    deployment = cluster(serve=2, workers=2)
    study = tmp_path / "study"
    write_study(study, [SeriesSpec("CT", 2, {"SliceThickness": "5.0"})], study_date=dt.date.today() - dt.timedelta(days=3))
    async with Browser(deployment.url) as browser:
        patient = WebPatient(browser.session)
        await patient.start()
        for label in QUESTIONS:
            await patient.tap(label)
        assert "Send your scans" in patient.texts[-1]
        for path in sorted(study.iterdir()):   # POST, PATCH and GET of each upload: round-robin spreads them
            answer = await patient.upload(path, f"study/{path.name}")
        assert answer["complete"] and answer["received"] == f"study/{path.name}"
        assert "(2 files so far)" in patient.texts[-1]
        assert set(browser.served_by) == {"s1", "s2"}
        assert browser.served_by.count("s1") >= 5 and browser.served_by.count("s2") >= 5
        answer = await patient.tap("Done")
        assert "Checking your files" in patient.texts[-1]

        before = len(browser.served_by)
        checklists = await wait_for_checklists(browser)
        assert len(checklists) == 1 and "What to bring" in checklists[0], deployment.explain()
        assert set(browser.served_by[before:]) == {"s1", "s2"}    # polls answered by either instance
        async with browser.session.get("/checklist.pdf") as response:
            assert response.status == 200


async def wait_for_checklists(browser: Browser, seconds: float = 90) -> list[str]:
    """Poll /api/updates (through the balancer, so by both instances) until the check has answered, then a
    few polls more; every checklist the page was given."""
    seen, checklists, quiet, news = 0, [], 0, {}
    for _ in range(int(seconds / 0.2)):
        async with browser.session.get("/api/updates", params={"replies": str(seen)}) as response:
            news = await response.json()
        seen = news["replies_seen"]
        checklists += [m["html"] for m in news["messages"] if m.get("html")]
        if checklists and not news["busy"]:
            quiet += 1
            if quiet == 10:
                return checklists
        await asyncio.sleep(0.2)
    raise AssertionError(f"no checklist came back: {news}")


async def midway(browser: Browser) -> None:
    """Wait until the patient's check has done some files and not all of them."""
    busy = None
    for _ in range(1500):
        async with browser.session.get("/api/updates", params={"replies": "0"}) as response:
            busy = (await response.json())["busy"]
        if busy and busy["done"]:
            break
        await asyncio.sleep(0.02)
    assert busy and busy["done"] < (busy["total"] or 0), f"the check was not caught midway: {busy}"


async def at_the_check(browser: Browser, tmp_path, images: int) -> WebPatient:
    """A web patient who sent one zipped study of `images` files and tapped Done."""
    study = tmp_path / "big"
    write_study(study, [SeriesSpec("CT", images, {"SliceThickness": "1.0"})], study_date=dt.date.today())
    packed = tmp_path / "big.zip"
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(study.iterdir()):
            archive.write(path, path.name)
    patient = WebPatient(browser.session)
    await patient.start()
    for label in QUESTIONS:
        await patient.tap(label)
    await patient.upload(packed)
    await patient.tap("Done")
    return patient


async def test_a_worker_killed_during_a_check_runs_it_again_and_the_patient_gets_one_checklist(cluster, tmp_path):
    deployment = cluster(serve=2, workers=1)
    async with Browser(deployment.url) as browser:
        await at_the_check(browser, tmp_path, images=3000)
        await midway(browser)                         # the worker has the check: kill it in the middle
        deployment.kill("w1")
        deployment.start("w1")                        # the dead worker's job runs again (its heartbeat stopped)
        checklists = await wait_for_checklists(browser, seconds=180)
        assert len(checklists) == 1, deployment.explain()


async def test_a_reply_from_an_instance_without_telegram_reaches_the_patient_after_three_failed_sends(
        cluster, tmp_path):
    """The instances run no Telegram channel; a worker with the bot's token delivers from the outbox,
    retrying with backoff: three failed sends, delivered on the fourth and shown as sent."""
    async with running_double() as api:
        api.fail_next("sendMessage", times=3, error_code=502, description="Bad Gateway")
        deployment = cluster(serve=1, workers=1, worker_env={
            "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_BASE_URL": api.base_url,
            "TELEGRAM_BASE_FILE_URL": api.base_file_url})
        settings = Settings(data_dir=deployment.data_dir, database_url=deployment.env["DATABASE_URL"])
        with Repository.from_settings(settings) as repository:
            with repository.step("telegram:4242") as case:      # a handed-off Russian Telegram patient
                case.consent, case.locale, case.state = True, "ru", "finished"
                case.handoff = {"summary": "…"}
            case_id = repository.load("telegram:4242").id
            core = CaseCore(repository, settings, queue_for(repository, settings))
            casework.answer(core, case_id, "li.wei", "Мы записали вас на КТ.")   # what the dashboard does
            [sent] = await api.wait_sent(4242, 1, timeout=120)
            assert "Мы записали вас на КТ." in sent["text"], deployment.explain()
            assert api.attempts("sendMessage") == 4
            await api.wait_for(lambda: [m.state for m in core.outbox.for_case(case_id)] == ["sent"], timeout=30)


async def test_a_killed_instance_is_taken_out_and_the_patient_goes_on_on_the_other(cluster):
    deployment = cluster(serve=2)
    async with Browser(deployment.url) as browser:
        patient = WebPatient(browser.session)
        await patient.start()
        for label in QUESTIONS[:4]:
            await patient.tap(label)
        deployment.kill("s1")
        before = len(browser.served_by)
        for label in QUESTIONS[4:]:            # the next requests: retried on s2 while HAProxy still thinks s1 is up
            await patient.tap(label)
        assert "Send your scans" in patient.texts[-1]
        assert set(browser.served_by[before:]) == {"s2"}
    deployment.wait_state("s1", "DOWN")
    assert {deployment.get("/healthz")[:2] for _ in range(4)} == {(200, "s2")}
    deployment.start("s1")
    assert {deployment.get("/healthz")[1] for _ in range(4)} == {"s1", "s2"}


def test_a_drained_instance_gets_no_new_requests_and_then_stops_cleanly(cluster):
    deployment = cluster(serve=2)
    deployment.drain("s1")
    assert deployment.state("s1") == "DRAIN"
    assert {deployment.get("/healthz")[:2] for _ in range(6)} == {(200, "s2")}
    assert deployment.stop("s1") == 0          # SIGTERM: the server exits cleanly
    deployment.wait_state("s1", "DOWN")     # DOWN wins over DRAIN once the checks fail
    assert {deployment.get("/healthz")[:2] for _ in range(4)} == {(200, "s2")}
    deployment.start("s1")                  # back on its port; still drained until made ready
    deployment.ready("s1")
    wait_for("s1 back in rotation", lambda: deployment.state("s1") == "UP")
    assert {deployment.get("/healthz")[1] for _ in range(4)} == {"s1", "s2"}


def test_an_instance_added_through_the_runtime_api_takes_requests(cluster):
    deployment = cluster(serve=2)
    assert deployment.add_instance() == "s3"
    assert {deployment.get("/healthz")[1] for _ in range(6)} == {"s1", "s2", "s3"}


def test_sigterm_on_an_instance_in_rotation_loses_no_request(cluster):
    deployment = cluster(serve=2)
    deployment.process("s1").signal(signal.SIGTERM)    # without draining first: its port closes, HAProxy retries
    deployment.process("s1").wait_exit(30)
    assert {deployment.get("/healthz")[:2] for _ in range(6)} == {(200, "s2")}


def test_workers_run_beside_the_instances(cluster):
    deployment = cluster(serve=1, workers=2)      # skips, saying why, until `scanpass worker` exists
    assert all(worker.running() for worker in deployment.workers.values()), deployment.explain()
    deployment.kill("w1")
    deployment.start("w1")
    assert deployment.process("w1").running()
