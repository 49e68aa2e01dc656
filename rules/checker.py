"""The checker: uploads -> header facts -> studies -> verdicts.

    report = check(["~/Downloads/disc.iso"], Answers(condition="active_oncology"))

Reading is the slow part, so a large upload is cut into batches read by worker
processes (both cores); each worker folds its files into per-series facts, so
what crosses between processes is a few series, not thousands of files. Small
uploads are read in-process. Nothing here raises on bad input: every file ends
up counted as DICOM, listed as not DICOM, unreadable or ignored.
"""
from __future__ import annotations

import logging
import os
import threading
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from rules import containers
from rules.answers import Answers
from rules.facts import ImageFacts, SeriesFacts
from rules.header import NotDicom, ReadResult, Unreadable, read_image
from rules.judging import judge_all
from rules.policy import load
from rules.report import Files, Report
from rules.studies import assemble

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import multiprocessing.context

Progress = Callable[[int, int], None]  # (files done, files in all)

PARALLEL_FROM = 300  # members; below this, starting worker processes costs more than it saves
CHUNKS_PER_WORKER = 4  # smaller chunks: progress moves and the two workers finish together


@dataclass
class Harvest:
    """What one batch yielded."""

    series: dict[str, SeriesFacts] = field(default_factory=dict)
    files: Files = field(default_factory=Files)
    seen: int = 0

    def merge(self, other: "Harvest") -> None:
        for key, series in other.series.items():
            if key in self.series:
                self.series[key].merge(series)
            else:
                self.series[key] = series
        self.files.dicom += other.files.dicom
        self.files.dicomdir += other.files.dicomdir
        self.files.not_dicom += other.files.not_dicom
        self.files.unreadable += other.files.unreadable
        self.files.ignored += other.files.ignored
        self.seen += other.seen

    def record(self, entry: containers.Entry) -> None:
        if entry.status == "ignored":
            self.files.ignored.append((entry.name, entry.code))
        else:
            self.files.unreadable.append((entry.name, entry.code, entry.limit))

    def take(self, item: containers.Item, result: ReadResult) -> None:
        """Count one member by what its header said."""
        if isinstance(result, ImageFacts):
            if result.is_dicomdir:
                self.files.dicomdir += 1
            else:
                self.files.dicom += 1
                SeriesFacts.group((result,), into=self.series)
        elif isinstance(result, NotDicom):
            if item.quiet:
                self.files.ignored.append((item.name, item.quiet))
            else:
                self.files.not_dicom.append((item.name, result.kind))
        elif isinstance(result, Unreadable):
            self.files.unreadable.append((item.name, result.error, None))


def read_batch(batch: containers.Batch, limits: containers.Limits, scratch: str | None) -> Harvest:
    """Read every member of one batch (runs in a worker process for large uploads)."""
    harvest = Harvest()
    for item in containers.walk(batch, limits, Path(scratch) if scratch else None):
        if isinstance(item, containers.Entry):
            harvest.record(item)
            continue
        harvest.seen += 1
        try:
            harvest.take(item, read_image(item.stream, item.name, item.size))
        except Exception as exc:  # the member's stream broke mid-read: this file is listed, the rest are read on
            log.info("a member could not be read: %s", type(exc).__name__)  # never the name: it may name the patient
            harvest.record(containers.failed_member(item.name, exc))
    return harvest


def _jobs(plan: containers.Plan, workers: int) -> list[containers.Batch]:
    if workers <= 1:
        return plan.batches
    jobs = []
    for batch in plan.batches:
        jobs.extend(containers.split(batch, workers * CHUNKS_PER_WORKER))
    return jobs


def _workers(plan: containers.Plan, workers: int | None) -> int:
    if workers is not None:
        return max(1, workers)
    if plan.total_members < PARALLEL_FROM:
        return 1
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 4))


def _start_method() -> multiprocessing.context.BaseContext:
    """fork when this process has one thread (the CLI: fastest); forkserver inside a threaded server,
    where forking a process that holds other threads' locks can hang the child."""
    import multiprocessing  # here, not at the top: a small upload never starts a worker
    if threading.active_count() > 1 and "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context()


def read_uploads(paths: Iterable[str | os.PathLike], limits: containers.Limits | None = None,
                 progress: Progress | None = None, workers: int | None = None,
                 names: dict[str, str] | None = None) -> Harvest:
    limits = limits or containers.Limits()
    plan = containers.plan([Path(path) for path in paths], limits, names)
    harvest = Harvest()
    for entry in plan.entries:
        harvest.record(entry)
    count = _workers(plan, workers)
    jobs = _jobs(plan, count)
    total = max(plan.total_members, 1)
    try:
        with tempfile.TemporaryDirectory(prefix="scanpass-") as scratch:
            if count == 1 or len(jobs) <= 1:
                for job in jobs:
                    harvest.merge(read_batch(job, limits, scratch))
                    if progress:
                        progress(min(harvest.seen, total), total)
            else:
                from concurrent.futures import ProcessPoolExecutor, as_completed

                with ProcessPoolExecutor(max_workers=count, mp_context=_start_method()) as pool:
                    futures = {pool.submit(read_batch, job, limits, scratch): job for job in jobs}
                    for future in as_completed(futures):
                        try:
                            part = future.result()
                        except Exception:  # a worker that could not start or died: read its batch here instead
                            part = read_batch(futures[future], limits, scratch)
                        harvest.merge(part)
                        if progress:
                            progress(min(harvest.seen, total), total)
    finally:
        containers.release()  # the zip this process kept open for its batches
    return harvest


def check(paths: Iterable[str | os.PathLike], answers: Answers | None = None, *,
          progress: Progress | None = None, limits: containers.Limits | None = None, workers: int | None = None,
          names: dict[str, str] | None = None) -> Report:
    """Check a patient's uploads against the policy: the one entry point every channel calls.

    `names` maps a path to the name the patient knows it by, used in the report instead of the name on disk."""
    answers = answers or Answers()
    policy = load()
    harvest = read_uploads(paths, limits, progress, workers, names)
    studies = assemble(harvest.series.values(), policy)
    harvest.files.not_dicom.sort()
    harvest.files.unreadable.sort(key=lambda entry: entry[:2])
    harvest.files.ignored.sort()
    return judge_all(studies, harvest.files, answers, policy)
