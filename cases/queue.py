"""Where jobs wait: procrastinate on PostgreSQL, or the embedded queue on SQLite. Both take a job in the
asking step's transaction, so a step never commits without its job and a rolled-back step leaves none.

    queue = queue_for(repository, settings)     # procrastinate on PostgreSQL, else embedded
    queue.ask("check", "check:ab12", {...})     # inside a step
    runner = queue.runner(jobs)                 # embedded: threads in this process; `scanpass worker` on PostgreSQL

Procrastinate (PostgreSQL): jobs and cases in one database, LISTEN/NOTIFY wake-ups, retries with
backoff, a periodic purge deferred once per period for the whole cluster, and jobs of a worker that
died (no heartbeat) put back to run again elsewhere. SQLite has no procrastinate connector, so the
one-process default keeps its jobs in a table of its own database (`storage.jobs`) and runs them on
threads of `scanpass serve`; a job left running by a killed process is claimed again when its lease
runs out, at the next start at the latest.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable

from cases.jobs import DELIVERY_ATTEMPTS, HEAVY, LIGHT, Jobs
from storage.jobs import JobTable

log = logging.getLogger("scanpass.queue")

LEASE = 60.0                 # seconds a claimed embedded job is held before another runner may take it
POLL = 0.5                   # seconds an idle embedded runner waits before looking again
BACKOFF = (1, 2, 4, 8, 16, 30, 60, 120, 300)   # seconds before the next try of a failed job
HEAVY_THREADS = 2            # checks and downloads side by side; steps never wait for them
PURGE_CRON = "17 3 * * *"    # once a day, at 03:17 UTC


def backoff(attempt: int) -> float:
    return float(BACKOFF[min(attempt, len(BACKOFF)) - 1])


class EmbeddedQueue:
    def __init__(self, table: JobTable):
        self.table = table
        self.event = threading.Event()

    def ask(self, kind: str, key: str, params: dict) -> None:
        self.table.ask(kind, key, params)

    def wake(self) -> None:
        self.event.set()

    def backlog(self) -> int:
        return self.table.waiting()

    def runner(self, jobs: Jobs) -> EmbeddedRunner:
        return EmbeddedRunner(self, jobs)


class EmbeddedRunner:
    """Threads of this process that run the embedded queue's jobs: heavy ones (checks, downloads) on
    their own threads, deliveries and the purge on another, so neither waits behind the other."""

    def __init__(self, queue: EmbeddedQueue, jobs: Jobs):
        self.queue, self.jobs = queue, jobs
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> EmbeddedRunner:
        released = self.queue.table.release_running()
        if released:
            log.info("%d job(s) a stopped run left unfinished run again", released)
        lanes = [HEAVY] * HEAVY_THREADS + [LIGHT]
        for number, kinds in enumerate(lanes):
            thread = threading.Thread(target=self._loop, args=(kinds,), name=f"scanpass-jobs-{number}", daemon=True)
            thread.start()
            self.threads.append(thread)
        self._daily_purge()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.queue.event.set()
        for thread in self.threads:
            thread.join(timeout)

    def run_pending(self, kinds: Iterable[str] = HEAVY + LIGHT) -> int:
        """Run every job that is due now, in this thread (the terminal does this after each step)."""
        count = 0
        while (job := self.queue.table.claim(list(kinds), LEASE)) is not None:
            self._run(job)
            count += 1
        return count

    def _daily_purge(self) -> None:
        self.queue.ask("purge", f"purge:{dt.date.today().isoformat()}", {"day": dt.date.today().isoformat()})

    def _loop(self, kinds: tuple[str, ...]) -> None:
        day = dt.date.today()
        while not self.stopping.is_set():
            if LIGHT == kinds and dt.date.today() != day:
                day = dt.date.today()
                self._daily_purge()
            try:
                job = self.queue.table.claim(list(kinds), LEASE)
            except Exception as error:  # noqa: BLE001 — the database may be back in a moment
                log.warning("could not claim a job: %s", type(error).__name__)
                job = None
            if job is None:
                self.queue.event.wait(POLL)
                self.queue.event.clear()
                continue
            self._run(job)

    def _run(self, job) -> None:
        renewing = threading.Event()

        def renew() -> None:
            while not renewing.wait(LEASE / 3):
                try:
                    self.queue.table.renew(job.id, LEASE)
                except Exception:  # noqa: BLE001 — the lease runs out; another runner takes over
                    return

        keeper = threading.Thread(target=renew, daemon=True)
        keeper.start()
        try:
            self.jobs.run(job.kind, job.params)
        except Exception as error:  # noqa: BLE001 — retried with backoff; logs carry the kind only
            log.warning("job %s failed (attempt %d): %s", job.kind, job.attempts, type(error).__name__)
            if job.kind == "deliver" and job.attempts >= DELIVERY_ATTEMPTS:
                self.queue.table.give_up(job.id, type(error).__name__)
            else:
                self.queue.table.retry(job.id, type(error).__name__, backoff(job.attempts))
        else:
            self.queue.table.done(job.id)
        finally:
            renewing.set()
            keeper.join()


def queue_for(repository, settings):
    """Procrastinate when the case database is PostgreSQL, else the embedded queue."""
    if repository.dialect == "postgresql":
        from cases.procrastinate_queue import ProcrastinateQueue
        return ProcrastinateQueue(repository, settings)
    return EmbeddedQueue(JobTable(repository))
