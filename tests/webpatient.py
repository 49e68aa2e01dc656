"""A web patient for handler tests: the JSON API and tus uploads driven as chat.js drives them."""
from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest

from bot.serve import make_app
from cases import CaseCore
from cases.queue import EmbeddedQueue
from storage.jobs import JobTable
from storage import Repository, Settings

TUS = {"Tus-Resumable": "1.0.0"}


def metadata(name: str) -> str:
    encoded = base64.b64encode(name.encode()).decode()
    return f"filename {encoded},relativePath {encoded}"


@pytest.fixture
def settings(tmp_path, database_url):
    """On SQLite and, where a server answers, PostgreSQL (`tests.conftest.database_url`)."""
    return Settings(data_dir=tmp_path / "data", database_url=database_url, max_upload_mb=2,
                    public_url="http://scans.example.org/")


@pytest.fixture
def repository(settings):
    with Repository.from_settings(settings) as repository:
        yield repository


def web_app(settings, repository, **options):
    """The app with the embedded job queue on either database: it runs its checks and downloads itself.
    (Procrastinate, the queue of PostgreSQL deployments, is tested with real workers in test_cluster.py.)"""
    core = CaseCore(repository, settings, EmbeddedQueue(JobTable(repository)))
    return make_app(settings, repository, core=core, **options)


@pytest.fixture
async def client(aiohttp_client, settings, repository):
    return await aiohttp_client(web_app(settings, repository))


class WebPatient:
    def __init__(self, client, language: str = "en"):
        self.client, self.language = client, language
        self.texts: list[str] = []
        self.buttons: list[tuple[str, str]] = []
        self.html: list[str] = []
        self.locale = None

    def headers(self) -> dict:
        return {"Accept-Language": self.language}

    def take(self, answer: dict) -> list[dict]:
        self.locale = answer.get("locale", self.locale)
        for message in answer.get("messages", []):
            self.texts.append(message["text"])
            if message.get("html"):
                self.html.append(message["html"])
            if message["buttons"]:
                self.buttons = [(b["label"], b["data"]) for row in message["buttons"] for b in row]
        return answer.get("messages", [])

    async def post(self, body: dict) -> dict:
        response = await self.client.post("/api/chat", json=body, headers=self.headers())
        assert response.status == 200, await response.text()
        answer = await response.json()
        self.take(answer)
        return answer

    async def start(self) -> dict:
        page = await self.client.get("/", headers=self.headers())
        assert page.status == 200
        return await self.post({"command": "start"})

    async def tap(self, label: str) -> dict:
        data = next((data for text, data in self.buttons if text == label), None)
        assert data is not None, f"no button {label!r} in {[text for text, _ in self.buttons]}"
        return await self.post({"button": data})

    async def say(self, text: str) -> dict:
        return await self.post({"text": text})

    async def create_upload(self, size: int, name: str, at: str = "/api/uploads"):
        return await self.client.post(at, headers={**TUS, **self.headers(), "Upload-Length": str(size),
                                                   "Upload-Metadata": metadata(name)})

    async def patch(self, location: str, offset: int, body, **headers):
        return await self.client.patch(location, data=body, headers={
            **TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream", **headers})

    async def upload(self, path: Path, name: str | None = None, at: str = "/api/uploads") -> dict:
        """One file, in one PATCH; returns the server's answer (and takes its messages)."""
        data = path.read_bytes()
        created = await self.create_upload(len(data), name or path.name, at)
        assert created.status == 201, await created.text()
        location = created.headers["Location"]
        patched = await self.patch(location, 0, data)
        assert patched.status == 204, await patched.text()
        answer = await (await self.client.get(location)).json()
        self.take(answer)
        return {**answer, "location": location}

    async def wait(self, seconds: float = 60) -> dict:
        """Poll /api/updates until a running check or download has answered."""
        for _ in range(int(seconds / 0.1)):
            response = await self.client.get("/api/updates", params={"replies": "0"})
            news = await response.json()
            if news["messages"] and not news["busy"]:
                self.take(news)
                return news
            await asyncio.sleep(0.1)
        raise AssertionError(f"nothing came back: {json.dumps(news)[:300]}")
