"""A case's original files as one zip, under the names the patient gave them, streamed to the browser
while it is written: a worker thread runs `zipfile` into a writer that hands each full buffer to the
response on the event loop and waits for it to be sent (memory stays at one buffer whatever the size).
"""
from __future__ import annotations

import asyncio
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from aiohttp import web

from dialogs.case import Upload

BUFFER = 256 * 1024


def archive_names(uploads: Iterable[Upload]) -> list[tuple[Path, str]]:
    """(file on disk, name in the zip) for each upload still on disk. Names keep the patient's folders but
    never climb out of the archive; a repeated name gets " (2)", " (3)"... before its extension."""
    entries, taken = [], set()
    for number, upload in enumerate(uploads, 1):
        path = Path(upload.path)
        if not path.is_file():
            continue
        parts = [part for part in upload.name.replace("\\", "/").split("/") if part not in ("", ".", "..")]
        name = "/".join(parts) or f"file-{number}"
        candidate, copy = name, 1
        while candidate.casefold() in taken:
            copy += 1
            pure = PurePosixPath(name)
            candidate = str(pure.with_name(f"{pure.stem} ({copy}){pure.suffix}"))
        taken.add(candidate.casefold())
        entries.append((path, candidate))
    return entries


class _ResponseWriter:
    """A write-only file for `zipfile` in a worker thread; each full buffer is sent on the loop."""

    def __init__(self, response: web.StreamResponse, loop: asyncio.AbstractEventLoop) -> None:
        self.response, self.loop, self.buffer = response, loop, bytearray()

    def write(self, data) -> int:
        self.buffer += data
        if len(self.buffer) >= BUFFER:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self.buffer:
            chunk, self.buffer = bytes(self.buffer), bytearray()
            asyncio.run_coroutine_threadsafe(self.response.write(chunk), self.loop).result()


def _write_zip(writer: _ResponseWriter, entries: list[tuple[Path, str]]) -> None:
    with zipfile.ZipFile(writer, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for path, name in entries:
            archive.write(path, name)
    writer.flush()


async def send_zip(request: web.Request, uploads: Iterable[Upload], filename: str) -> web.StreamResponse:
    entries = archive_names(uploads)
    response = web.StreamResponse(headers={"Content-Type": "application/zip",
                                           "Content-Disposition": f'attachment; filename="{filename}"',
                                           "Cache-Control": "no-store"})
    await response.prepare(request)
    try:
        await asyncio.to_thread(_write_zip, _ResponseWriter(response, asyncio.get_running_loop()), entries)
    except ConnectionResetError:  # the browser went away; nothing more to send
        return response
    await response.write_eof()
    return response
