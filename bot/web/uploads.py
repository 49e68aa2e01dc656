"""Resumable uploads over the tus 1.0.0 core protocol (with its creation extension), streamed to disk.

    POST  <create>          Upload-Length, Upload-Metadata (filename, relativePath) -> 201, Location
    HEAD  /api/uploads/ID   -> Upload-Offset, Upload-Length: where to resume after a dropped connection
    PATCH /api/uploads/ID   Upload-Offset (must be the server's, else 409), body appended as it arrives
    GET   /api/uploads/ID   the channel's answer once the upload is complete (JSON)

Bytes go straight to DATA_DIR/incoming/ID.part, never held whole in memory; MAX_UPLOAD_MB is checked
when the upload is created and again on every chunk (a body longer than declared is refused and the
partial file deleted). When the last byte arrives the channel's `complete` callback gets the file
(the chat hands it to `Conversation.receive`); the partial file is deleted after it, whatever it said.
Unfinished uploads are forgotten after `KEEP_PARTIAL`.

Who may touch an upload: the owner recorded at creation (`Owner`); the id is 128 random bits.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from aiohttp import web

from bot.web.problems import Problem

TUS_VERSION = "1.0.0"
OFFSET_TYPE = "application/offset+octet-stream"
KEEP_PARTIAL = 24 * 60 * 60     # seconds an unfinished upload may wait to be resumed
CLEAN_EVERY = 60 * 60           # seconds between sweeps of forgotten partial uploads
MB = 1024 * 1024


@dataclass
class Incoming:
    """An upload on its way in: who owns it, what it is called, how long it will be."""

    id: str
    owner: str          # the chat it belongs to ("web:…", "telegram:…")
    via: str            # "chat" (the visitor's cookie) or "link:<token hash>" (a one-time upload page)
    name: str           # the patient's name for it (display only)
    length: int
    created: float
    answer: dict | None = None   # the channel's answer, once complete


Complete = Callable[[Incoming, Path], Awaitable[dict]]


class Uploads:
    """The uploads of one server: creation, resumption, streaming, and handing complete files on."""

    def __init__(self, data_dir: Path, max_bytes: int, complete: Complete):
        self.folder = Path(data_dir) / "incoming"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes, self.complete = max_bytes, complete
        self.busy: set[str] = set()      # uploads a PATCH is writing right now

    # ---- files ---------------------------------------------------------------------------------
    def _part(self, upload_id: str) -> Path:
        return self.folder / f"{upload_id}.part"

    def _info(self, upload_id: str) -> Path:
        return self.folder / f"{upload_id}.json"

    def _save(self, incoming: Incoming) -> None:
        partial = self._info(incoming.id).with_suffix(".tmp")
        partial.write_text(json.dumps(asdict(incoming)), encoding="utf-8")
        partial.replace(self._info(incoming.id))

    def get(self, upload_id: str) -> Incoming | None:
        if len(upload_id) != 32 or not all(c in "0123456789abcdef" for c in upload_id):
            return None
        try:
            return Incoming(**json.loads(self._info(upload_id).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def offset(self, incoming: Incoming) -> int:
        try:
            return self._part(incoming.id).stat().st_size
        except FileNotFoundError:
            return incoming.length if incoming.answer is not None else 0

    def forget(self, upload_id: str) -> None:
        self._part(upload_id).unlink(missing_ok=True)
        self._info(upload_id).unlink(missing_ok=True)

    def sweep(self, now: float | None = None) -> int:
        """Delete uploads (partial or answered) older than KEEP_PARTIAL; returns how many."""
        now = now or time.time()
        swept = 0
        for info in self.folder.glob("*.json"):
            try:
                if info.stat().st_mtime < now - KEEP_PARTIAL and info.stem not in self.busy:
                    self.forget(info.stem)
                    swept += 1
            except FileNotFoundError:
                continue
        return swept

    # ---- the protocol --------------------------------------------------------------------------
    def create(self, request: web.Request, owner: str, via: str) -> Incoming:
        _require_tus(request)
        if "Upload-Defer-Length" in request.headers:
            raise Problem(400, "length_required")
        try:
            length = int(request.headers["Upload-Length"])
        except (KeyError, ValueError):
            raise Problem(400, "length_required") from None
        if length < 0:
            raise Problem(400, "length_required")
        if length > self.max_bytes:
            raise Problem(413, "too_large", limit=self.max_bytes // MB)
        metadata = _metadata(request.headers.get("Upload-Metadata", ""))
        name = (metadata.get("relativePath") or metadata.get("filename") or "upload").strip("/") or "upload"
        incoming = Incoming(secrets.token_hex(16), owner, via, name[:255], length, time.time())
        self._part(incoming.id).touch()
        self._save(incoming)
        return incoming

    def created(self, incoming: Incoming, base: str) -> web.Response:
        response = web.Response(status=201, headers={"Location": f"{base}/{incoming.id}"})
        tus_headers(response, incoming, 0)
        return response

    async def receive(self, request: web.Request, incoming: Incoming) -> int:
        """Append the PATCH body at the client's offset; returns the new offset. Hands the file on when complete."""
        _require_tus(request)
        if request.content_type != OFFSET_TYPE:
            raise Problem(415, "wrong_content_type")
        try:
            claimed = int(request.headers["Upload-Offset"])
        except (KeyError, ValueError):
            raise Problem(400, "offset_required") from None
        if incoming.id in self.busy:
            raise Problem(409, "busy")
        current = self.offset(incoming)
        if incoming.answer is not None or claimed != current:
            raise Problem(409, "wrong_offset", offset=current)
        self.busy.add(incoming.id)
        try:
            written = await self._append(request, incoming, current)
            if written < incoming.length:
                return written
            incoming.answer = await self.complete(incoming, self._part(incoming.id))
            self._part(incoming.id).unlink(missing_ok=True)
            self._save(incoming)
            return written
        finally:
            self.busy.discard(incoming.id)

    async def _append(self, request: web.Request, incoming: Incoming, offset: int) -> int:
        part = self._part(incoming.id)
        with part.open("r+b") as out:
            out.seek(offset)
            try:
                async for chunk in request.content.iter_any():
                    offset += len(chunk)
                    if offset > incoming.length:
                        break
                    out.write(chunk)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass                      # what arrived stays: HEAD tells the client where to resume
        if offset > incoming.length:      # a body longer than declared: nothing of it is kept
            self.forget(incoming.id)
            raise Problem(413, "too_large", limit=self.max_bytes // MB)
        return part.stat().st_size


def _require_tus(request: web.Request) -> None:
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        raise Problem(412, "tus_version")


def _metadata(header: str) -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64value` pairs."""
    values = {}
    for pair in header.split(","):
        key, _, encoded = pair.strip().partition(" ")
        if not key:
            continue
        try:
            values[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Problem(400, "bad_metadata") from None
    return values


def tus_headers(response: web.StreamResponse, incoming: Incoming | None = None, offset: int | None = None) -> None:
    response.headers["Tus-Resumable"] = TUS_VERSION
    response.headers["Cache-Control"] = "no-store"
    if incoming is not None:
        response.headers["Upload-Length"] = str(incoming.length)
    if offset is not None:
        response.headers["Upload-Offset"] = str(offset)


Authorize = Callable[[web.Request, Incoming], Awaitable[bool]]


def add_upload_routes(app: web.Application, uploads: Uploads, authorize: Authorize) -> None:
    """HEAD, PATCH and GET of /api/uploads/ID (creation is the channel's: it decides the owner)."""

    async def found(request: web.Request) -> Incoming:
        incoming = uploads.get(request.match_info["upload"])
        if incoming is None or not await authorize(request, incoming):
            raise Problem(404, "not_found")
        return incoming

    async def head(request: web.Request) -> web.Response:
        incoming = await found(request)
        response = web.Response(status=200)
        tus_headers(response, incoming, uploads.offset(incoming))
        return response

    async def patch(request: web.Request) -> web.Response:
        incoming = await found(request)
        offset = await uploads.receive(request, incoming)
        response = web.Response(status=204)
        tus_headers(response, incoming, offset)
        return response

    async def answer(request: web.Request) -> web.Response:
        incoming = await found(request)
        response = web.json_response({"offset": uploads.offset(incoming), "length": incoming.length,
                                      "complete": incoming.answer is not None, **(incoming.answer or {})})
        tus_headers(response)
        return response

    async def options(_request: web.Request) -> web.Response:
        response = web.Response(status=204, headers={"Tus-Version": TUS_VERSION, "Tus-Extension": "creation",
                                                     "Tus-Max-Size": str(uploads.max_bytes)})
        tus_headers(response)
        return response

    app.router.add_route("OPTIONS", "/api/uploads", options)
    app.router.add_route("HEAD", "/api/uploads/{upload:[0-9a-f]{32}}", head)
    app.router.add_route("PATCH", "/api/uploads/{upload:[0-9a-f]{32}}", patch)
    app.router.add_get("/api/uploads/{upload:[0-9a-f]{32}}", answer, allow_head=False)
