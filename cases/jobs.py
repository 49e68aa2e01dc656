"""The jobs: what runs after a step, away from the steps' threads, on whichever process runs jobs.

    check     the checker over the case's uploads, then the step that shows the checklist
    download  a cloud link into the case, then the step that answers it
    deliver   one outbox message to a push channel (Telegram), retried until it is taken
    purge     cases and files older than RETENTION_DAYS, once a day for the cluster

Each job is keyed and idempotent: a check or a download ends only through its progress token (run
twice, the second finds it gone); a delivery skips a message already sent. A job that raises is
retried with backoff by the queue (`cases.queue`).
"""
from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dialogs.events import CheckFinished, LinkFailed

log = logging.getLogger("scanpass.jobs")

PROGRESS_EVERY = 0.5        # seconds between progress writes of one job
DELIVERY_ATTEMPTS = 12      # then the message is shown as failed on the dashboard (about 1.5 h of retries)
HEAVY = ("check", "download")
LIGHT = ("deliver", "purge")


class Undelivered(Exception):
    """A push channel did not take a message; the queue retries the delivery."""


class Jobs:
    """The job functions over one case core, and the senders of the push channels this process runs."""

    def __init__(self, core, senders: dict[str, Callable] | None = None, fetcher=None):
        self.core = core
        self.senders = dict(senders or {})      # chat prefix ("telegram") -> send(message) raising on failure
        self.fetcher = fetcher

    def run(self, kind: str, params: dict) -> None:
        getattr(self, kind)(**params)

    # ---- check ---------------------------------------------------------------------------------
    def check(self, chat: str, token: str) -> None:
        from rules import Answers, check

        core = self.core
        case = core.repository.load(chat)
        if case is None or not core.progress.current(chat, token):
            return                                      # done already, or the patient moved on
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY or done == total:
                last[0] = now
                core.progress.update(chat, token, done, total)

        report = check([upload.path for upload in case.uploads], Answers.from_dict(case.answers), progress=progress,
                       names={upload.path: upload.name for upload in case.uploads})  # the patient's names
        core.finish(chat, token, CheckFinished(report.to_json()))

    # ---- download ------------------------------------------------------------------------------
    def download(self, chat: str, token: str, url: str) -> None:
        from cases.links import LinkError, LinkFetcher

        core = self.core
        if not core.progress.current(chat, token):
            return
        fetcher = self.fetcher or LinkFetcher(core.settings.max_upload_bytes)
        last = [0.0]

        def progress(done: int, total: int | None) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY:
                last[0] = now
                core.progress.update(chat, token, done, total)

        downloads = core.settings.data_dir / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=downloads) as scratch:
            try:
                got = asyncio.run(fetcher.fetch(url, Path(scratch), progress))
            except LinkError as error:
                core.finish(chat, token, LinkFailed(error.reason, {"limit": core.settings.max_upload_mb}))
                return
            core.receive_download(chat, token, got.path, got.name)

    # ---- deliver -------------------------------------------------------------------------------
    def deliver(self, message: int) -> None:
        outbox = self.core.outbox
        found = outbox.get(message)
        if found is None or found.state != "queued":
            return                                      # erased with its case, or delivered already
        sender = self.senders.get(found.chat.partition(":")[0])
        if sender is None:
            raise Undelivered(f"no sender for {found.chat.partition(':')[0]} in this process")
        try:
            sender(found)
        except Exception as error:  # noqa: BLE001 — any failure of the channel is retried
            attempts = outbox.failed(message, type(error).__name__, final=found.attempts + 1 >= DELIVERY_ATTEMPTS)
            log.warning("message %d not delivered (attempt %d): %s", message, attempts, type(error).__name__)
            raise Undelivered(type(error).__name__) from error
        outbox.sent(message)

    # ---- purge ---------------------------------------------------------------------------------
    def purge(self, day: str = "") -> None:
        count = self.core.repository.purge(self.core.settings.retention_days)
        log.info("purged %d case(s)", count)
