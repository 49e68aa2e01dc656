"""The embedded job queue: jobs in a table of the case database, for the one-process default (SQLite).

    jobs = JobTable(repository)
    jobs.ask("check", "check:ab12", {"chat": …, "token": …})   # inside a step: committed with it, or not at all
    job = jobs.claim(["check", "download"], lease=60)           # a queued job, or one whose runner died
    jobs.done(job.id) / jobs.retry(job.id, "TimedOut", delay=30) / jobs.give_up(job.id, "…")

A claimed job holds a lease, renewed while it runs; a job whose lease ran out (its process was killed)
is claimed again, so a kill loses nothing. On PostgreSQL the same jobs run on procrastinate instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import select

from storage.models import JobRow, utcnow


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    key: str
    params: dict
    attempts: int


class JobTable:
    def __init__(self, repository):
        self.repository = repository

    def ask(self, kind: str, key: str, params: dict) -> bool:
        """Queue a job unless one with this key exists. True when queued."""
        with self.repository.transaction(write=True) as session:
            if session.exec(select(JobRow.id).where(JobRow.key == key)).first() is not None:
                return False
            now = utcnow()
            session.add(JobRow(kind=kind, key=key[:200], params=params, run_after=now, created_at=now))
            return True

    def claim(self, kinds: list[str], lease: float) -> Job | None:
        now = utcnow()
        with self.repository.transaction(write=True) as session:
            ready = sa.or_(sa.and_(JobRow.state == "queued", JobRow.run_after <= now),
                           sa.and_(JobRow.state == "running", JobRow.lease_until < now))
            row = session.exec(select(JobRow).where(JobRow.kind.in_(kinds), ready)
                               .order_by(JobRow.run_after, JobRow.id).limit(1)).first()
            if row is None:
                return None
            row.state, row.lease_until = "running", now + timedelta(seconds=lease)
            row.attempts += 1
            session.add(row)
            return Job(row.id, row.kind, row.key, dict(row.params), row.attempts)

    def renew(self, job_id: int, lease: float) -> None:
        with self.repository.transaction(write=True) as session:
            session.execute(sa.update(JobRow).where(JobRow.id == job_id, JobRow.state == "running")
                            .values(lease_until=utcnow() + timedelta(seconds=lease)))

    def done(self, job_id: int) -> None:
        with self.repository.transaction(write=True) as session:
            session.execute(sa.delete(JobRow).where(JobRow.id == job_id))

    def retry(self, job_id: int, error: str, delay: float) -> None:
        with self.repository.transaction(write=True) as session:
            session.execute(sa.update(JobRow).where(JobRow.id == job_id).values(
                state="queued", error=error[:200], lease_until=None, run_after=utcnow() + timedelta(seconds=delay)))

    def give_up(self, job_id: int, error: str) -> None:
        with self.repository.transaction(write=True) as session:
            session.execute(sa.update(JobRow).where(JobRow.id == job_id).values(state="failed", error=error[:200],
                                                                                lease_until=None))

    def release_running(self) -> int:
        """Jobs a previous run of this process left running (it was killed): queued again at once. A job
        that still ran elsewhere after all only finds its work done (jobs are idempotent)."""
        with self.repository.transaction(write=True) as session:
            return session.execute(sa.update(JobRow).where(JobRow.state == "running")
                                   .values(state="queued", lease_until=None, run_after=utcnow())).rowcount

    def waiting(self) -> int:
        """Jobs queued or running (what /healthz reports as the backlog)."""
        with self.repository.transaction() as session:
            return session.exec(select(sa.func.count()).select_from(JobRow)
                                .where(JobRow.state.in_(("queued", "running")))).one()
