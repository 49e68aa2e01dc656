"""`scanpass serve`: the health check answers, the access log names routes only."""
from __future__ import annotations

import asyncio
import json
import logging
import socket
import urllib.request

import pytest

from bot.serve import serve
from storage import Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_answers_healthz_and_stops_cleanly(tmp_path, capsys):
    settings = Settings(data_dir=tmp_path / "data", http_port=free_port())

    async def scenario():
        stop = asyncio.Event()
        server = asyncio.create_task(serve(settings, stop))
        for _ in range(100):
            try:
                body = await asyncio.to_thread(
                    lambda: urllib.request.urlopen(f"http://127.0.0.1:{settings.http_port}/healthz", timeout=2).read())
                break
            except OSError:
                await asyncio.sleep(0.05)
        stop.set()
        await server
        return json.loads(body)

    assert asyncio.run(scenario()) == {"ok": True}
    out = capsys.readouterr().out
    assert "Telegram channel: off (set TELEGRAM_BOT_TOKEN to start it)" in out


def test_the_access_log_names_routes_not_paths_or_queries(tmp_path, caplog):
    settings = Settings(data_dir=tmp_path / "data", http_port=free_port())

    async def scenario():
        stop = asyncio.Event()
        server = asyncio.create_task(serve(settings, stop))
        base = f"http://127.0.0.1:{settings.http_port}"
        for _ in range(100):
            try:
                await asyncio.to_thread(lambda: urllib.request.urlopen(f"{base}/healthz", timeout=2).read())
                break
            except OSError:
                await asyncio.sleep(0.05)
        for path in ("/u/SECRET-TOKEN-123", "/coordinator?q=lung+cancer"):
            try:
                await asyncio.to_thread(lambda: urllib.request.urlopen(base + path, timeout=2).read())
            except OSError:
                pass
        stop.set()
        await server

    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        asyncio.run(scenario())
    lines = [record.getMessage() for record in caplog.records if record.name == "aiohttp.access"]
    assert any(line.startswith("GET /u/{token} ") for line in lines), lines
    assert any(line.startswith("GET /coordinator ") for line in lines), lines
    assert not any("SECRET-TOKEN" in line or "lung" in line or "127.0.0.1" in line for line in lines)
