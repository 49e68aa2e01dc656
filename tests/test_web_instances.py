"""Several `scanpass serve` instances on one database and one DATA_DIR: one writer per upload across
instances, resuming through another instance after a writer died or was cut, case quotas, slow clients,
the shared SECRET_KEY, /healthz without its database. Each test runs on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import contextlib
import io
import json
import secrets
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer

from bot.serve import runner_options
from bot.web.keys import WEB
from bot.web.visitors import COOKIE, SECRET_FILE
from dialogs.events import Button, Command
from storage import ConfigurationError, Repository, Settings
from storage.incoming import IncomingUploads
from storage.models import IncomingRow, utcnow
from tests.webpatient import TUS, WebPatient, web_app

KB = 1024
KEY = "k" * 40
FILES_STEP = (Button("consent:agree"), Button("direction:inbound"), Button("condition:other"),
              Button("area:other"), Button("visit:today"), Button("visit_confirm:yes"), Button("symptoms:no"),
              Button("infection:no"))


@pytest.fixture
def base_settings(tmp_path, database_url):
    return Settings(data_dir=tmp_path / "data", database_url=database_url, max_upload_mb=2, secret_key=KEY,
                    public_url="http://scans.example.org/", http_read_timeout=1)


@pytest.fixture
def instances(aiohttp_client, base_settings):
    """`start(settings)` starts one more instance (its own Repository: another process) and returns its client."""
    opened = []

    async def start(settings: Settings = base_settings):
        repository = Repository.from_settings(settings).open()
        opened.append(repository)
        server = TestServer(web_app(settings, repository))
        await server.start_server(**runner_options(settings))   # as `scanpass serve` runs it (TestServer's
        return await aiohttp_client(server)                      # own server_kwargs never reach the runner)

    yield start
    for repository in opened:
        repository.close()


def visitor_cookie(client) -> str:
    return client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value


def same_visitor(client, other) -> None:
    other.session.cookie_jar.update_cookies({COOKIE: visitor_cookie(client)})


async def at_files_step(client, language: str = "en") -> WebPatient:
    """A visitor whose case is at the files step, in `language` (set up through the conversation itself)."""
    patient = WebPatient(client, language)
    page = await client.get("/")
    assert page.status == 200
    chat = "web:" + visitor_cookie(client).partition(".")[0]
    conversation = client.server.app[WEB].channel.core
    for event in (Command("start"), Button(f"language:{language}"), *FILES_STEP):
        await asyncio.to_thread(conversation.step, chat, event)
    patient.chat = chat
    return patient


async def until(condition, what: str, tries: int = 400):
    """Wait for an event (bounded), never for an amount of time."""
    for _ in range(tries):
        value = await condition()
        if value:
            return value
        await asyncio.sleep(0.025)
    raise AssertionError(f"never happened: {what}")


def stored(client, patient) -> list[bytes]:
    case = client.server.app[WEB].channel.core.repository.load(patient.chat)
    return [open(upload.path, "rb").read() for upload in case.uploads]


# ---- one writer across instances ---------------------------------------------------------------------
async def test_two_instances_patching_one_upload_at_once_exactly_one_wins_and_the_file_is_intact(instances):
    one, two = await instances(), await instances()
    patient = await at_files_step(one)
    same_visitor(one, two)
    length = 256 * KB
    bodies = {"one": b"1" * length, "two": b"2" * length}
    location = (await patient.create_upload(length, "scan.dcm")).headers["Location"]
    gate = asyncio.Event()

    def slow(body: bytes):
        async def chunks():
            yield body[:KB]
            await gate.wait()
            yield body[KB:]
        return chunks()

    tasks = {name: asyncio.create_task(WebPatient(client).patch(location, 0, slow(bodies[name])))
             for name, client in (("one", one), ("two", two))}
    done, _ = await asyncio.wait(tasks.values(), return_when=asyncio.FIRST_COMPLETED)
    loser = next(name for name, task in tasks.items() if task in done)
    refused = tasks[loser].result()
    assert refused.status == 409 and (await refused.json())["error"] == "busy"
    gate.set()
    winner = "two" if loser == "one" else "one"
    accepted = await tasks[winner]
    assert accepted.status == 204 and int(accepted.headers["Upload-Offset"]) == length
    assert stored(one, patient) == [bodies[winner]]          # byte for byte one body, never a mix


def test_of_two_simultaneous_lease_takers_exactly_one_wins(base_settings, tmp_path):
    repositories = [Repository.from_settings(base_settings).open() for _ in range(2)]
    try:
        with repositories[0].step("web:" + "a" * 32) as case:
            case.consent = True
        store = IncomingUploads(repositories[0])
        store.create("f" * 32, "web:" + "a" * 32, "chat", "a.dcm", 10)
        for _round in range(5):
            import threading
            barrier, results = threading.Barrier(2), {}

            def take(index: int):
                barrier.wait()
                results[index] = IncomingUploads(repositories[index]).take("f" * 32, f"writer{index}")

            threads = [threading.Thread(target=take, args=(i,)) for i in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            winners = [index for index, taken in results.items() if taken is not None]
            assert len(winners) == 1
            assert store.release("f" * 32, f"writer{winners[0]}", 0)
    finally:
        for repository in repositories:
            repository.close()


async def test_a_writer_that_died_midway_is_resumed_through_the_other_instance(instances, base_settings):
    one, two = await instances(), await instances()
    patient = await at_files_step(one)
    same_visitor(one, two)
    data = bytes(range(256)) * (3 * KB)                # 768 KB
    location = (await patient.create_upload(len(data), "scan.zip")).headers["Location"]
    upload_id = location.rsplit("/", 1)[1]
    assert (await patient.patch(location, 0, data[:300 * KB])).status == 204
    # The process writing the next part died: its lease is left behind, and a torn tail past the committed offset.
    repository = one.server.app[WEB].uploads.repository
    with repository._transaction(write=True) as session:
        session.execute(sa.update(IncomingRow).where(IncomingRow.id == upload_id)
                        .values(writer="dead", lease_until=utcnow() + timedelta(seconds=30)))
    with repository.incoming_part(upload_id).open("ab") as part:
        part.write(b"\xff" * 5000)
    other = WebPatient(two)
    busy = await other.patch(location, 300 * KB, data[300 * KB:])
    assert busy.status == 409 and (await busy.json())["error"] == "busy"
    with repository._transaction(write=True) as session:     # its lease runs out
        session.execute(sa.update(IncomingRow).where(IncomingRow.id == upload_id)
                        .values(lease_until=utcnow() - timedelta(seconds=1)))
    head = await two.head(location, headers=TUS)
    assert head.status == 200 and int(head.headers["Upload-Offset"]) == 300 * KB
    rest = await other.patch(location, 300 * KB, data[300 * KB:])
    assert rest.status == 204 and int(rest.headers["Upload-Offset"]) == len(data)
    assert stored(one, patient) == [data]                    # the torn tail was cut, not kept
    assert not list((base_settings.data_dir / "incoming").glob("*.part"))


async def test_a_cut_upload_resumes_through_the_other_instance(instances):
    one, two = await instances(), await instances()
    patient = await at_files_step(one)
    same_visitor(one, two)
    data = bytes(range(256)) * (4 * KB)                # 1 MB
    location = (await patient.create_upload(len(data), "scan.zip")).headers["Location"]

    async def cut_after_half():
        yield data[:512 * KB]
        await asyncio.sleep(0.2)
        raise ConnectionResetError("the patient's Wi-Fi dropped")

    with pytest.raises(Exception):
        await patient.patch(location, 0, cut_after_half())

    async def resumed():      # as chat.js does: HEAD for the offset, PATCH from there; 409 means not yet
        head = await two.head(location, headers=TUS)
        offset = int(head.headers["Upload-Offset"])
        response = await WebPatient(two).patch(location, offset, data[offset:])
        return response if response.status != 409 else None

    response = await until(resumed, "the other instance took the upload over")
    assert response.status == 204 and int(response.headers["Upload-Offset"]) == len(data)
    assert stored(two, patient) == [data]


# ---- quotas -----------------------------------------------------------------------------------------
WORDS = {"en": {"files": "already holds 2 files, the most one case can take",
                "bytes": "past 1 MB, the most one case can take"},
         "ru": {"files": "В вашем деле уже 2 файла", "bytes": "превысило бы 1 МБ"}}


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_case_quota_at_and_over_its_limits_at_creation(instances, base_settings, language):
    client = await instances(replace(base_settings, max_case_mb=1, max_case_files=2))
    patient = await at_files_step(client, language)
    at_limit = await patient.create_upload(1024 * KB - 10, "big.dcm")      # the MB, to the byte, with the next
    assert at_limit.status == 201
    over = await patient.create_upload(11, "one-byte-too-many.dcm")
    assert over.status == 413
    body = await over.json()
    assert body["error"] == "case_full" and WORDS[language]["bytes"] in body["message"]
    second = await patient.create_upload(10, "small.dcm")
    assert second.status == 201                                             # 2 files in flight: at the limit
    third = await patient.create_upload(1, "third.dcm")
    assert third.status == 413 and WORDS[language]["files"] in (await third.json())["message"]


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_case_quota_while_receiving_counts_files_another_channel_stored(instances, base_settings, language):
    client = await instances(replace(base_settings, max_case_mb=1, max_case_files=2))
    patient = await at_files_step(client, language)
    location = (await patient.create_upload(600 * KB, "web.dcm")).headers["Location"]
    conversation = client.server.app[WEB].channel.core
    # Meanwhile a file arrives through another channel (Telegram, the terminal): Conversation.receive.
    await asyncio.to_thread(conversation.receive, patient.chat, io.BytesIO(b"t" * (500 * KB)), "telegram.dcm")
    refused = await patient.patch(location, 0, b"w" * (600 * KB))
    assert refused.status == 413
    assert WORDS[language]["bytes"] in (await refused.json())["message"]
    assert len(stored(client, patient)) == 1                                # the Telegram file only
    assert (await client.head(location, headers=TUS)).status == 404         # the refused upload is gone
    # The other channels hear the same words when their file does not fit.
    locale, replies = await asyncio.to_thread(conversation.receive, patient.chat, io.BytesIO(b"x" * (600 * KB)), "b.dcm")
    assert replies[0].message == "case_full" and replies[0].params == {"what": "bytes", "limit": 1}


# ---- slow clients -----------------------------------------------------------------------------------
async def test_headers_sent_too_slowly_are_cut(instances):
    client = await instances()
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    closed = False
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        for _ in range(400):                          # one byte at a time, never the blank line ending headers
            try:
                writer.write(b"a")
                await writer.drain()
            except ConnectionError:
                closed = True
                break
            await asyncio.sleep(0.025)
            if reader.at_eof() or writer.transport.is_closing():
                closed = True
                break
        if not closed:
            with contextlib.suppress(ConnectionError):
                closed = await asyncio.wait_for(reader.read(), 5) == b""
    finally:
        writer.close()
    assert closed, "a request whose headers never end keeps its connection"


async def test_a_body_that_stalls_is_cut_and_the_upload_resumes(instances):
    client = await instances()
    patient = await at_files_step(client)
    data = bytes(range(256)) * 40
    location = (await patient.create_upload(len(data), "scan.dcm")).headers["Location"]
    never = asyncio.Event()

    async def stalls():
        yield data[:4000]
        await never.wait()

    stalled = asyncio.create_task(patient.patch(location, 0, stalls()))

    async def committed():
        head = await client.head(location, headers=TUS)
        return int(head.headers["Upload-Offset"]) == 4000 and (await _lease_free(client, location))

    await until(committed, "the stalled PATCH was cut with what arrived")
    never.set()
    with contextlib.suppress(Exception):
        await stalled
    rest = await patient.patch(location, 4000, data[4000:])
    assert rest.status == 204
    assert stored(client, patient) == [data]


async def _lease_free(client, location) -> bool:
    incoming = await client.server.app[WEB].uploads.get(location.rsplit("/", 1)[1])
    return incoming.writer is None


async def test_a_json_body_over_the_limit_or_nested_too_deep_gets_a_clear_answer(instances):
    client = await instances()
    await client.get("/", headers={"Accept-Language": "fr"})
    large = await client.post("/api/chat", data=json.dumps({"text": "a" * (2 * 1024 * KB)}),
                              headers={"Content-Type": "application/json", "Accept-Language": "fr"})
    assert large.status == 413
    body = await large.json()
    assert body["error"] == "request_too_large" and "1 Mo" in body["message"] and "2" not in body["message"]
    deep = await client.post("/api/chat", data="[" * 200_000 + "]" * 200_000,
                             headers={"Content-Type": "application/json", "Accept-Language": "fr"})
    assert deep.status == 400 and (await deep.json())["error"] == "unreadable_request"


# ---- the visitor cookie's secret ----------------------------------------------------------------------
async def test_secret_key_signs_the_same_cookie_on_every_instance(instances, base_settings, tmp_path):
    one = await instances(replace(base_settings, data_dir=tmp_path / "one"))
    two = await instances(replace(base_settings, data_dir=tmp_path / "two"))
    patient = await at_files_step(one)
    same_visitor(one, two)
    back = await WebPatient(two).post({"command": "start"})
    assert "Welcome back" in back["messages"][0]["text"]
    assert not (tmp_path / "one" / SECRET_FILE).exists() and not (tmp_path / "two" / SECRET_FILE).exists()
    assert patient.chat


async def test_a_short_secret_key_is_refused_at_start(base_settings):
    repository = Repository.from_settings(base_settings).open()
    try:
        with pytest.raises(ConfigurationError, match="SECRET_KEY"):
            web_app(replace(base_settings, secret_key="short"), repository)
    finally:
        repository.close()


# ---- health -------------------------------------------------------------------------------------------
async def test_healthz_is_503_naming_the_database_when_it_is_gone(aiohttp_client, postgres_server, tmp_path):
    """PostgreSQL reached through a relay the test then takes down: the database is gone."""
    async def relay(reader, writer):
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", postgres_server.url.port or 5432)
        links.extend([writer, upstream_writer])

        async def pipe(source, sink):
            with contextlib.suppress(Exception):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    links: list = []
    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    schema = f"scanpass_test_{secrets.token_hex(8)}"       # its own schema: the test database stays clean
    with postgres_server.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = postgres_server.url.set(host="127.0.0.1", port=port).update_query_dict(
        {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    settings = Settings(data_dir=tmp_path / "data", database_url=url, secret_key=KEY)
    repository = Repository.from_settings(settings)
    await asyncio.to_thread(repository.open)
    try:
        client = await aiohttp_client(web_app(settings, repository))
        healthy = await client.get("/healthz")
        assert healthy.status == 200 and (await healthy.json()) == {"ok": True}
        server.close()
        for link in links:
            link.close()
        await server.wait_closed()
        sick = await client.get("/healthz")
        assert sick.status == 503 and (await sick.json()) == {"ok": False, "database": "unreachable"}
    finally:
        await asyncio.to_thread(repository.close)
        with postgres_server.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
