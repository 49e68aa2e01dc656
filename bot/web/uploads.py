"""Resumable uploads over the tus 1.0.0 core protocol (with its creation extension), streamed to disk.

    POST  <create>          Upload-Length, Upload-Metadata (filename, relativePath) -> 201, Location
    HEAD  /api/uploads/ID   -> Upload-Offset, Upload-Length: where to resume after a dropped connection
    PATCH /api/uploads/ID   Upload-Offset (must be the server's, else 409), body appended as it arrives
    GET   /api/uploads/ID   the channel's answer once the upload is complete (JSON)

Any instance answers any of these: the record of an upload lives in the database (`storage.incoming`),
its bytes in DATA_DIR/incoming/ID.part on the shared disk, never whole in memory. One PATCH writes at a
time, whichever instance it reaches: it holds a lease (renewed while streaming, committing the offset)
and another PATCH meanwhile gets 409 busy. A writer that dies leaves its lease to run out; the next one
cuts the partial file back to the committed offset, which is what HEAD reports.

Limits: MAX_UPLOAD_MB per file and MAX_CASE_MB / MAX_CASE_FILES per case (its stored files and the
uploads on their way in) at creation and again when a PATCH begins (a body longer than declared is
refused and the partial file deleted); a body that stalls HTTP_READ_TIMEOUT seconds is cut, and the
upload resumes from what arrived. When the last byte arrives the channel's `complete` callback gets the
file (the chat hands it to `Conversation.receive`); the partial file is deleted after it, whatever it
said. Unfinished uploads are forgotten after `KEEP_PARTIAL`.

Who may touch an upload: the owner recorded at creation (`authorize`); the id is 128 random bits.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from bot.web.problems import Problem
from storage import CaseFull, Repository
from storage.incoming import LEASE, Incoming, IncomingUploads

TUS_VERSION = "1.0.0"
OFFSET_TYPE = "application/offset+octet-stream"
KEEP_PARTIAL = timedelta(hours=24)   # how long an unfinished upload may wait to be resumed
CLEAN_EVERY = 60 * 60                # seconds between sweeps of forgotten partial uploads
RENEW_EVERY = LEASE.total_seconds() / 6   # seconds between lease renewals (and offset commits) while streaming
MB = 1024 * 1024

Complete = Callable[[Incoming, Path], Awaitable[dict]]


class Uploads:
    """Creation, resumption, streaming, and handing complete files on; the same on every instance."""

    def __init__(self, repository: Repository, max_bytes: int, complete: Complete, stall_seconds: float = 75):
        self.repository, self.store = repository, IncomingUploads(repository)
        self.folder = repository.data_dir / "incoming"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes, self.complete, self.stall_seconds = max_bytes, complete, stall_seconds

    def _part(self, upload_id: str) -> Path:
        return self.repository.incoming_part(upload_id)

    async def get(self, upload_id: str) -> Incoming | None:
        if len(upload_id) != 32 or not all(c in "0123456789abcdef" for c in upload_id):
            return None
        return await asyncio.to_thread(self.store.get, upload_id)

    def forget(self, upload_id: str) -> None:
        self.store.forget(upload_id)
        self._part(upload_id).unlink(missing_ok=True)

    def sweep(self) -> int:
        """Delete uploads (partial or answered) older than KEEP_PARTIAL that nobody is writing; returns how many.
        Partial files no record knows (left by a crash between the two) go too, once as old."""
        swept = 0
        for upload_id in self.store.forgotten(KEEP_PARTIAL):
            self.forget(upload_id)
            swept += 1
        cutoff = time.time() - KEEP_PARTIAL.total_seconds()
        for part in self.folder.glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                if part.stat().st_mtime < cutoff and self.store.get(part.stem) is None:
                    part.unlink(missing_ok=True)
        return swept

    # ---- the protocol --------------------------------------------------------------------------
    async def create(self, request: web.Request, owner: str, via: str) -> Incoming:
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
        upload_id = secrets.token_hex(16)
        self._part(upload_id).touch()
        try:
            return await asyncio.to_thread(self.store.create, upload_id, owner, via, name, length)
        except CaseFull as full:
            self._part(upload_id).unlink(missing_ok=True)
            raise Problem(413, "case_full", **full.params) from None
        except BaseException:
            self._part(upload_id).unlink(missing_ok=True)
            raise

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
        writer = secrets.token_hex(16)
        try:
            taken = await asyncio.to_thread(self.store.take, incoming.id, writer)
        except CaseFull as full:      # the case filled up (another channel, another upload) since creation
            await asyncio.to_thread(self.forget, incoming.id)
            raise Problem(413, "case_full", **full.params) from None
        if taken is None:
            raise Problem(409, "busy")
        lease = Lease(self.store, incoming.id, writer, taken.offset)
        try:
            if taken.answer is not None or claimed != taken.offset:
                raise Problem(409, "wrong_offset", offset=taken.offset)
            async with lease.kept():
                written = await self._append(request, taken, lease)
                if written < taken.length:
                    return written
                answer = await self.complete(taken, self._part(taken.id))
            self._part(taken.id).unlink(missing_ok=True)
            await asyncio.to_thread(self.store.release, taken.id, writer, written, answer)
            lease.released = True
            return written
        finally:
            if not lease.released:
                await asyncio.to_thread(self.store.release, incoming.id, writer, lease.offset)

    async def _append(self, request: web.Request, incoming: Incoming, lease: Lease) -> int:
        """Stream the body into the partial file from the committed offset; returns the offset reached."""
        offset = lease.offset
        too_long = False
        with self._part(incoming.id).open("r+b", buffering=0) as out:
            out.truncate(offset)          # a dead writer's tail past the committed offset is not kept
            out.seek(offset)
            lease.file = out.fileno()
            try:
                while True:
                    async with asyncio.timeout(self.stall_seconds):
                        chunk = await request.content.readany()
                    if not chunk:
                        break
                    if offset + len(chunk) > incoming.length:
                        too_long = True
                        break
                    if not await lease.still_mine():
                        raise Problem(409, "busy")
                    out.write(chunk)
                    offset = lease.offset = offset + len(chunk)
            except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
                pass                      # cut or stalled: what arrived stays, HEAD tells where to resume
            finally:
                lease.file = None
                await asyncio.to_thread(os.fsync, out.fileno())
        if too_long:                      # a body longer than declared: nothing of it is kept
            lease.released = True
            await asyncio.to_thread(self.forget, incoming.id)
            raise Problem(413, "too_large", limit=self.max_bytes // MB)
        return offset


class Lease:
    """One PATCH's claim on an upload: renewed in the background while it streams (committing the offset
    written so far), and checked before each write so a writer that lost it never writes again."""

    def __init__(self, store: IncomingUploads, upload_id: str, writer: str, offset: int):
        self.store, self.upload_id, self.writer, self.offset = store, upload_id, writer, offset
        self.file: int | None = None
        self.released = False
        self.lost = False
        self.confirmed = asyncio.get_running_loop().time()

    async def _renew(self) -> bool:
        offset, file = self.offset, self.file
        if file is not None:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(os.fsync, file)   # what is committed is on the shared disk
        if await asyncio.to_thread(self.store.renew, self.upload_id, self.writer, offset):
            self.confirmed = asyncio.get_running_loop().time()
            return True
        self.lost = True
        return False

    async def still_mine(self) -> bool:
        """True while the lease was confirmed recently enough that no one else can have taken it."""
        if self.lost:
            return False
        if asyncio.get_running_loop().time() - self.confirmed < RENEW_EVERY * 2:
            return True
        return await self._renew()

    @contextlib.asynccontextmanager
    async def kept(self):
        async def renewing():
            while not self.lost:
                await asyncio.sleep(RENEW_EVERY)
                await self._renew()

        task = asyncio.create_task(renewing())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


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
        incoming = await uploads.get(request.match_info["upload"])
        if incoming is None or not await authorize(request, incoming):
            raise Problem(404, "not_found")
        return incoming

    async def head(request: web.Request) -> web.Response:
        incoming = await found(request)
        response = web.Response(status=200)
        tus_headers(response, incoming, incoming.offset)
        return response

    async def patch(request: web.Request) -> web.Response:
        incoming = await found(request)
        offset = await uploads.receive(request, incoming)
        response = web.Response(status=204)
        tus_headers(response, incoming, offset)
        return response

    async def answer(request: web.Request) -> web.Response:
        incoming = await found(request)
        response = web.json_response({"offset": incoming.offset, "length": incoming.length,
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
