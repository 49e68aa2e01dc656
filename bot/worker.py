"""`scanpass worker`: runs the jobs — checks, link downloads, deliveries of messages to Telegram, the
daily purge — from the job queue of the case database, until SIGINT or SIGTERM.

    DATABASE_URL=postgresql+psycopg://… scanpass worker        # as many as you like, on any machine

On PostgreSQL the jobs are procrastinate's; a killed worker's jobs run again on another one (its
heartbeat stops). On SQLite it runs the embedded queue, for a single machine (`scanpass serve` runs
those jobs itself: a worker beside it is only an extra pair of hands).
"""
from __future__ import annotations

import asyncio
import logging
import signal

from bot.serve import senders
from cases import CaseCore
from cases.jobs import Jobs
from cases.queue import EmbeddedQueue, queue_for
from storage import Repository, Settings

log = logging.getLogger("scanpass.worker")


async def work(settings: Settings, stop: asyncio.Event, concurrency: int = 2) -> None:
    repository = Repository.from_settings(settings).open()
    core = CaseCore(repository, settings, queue_for(repository, settings))
    jobs = Jobs(core, senders(settings))
    runner = core.queue.runner(jobs)
    print(f"ScanPass worker: {'embedded queue' if isinstance(core.queue, EmbeddedQueue) else 'procrastinate'}"
          f", Telegram deliveries {'on' if jobs.senders else 'off'}", flush=True)
    try:
        if isinstance(core.queue, EmbeddedQueue):
            runner.start()
            await stop.wait()
            await asyncio.to_thread(runner.stop)
        else:
            task = asyncio.create_task(runner.work(concurrency))
            waiting = asyncio.create_task(stop.wait())
            await asyncio.wait([task, waiting], return_when=asyncio.FIRST_COMPLETED)
            task.cancel()           # procrastinate finishes or hands back what it runs
            await asyncio.gather(task, return_exceptions=True)
            waiting.cancel()
    finally:
        for send in jobs.senders.values():
            await asyncio.to_thread(send.close)
        repository.close()


def run(settings: Settings, concurrency: int = 2) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await work(settings, stop, concurrency)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its request lines carry the bot token
    asyncio.run(main())
    return 0
