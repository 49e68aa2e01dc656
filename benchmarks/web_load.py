"""How quickly the web chat answers many patients at once, and how fast and lean it takes large uploads.

    .venv/bin/python benchmarks/web_load.py            # 200 chats; 20 uploads of 50 MB, then of 200 MB
    .venv/bin/python benchmarks/web_load.py --quick    # smoke run, about 25 s: 20 chats, 4 uploads of 5 and 20 MB

`scanpass serve` runs as its own process, as an operator starts it (DATA_DIR in a temporary folder,
SQLite, no Telegram); this script drives it over HTTP as chat.js does (tests/webpatient.py), each chat
with its own cookie jar. MB = 2^20 bytes.

1. Chats, all open at once (starting within --ramp s, reading each question --think s on average): page,
   /start, and the buttons of the inbound flow to the files step. Printed: every POST /api/chat's time
   (p50, p95, max). Target (issue 6): p95 < 200 ms. (--think 0: all press at once, which gives the
   server's capacity in steps/s rather than the wait of a patient who reads.)
2. Uploads: that many chats at the files step each upload a file of random bytes at once over tus (POST
   to create, PATCH in chat.js's 8 MB pieces, GET the answer), at SIZE/4 MB, then (other chats, same
   server) at SIZE MB. The last PATCH is answered after Conversation.receive has copied the file into the
   case (with its sha256): that copy is part of the measured time. Printed: MB/s in total, from the first
   POST to the last answer, and the server's peak RSS (it and its children, sampled every 50 ms).
3. Reference: a bare aiohttp app in its own process (SINK below) streams each PUT body to a file in 64 KB
   chunks; it receives the same SIZE MB uploads at once (one PUT per file) between the two runs of 2.
   Target: ScanPass's MB/s >= 0.5 x the sink's.
4. RSS flat in the upload size: peak RSS at SIZE MB / peak RSS at SIZE/4 MB <= 1.25, our "flat".

Exit code 0 when it ran (targets met or MISSED), 1 when the run itself failed (or the disk is too full).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.webpatient import WebPatient  # noqa: E402

FLOW = ("English", "I agree", "Coming to China", "other or not sure", "other", "Today", "Yes", "No", "No")
MB = 1024 * 1024
PIECE = 8 * MB            # chat.js's CHUNK: bytes per PATCH
TARGET_P95 = 0.200        # seconds per step
TARGET_SHARE = 0.5        # of the bare sink's MB/s
FLAT = 1.25               # the largest peak RSS ratio (SIZE vs SIZE/4) still called flat
TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=600)

# The reference, run as `python -c SINK PORT DIR`: a PUT /NAME body streamed to DIR/NAME in 64 KB chunks.
SINK = """
import sys
from pathlib import Path
from aiohttp import web

async def put(request):
    with (Path(sys.argv[2]) / request.match_info["name"]).open("wb") as out:
        while chunk := await request.content.read(64 * 1024):
            out.write(chunk)
    return web.Response(status=204)
app = web.Application()
app.router.add_put("/{name}", put)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


class PeakRss:
    """The largest RSS of a process and its children, sampled every 50 ms in a thread while in the block."""

    def __init__(self, pid: int):
        self.process, self.peak, self.stop = psutil.Process(pid), 0, threading.Event()

    def now(self) -> int:
        try:
            return sum(process.memory_info().rss for process in [self.process, *self.process.children(recursive=True)])
        except psutil.NoSuchProcess:   # a child ended meanwhile: the next sample counts again
            return 0

    def sample(self) -> None:
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, self.now())

    def __enter__(self) -> PeakRss:
        self.peak, self.thread = self.now(), threading.Thread(target=self.sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, self.now())


class Patient(WebPatient):
    """A web chat in its own session (own cookie jar) whose POST /api/chat requests are timed."""

    def __init__(self, base_url: str, times: list[float]):
        super().__init__(aiohttp.ClientSession(base_url=base_url, cookie_jar=aiohttp.CookieJar(unsafe=True),
                                               timeout=TIMEOUT))
        self.times = times

    async def post(self, body: dict) -> dict:
        began = time.perf_counter()
        answer = await super().post(body)
        self.times.append(time.perf_counter() - began)
        return answer

    async def to_files_step(self, think: float = 0, start_after: float = 0) -> None:
        await asyncio.sleep(start_after)
        await self.start()
        for label in FLOW:
            await asyncio.sleep(random.uniform(0.5, 1.5) * think)   # reading the question before answering
            await self.tap(label)

    async def send(self, data: memoryview, name: str) -> None:
        """One file over tus as chat.js sends it: create, PATCH piece by piece, GET the answer."""
        created = await self.create_upload(len(data), name)
        if created.status != 201:
            raise RuntimeError(f"{name}: creation refused, {created.status} {await created.text()}")
        location, offset = created.headers["Location"], 0
        while offset < len(data):
            patched = await self.patch(location, offset, data[offset:offset + PIECE])
            if patched.status != 204:
                raise RuntimeError(f"{name}: PATCH at {offset} refused, {patched.status} {await patched.text()}")
            patched.release()
            offset = int(patched.headers["Upload-Offset"])
        answer = await (await self.client.get(location)).json()
        if not answer.get("complete") or answer.get("received") != name:
            raise RuntimeError(f"{name}: not received into the case: {str(answer)[:300]}")


async def timed(sends, sync: bool = False) -> float:
    """Seconds from the start of the first of these coroutines, run at once, to the end of the last.
    With `sync`, the disk's pending writes are flushed first (untimed): no run pays for the one before."""
    if sync:
        await asyncio.to_thread(os.sync)
    began = time.monotonic()
    await asyncio.gather(*sends)
    return time.monotonic() - began


def start(command: list[str], env: dict, cwd: Path, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:   # a file, not a pipe: a full pipe would stall the server
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)


async def wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(f"{url} exited at start:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                async with session.get(url) as response:
                    if response.status < 500:   # the sink has no page: its 404 says it is up
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in 60 s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


async def main(chats: int, uploads: int, size_mb: int, think: float, ramp: float, scratch: Path) -> int:
    small_mb = max(1, size_mb // 4)
    data = memoryview(os.urandom(size_mb * MB))      # made once; every upload sends these bytes
    port, sink_port = free_port(), free_port()
    base, sink_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sink_port}"
    env = {**os.environ, "DATA_DIR": str(scratch / "data"), "HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(port),
           "DATABASE_URL": "", "TELEGRAM_BOT_TOKEN": "", "PUBLIC_URL": "", "MAX_UPLOAD_MB": str(max(2048, size_mb))}
    (scratch / "sink").mkdir()
    print(f"load average before: {' '.join(f'{n:.2f}' for n in os.getloadavg())} ({os.cpu_count()} CPUs)")
    server = start([str(Path(sys.executable).parent / "scanpass"), "serve"], env, scratch, scratch / "serve.log")
    sink = start([sys.executable, "-c", SINK, str(sink_port), str(scratch / "sink")], os.environ, scratch,
                 scratch / "sink.log")
    times: list[float] = []
    patients = [Patient(base, times) for _ in range(max(chats, 2 * uploads))]
    try:
        await wait_until_up(f"{base}/healthz", server, scratch / "serve.log")
        await wait_until_up(f"{sink_base}/", sink, scratch / "sink.log")
        walked = await timed(patient.to_files_step(think, random.uniform(0, ramp)) for patient in patients[:chats])
        steps = list(times)
        await timed(patient.to_files_step() for patient in patients[chats:])   # more chats for the uploads, untimed

        before = PeakRss(server.pid).now()
        with PeakRss(server.pid) as small_rss:
            small_seconds = await timed((patient.send(data[:small_mb * MB], f"small-{n}.bin")
                                         for n, patient in enumerate(patients[:uploads])), sync=True)
        with PeakRss(sink.pid) as sink_rss:
            async with aiohttp.ClientSession(base_url=sink_base, timeout=TIMEOUT) as session:
                async def pieces():   # streamed in chat.js's pieces, so the client never holds a copy of a body
                    for offset in range(0, len(data), PIECE):
                        yield data[offset:offset + PIECE]

                async def put(name: str) -> None:
                    async with session.put(f"/{name}", data=pieces()) as response:
                        if response.status != 204:
                            raise RuntimeError(f"the sink refused {name}: {response.status}")
                sink_seconds = await timed((put(f"big-{n}.bin") for n in range(uploads)), sync=True)
        stop(sink)
        shutil.rmtree(scratch / "sink")   # room on the disk for the big run
        with PeakRss(server.pid) as big_rss:
            big_seconds = await timed((patient.send(data, f"big-{n}.bin")
                                       for n, patient in enumerate(patients[uploads:2 * uploads])), sync=True)
    finally:
        await asyncio.gather(*(patient.client.close() for patient in patients))
        stop(sink)
        stop(server)

    p95 = percentile(steps, 0.95)
    print(f"chats: {chats} at once (starting within {ramp:g} s, reading each question "
          f"{think * 0.5:g}-{think * 1.5:g} s), {len(steps)} steps in {walked:.1f} s ({len(steps) / walked:.0f}/s)\n"
          f"  POST /api/chat: p50 {statistics.median(steps) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
          f"max {max(steps) * 1000:.0f} ms (target p95 < {TARGET_P95 * 1000:.0f} ms: {met(p95 < TARGET_P95)})")
    small_speed, big_speed = uploads * small_mb / small_seconds, uploads * size_mb / big_seconds
    sink_speed = uploads * size_mb / sink_seconds
    print(f"server RSS before the uploads: {before / MB:.0f} MB")
    for mb, seconds, speed, rss in ((small_mb, small_seconds, small_speed, small_rss),
                                    (size_mb, big_seconds, big_speed, big_rss)):
        print(f"ScanPass, {uploads} x {mb} MB at once: {seconds:.1f} s, {speed:.0f} MB/s; server peak RSS "
              f"{rss.peak / MB:.0f} MB (+{(rss.peak - before) / MB:.0f} MB)")
    print(f"bare aiohttp sink, {uploads} x {size_mb} MB at once: {sink_seconds:.1f} s, {sink_speed:.0f} MB/s; "
          f"sink peak RSS {sink_rss.peak / MB:.0f} MB")
    share, ratio = big_speed / sink_speed, big_rss.peak / small_rss.peak
    print(f"ScanPass / bare sink MB/s at {size_mb} MB: {share:.2f} "
          f"(target >= {TARGET_SHARE}: {met(share >= TARGET_SHARE)})")
    print(f"server peak RSS at {size_mb} MB / at {small_mb} MB: {ratio:.2f} "
          f"(target flat, <= {FLAT}: {met(ratio <= FLAT)})")
    print(f"load average after: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=200, help="web chats going through the flow at once")
    parser.add_argument("--uploads", type=int, default=20, help="uploads at once (each into its own chat)")
    parser.add_argument("--size-mb", type=int, default=200, help="size of each upload (also run at a quarter of it)")
    parser.add_argument("--think", type=float, default=10.0,
                        help="mean seconds a patient reads a question before pressing (0: press at once)")
    parser.add_argument("--ramp", type=float, default=10.0, help="chats start at random moments within this many s")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 chats, 4 uploads of 20 MB, 1 s reading")
    args = parser.parse_args()
    if args.quick:
        args.chats, args.uploads, args.size_mb, args.think, args.ramp = 20, 4, 20, 1.0, 1.0
    temp = Path(tempfile.gettempdir())
    needed = args.uploads * args.size_mb * 5 // 2 * MB + 1024 * MB   # small run kept + big run's .part and copy
    if shutil.disk_usage(temp).free < needed:
        print(f"not enough disk in {temp}: {shutil.disk_usage(temp).free / 2**30:.1f} GB free, the run needs about "
              f"{needed / 2**30:.1f} GB (set TMPDIR to a roomier disk, or lower --uploads/--size-mb)", file=sys.stderr)
        sys.exit(1)
    with tempfile.TemporaryDirectory(prefix="scanpass-web-load-") as scratch:   # deleted with all in it
        try:
            code = asyncio.run(main(args.chats, args.uploads, args.size_mb, args.think, args.ramp, Path(scratch)))
        except (RuntimeError, OSError, aiohttp.ClientError, AssertionError) as error:
            print(f"the run failed: {error}", file=sys.stderr)
            code = 1
    sys.exit(code)
