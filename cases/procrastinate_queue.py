"""Jobs on procrastinate, in the case database (PostgreSQL): what `scanpass worker` runs.

A step defers its job on the step's own database connection, so the job is committed with the step or
not at all. Workers take jobs with LISTEN/NOTIFY; heavy jobs (checks, downloads) and light ones
(deliveries, the purge) are separate queues, each worker running both with its own concurrency.
A worker that stops sending heartbeats (killed) has its jobs put back by `retry_stalled`, a periodic
task of every worker (procrastinate defers a periodic task once per period for the whole cluster).
"""
from __future__ import annotations

import logging

import sqlalchemy as sa
from procrastinate import App, PsycopgConnector, RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.schema import SchemaManager

from cases.jobs import DELIVERY_ATTEMPTS, HEAVY, Jobs
from cases.queue import PURGE_CRON

log = logging.getLogger("scanpass.queue")

SCHEMA_LOCK = 0x5CA4_0001        # advisory lock id: one process applies procrastinate's schema
STALLED_AFTER = 30.0             # seconds without a worker heartbeat before its jobs run again elsewhere
RETRIES = {"check": RetryStrategy(max_attempts=3, exponential_wait=2),
           "download": RetryStrategy(max_attempts=3, exponential_wait=2),
           "deliver": RetryStrategy(max_attempts=DELIVERY_ATTEMPTS, exponential_wait=1),
           "purge": RetryStrategy(max_attempts=3, exponential_wait=60)}


def conninfo(database_url: str) -> str:
    """psycopg's connection string from the SQLAlchemy URL (`postgresql+psycopg://…`)."""
    url = sa.make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class ProcrastinateQueue:
    def __init__(self, repository, settings):
        self.repository, self.settings = repository, settings
        self.jobs: Jobs | None = None
        self.app = App(connector=PsycopgConnector(conninfo=conninfo(settings.database_url)))
        # Steps defer through an App that is never opened: its sync path runs on the step's own connection
        # (an opened App's connector is async and cannot use that connection).
        self.deferrer = App(connector=PsycopgConnector(conninfo=conninfo(settings.database_url)))
        for kind, retry in RETRIES.items():
            self.app.task(name=kind, queue="heavy" if kind in HEAVY else "light", retry=retry)(self._runs(kind))
        self.app.periodic(cron=PURGE_CRON, periodic_id="daily")(
            self.app.task(name="purge_daily", queue="light")(self._daily_purge))
        self.app.periodic(cron="* * * * *", periodic_id="minutely")(
            self.app.task(name="retry_stalled", queue="light", pass_context=False)(self._retry_stalled))
        self._prepare()

    def _runs(self, kind: str):
        def run(**params) -> None:
            if self.jobs is None:
                raise RuntimeError("this process runs no jobs")
            self.jobs.run(kind, params)
        run.__name__ = kind
        return run

    def _daily_purge(self, timestamp: int) -> None:
        if self.jobs is not None:
            self.jobs.purge()

    async def _retry_stalled(self, timestamp: int) -> None:
        for job in await self.app.job_manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER):
            log.info("job %s of a stopped worker runs again", job.id)
            await self.app.job_manager.retry_job(job)

    def _prepare(self) -> None:
        """procrastinate's tables, made once (under an advisory lock when several processes start at once)."""
        with self.repository.transaction(write=True) as session:
            session.execute(sa.text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": SCHEMA_LOCK})
            if session.execute(sa.text("SELECT to_regclass('procrastinate_jobs')")).scalar() is None:
                raw = session.connection().connection.dbapi_connection   # no parameters: '%' stays as written
                raw.execute(SchemaManager.get_schema())

    # ---- the queue's side of a step ------------------------------------------------------------
    def ask(self, kind: str, key: str, params: dict) -> None:
        """Defer the job on the open step's connection (or a transaction of its own)."""
        with self.repository.transaction(write=True) as session:
            raw = session.connection().connection.dbapi_connection
            try:
                with session.begin_nested():
                    self.deferrer.configure_task(kind, queue="heavy" if kind in HEAVY else "light",
                                                 queueing_lock=key[:200], connection=raw).defer(**params)
            except AlreadyEnqueued:
                pass                                  # the same job is waiting already

    def wake(self) -> None:
        """Workers are woken by NOTIFY when the step commits."""

    def backlog(self) -> int:
        with self.repository.transaction() as session:
            return session.execute(sa.text(
                "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")).scalar()

    def runner(self, jobs: Jobs) -> ProcrastinateQueue:
        self.jobs = jobs
        return self

    async def work(self, concurrency: int = 2) -> None:
        """Run jobs until cancelled (`scanpass worker`)."""
        async with self.app.open_async():
            await self.app.run_worker_async(queues=["heavy", "light"], concurrency=concurrency,
                                            install_signal_handlers=False, update_heartbeat_interval=5,
                                            stalled_worker_timeout=STALLED_AFTER)
