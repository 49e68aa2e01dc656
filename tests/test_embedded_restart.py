"""The one-process default (`./run`: `scanpass serve` on SQLite) killed with SIGKILL in the middle of a
patient's check, started again: the check runs again and the patient gets exactly one checklist."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.cluster import Process, free_port, http_get, wait_for
from tests.test_cluster import Browser, at_the_check, midway, wait_for_checklists


async def test_run_killed_during_a_check_gives_the_checklist_after_a_restart(tmp_path):
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "TELEGRAM_"))},
           "DATA_DIR": str(tmp_path / "data"), "HTTP_PORT": str(port), "HTTP_HOST": "127.0.0.1"}
    (tmp_path / "run").mkdir()
    server = Process("serve", [sys.executable, "-m", "bot.cli", "serve"], env, tmp_path / "serve.log",
                     tmp_path / "run", port)

    def healthy() -> bool:
        try:
            return http_get(f"http://127.0.0.1:{port}/healthz", timeout=2)[0] == 200
        except OSError:
            return False

    server.start()
    try:
        wait_for("serve answering /healthz", healthy, explain=server.explain)
        async with Browser(f"http://127.0.0.1:{port}") as browser:
            await at_the_check(browser, tmp_path, images=3000)
            await midway(browser)
            server.kill()                                   # as a crash or the OOM killer would
            server.start()
            wait_for("serve answering /healthz again", healthy, explain=server.explain)
            checklists = await wait_for_checklists(browser, seconds=120)
            assert len(checklists) == 1, server.explain()
    finally:
        if server.running():
            server.signal(signal.SIGTERM)
            try:
                server.wait_exit(20)
            except subprocess.TimeoutExpired:
                server.kill()
