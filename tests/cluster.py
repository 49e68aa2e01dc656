"""A ScanPass cluster for end-to-end tests: N `scanpass serve` (and M `scanpass worker`) processes on one
fresh PostgreSQL database and a shared DATA_DIR, behind HAProxy running the shipped deploy/haproxy.cfg.

    from tests.cluster import cluster, cluster_database  # noqa: F401 — fixtures

    def test_something(cluster):
        deployment = cluster(serve=2)             # or cluster(serve=2, workers=2, serve_command=[...])
        status, served_by, body = deployment.get("/healthz")
        deployment.kill("s1")                     # SIGKILL (the instance's whole process group)
        deployment.wait_state("s1", "DOWN")       # as HAProxy's health checks see it
        deployment.start("s1")                    # again, on its port; returns once HAProxy has it UP
        deployment.drain("s2"); deployment.stop("s2")    # the README's way to take an instance out
        deployment.add_instance()                 # "s3", registered through HAProxy's runtime API

Instances are named s1, s2, … as HAProxy's servers (the `X-Served-By` header names the one that
answered); workers w1, w2, …. The process commands are parameters, so the same harness runs what
exists today (`scanpass serve`) and what is being written (`scanpass worker`: asking for workers
skips, saying why, while `scanpass worker --help` fails). Every wait is bounded; at teardown every
process is killed, HAProxy stopped and the database dropped, whatever the test did.
"""
from __future__ import annotations

import csv
import dataclasses
import getpass
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage import Settings
from tests.conftest import POSTGRES_URL
from tests.test_serve import free_port

SERVE = [sys.executable, "-m", "bot.cli", "serve"]
WORKER = [sys.executable, "-m", "bot.cli", "worker"]
HAPROXY_CFG = Path(__file__).resolve().parent.parent / "deploy" / "haproxy.cfg"
BACKEND = "scanpass"            # the backend's name in deploy/haproxy.cfg
START_TIMEOUT = 60              # seconds for a process to answer, or HAProxy to see a change
STOP_TIMEOUT = 30               # seconds for a process to exit after SIGTERM


def wait_for(what: str, condition, timeout: float = START_TIMEOUT, every: float = 0.1, explain=lambda: ""):
    """Poll `condition()` until it returns something true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s{explain()}")
        time.sleep(every)


def tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def environment(**values: str) -> dict:
    """This environment without any ScanPass setting (a developer's TELEGRAM_BOT_TOKEN must not leak in), plus `values`."""
    settings = {field.name.upper() for field in dataclasses.fields(Settings)} | {"SECRET_KEY"}
    return {**{k: v for k, v in os.environ.items() if k not in settings}, "PYTHONUNBUFFERED": "1", **values}


@dataclass
class Process:
    """One process of the cluster: its command, environment and log; started in its own process group."""

    name: str
    command: list[str]
    env: dict
    log: Path
    cwd: Path
    port: int | None = None           # the HTTP port of a `serve` instance
    popen: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**self.env, "HTTP_PORT": str(self.port)} if self.port else self.env
        with self.log.open("ab") as out:   # a file, not a pipe: a full pipe would stall the process
            self.popen = subprocess.Popen(self.command, cwd=self.cwd, env=env, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, number: int) -> None:
        if self.running():
            os.killpg(self.popen.pid, number)   # the process and its children (the checker's pool)

    def wait_exit(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    def kill(self) -> None:
        if self.popen is not None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)   # children too, even after the leader exited
            except ProcessLookupError:
                pass
            self.popen.wait(timeout=STOP_TIMEOUT)

    def explain(self) -> str:
        """The process's state and the last lines of its log, for a failure message."""
        state = "running" if self.running() else "not started" if self.popen is None else f"exited {self.popen.returncode}"
        return f"\n--- {self.name} ({state}), last lines of {self.log}:\n{tail(self.log)}"


def http_get(url: str, timeout: float = 5) -> tuple[int, str | None, bytes]:
    """(status, X-Served-By, body) of one GET on a new connection."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.headers.get("X-Served-By"), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("X-Served-By"), error.read()


def render_haproxy(template: str, servers: list[tuple[str, int]]) -> str:
    """deploy/haproxy.cfg with its `server` lines replaced by one per instance (at the place of the first)."""
    out, placed = [], False
    for line in template.splitlines():
        if line.strip().startswith("server "):
            if not placed:
                out += [f"    server {name} 127.0.0.1:{port}" for name, port in servers]
                placed = True
            continue
        out.append(line)
    if not placed:
        raise AssertionError(f"{HAPROXY_CFG} has no `server` line to replace")
    return "\n".join(out) + "\n"


class Balancer:
    """HAProxy in the foreground on `port`, with its runtime API socket in the cluster's folder."""

    def __init__(self, folder: Path, port: int, servers: list[tuple[str, int]]):
        self.port = port
        self.socket = folder / "admin.sock"
        config = folder / "haproxy.cfg"
        config.write_text(render_haproxy(HAPROXY_CFG.read_text(), servers))
        env = {**os.environ, "SCANPASS_LB_BIND": f"127.0.0.1:{self.port}", "SCANPASS_LB_RUN": str(folder),
               "SCANPASS_LB_USER": getpass.getuser()}
        self.process = Process("haproxy", ["haproxy", "-db", "-f", str(config)], env, folder / "haproxy.log", folder)
        self.process.start()
        wait_for("HAProxy's runtime API socket", lambda: self.socket.exists() or not self.process.running(),
                 explain=self.process.explain)
        if not self.process.running():
            raise AssertionError(f"HAProxy did not start{self.process.explain()}")

    def command(self, line: str) -> str:
        """One runtime API command (`show stat`, `set server scanpass/s1 state drain`); its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(5)
            connection.connect(str(self.socket))
            connection.sendall(line.encode() + b"\n")
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        return answer.decode()

    def states(self) -> dict[str, str]:
        """Each server's status in the backend: UP, DOWN, DRAIN, MAINT, or a transition like 'UP 1/2'."""
        rows = csv.DictReader(self.command("show stat").lstrip("# ").splitlines())
        return {row["svname"]: row["status"] for row in rows
                if row["pxname"] == BACKEND and row["svname"] not in ("FRONTEND", "BACKEND")}

    def stop(self) -> None:
        self.process.signal(signal.SIGTERM)   # HAProxy stops at once on SIGTERM (SIGUSR1 would be graceful)
        try:
            self.process.wait_exit(10)
        except subprocess.TimeoutExpired:
            pass
        self.process.kill()


class Cluster:
    """The instances, the workers and the balancer of one test, sharing a database and a DATA_DIR."""

    def __init__(self, folder: Path, database_url: str, serve: int, workers: int,
                 serve_command: list[str], worker_command: list[str], worker_env: dict | None = None):
        self.folder = folder
        self.data_dir = folder / "data"                 # the shared DATA_DIR
        logs, run = folder / "logs", folder / "run"     # run: the processes' working folder (no .env in it)
        for path in (self.data_dir, logs, run):
            path.mkdir(parents=True, exist_ok=True)
        self.secret_key = secrets.token_hex(32)
        self.balancer_port = free_port()
        self.url = f"http://127.0.0.1:{self.balancer_port}"     # where patients reach the cluster: HAProxy
        self.env = environment(DATABASE_URL=database_url, DATA_DIR=str(self.data_dir), SECRET_KEY=self.secret_key,
                               HTTP_HOST="127.0.0.1", PUBLIC_URL=self.url)
        self.instances = {f"s{n}": Process(f"s{n}", serve_command, self.env, logs / f"s{n}.log", run, free_port())
                          for n in range(1, serve + 1)}
        self.workers = {f"w{n}": Process(f"w{n}", worker_command, {**self.env, **(worker_env or {})},
                                         logs / f"w{n}.log", run)
                        for n in range(1, workers + 1)}
        self.balancer: Balancer | None = None

    # ---- starting ------------------------------------------------------------------------------
    def up(self) -> Cluster:
        """Start the instances one after the other (each migrates the schema when it starts, and the first
        makes DATA_DIR's files), then the workers, then HAProxy; return when every instance is UP in it."""
        for instance in self.instances.values():
            self.start_process(instance)
        for worker in self.workers.values():
            worker.start()
        self.balancer = Balancer(self.folder, self.balancer_port, [(name, p.port) for name, p in self.instances.items()])
        for name in self.instances:
            self.wait_state(name, "UP")
        return self

    def start_process(self, instance: Process) -> None:
        instance.start()
        wait_for(f"{instance.name} answering /healthz",
                 lambda: not instance.running() or self.healthy(instance), explain=instance.explain)
        if not instance.running():
            raise AssertionError(f"{instance.name} exited at start{instance.explain()}")

    @staticmethod
    def healthy(instance: Process) -> bool:
        try:
            return http_get(f"http://127.0.0.1:{instance.port}/healthz", timeout=2)[0] == 200
        except OSError:
            return False

    def add_instance(self) -> str:
        """Start one more instance and register it in the running HAProxy through the runtime API (the
        README's way to add one without a reload); returns its name once it is UP."""
        name = f"s{len(self.instances) + 1}"
        template = next(iter(self.instances.values()))
        instance = self.instances[name] = Process(name, template.command, self.env, template.log.with_name(f"{name}.log"),
                                                  template.cwd, free_port())
        self.start_process(instance)
        for line in (f"add server {BACKEND}/{name} 127.0.0.1:{instance.port} check inter 2s fall 2 rise 2",
                     f"enable health {BACKEND}/{name}", f"enable server {BACKEND}/{name}"):
            answer = self.balancer.command(line).strip()
            if answer not in ("", "New server registered."):
                raise AssertionError(f"HAProxy refused `{line}`: {answer}")
        self.wait_state(name, "UP")
        return name

    # ---- faults and maintenance ----------------------------------------------------------------
    def kill(self, name: str) -> None:
        """SIGKILL the instance (or worker) and its children, as a crash or the OOM killer would."""
        self.process(name).kill()

    def stop(self, name: str) -> int:
        """SIGTERM, as `systemctl stop` sends; returns the exit status once it has exited."""
        process = self.process(name)
        process.signal(signal.SIGTERM)
        return process.wait_exit(STOP_TIMEOUT)

    def start(self, name: str) -> None:
        """Start a stopped or killed process again (an instance on its port, passing HAProxy's checks again:
        UP, or DRAIN when it was drained)."""
        process = self.process(name)
        if process.running():
            raise AssertionError(f"{name} is running")
        if name in self.workers:
            process.start()
            return
        self.start_process(process)
        self.wait_state(name, "UP", "DRAIN")

    def drain(self, name: str) -> None:
        """HAProxy sends no new request to the instance (the README's step before stopping one)."""
        self.set_state(name, "drain")

    def ready(self, name: str) -> None:
        self.set_state(name, "ready")

    def set_state(self, name: str, state: str) -> None:
        answer = self.balancer.command(f"set server {BACKEND}/{name} state {state}")
        if answer.strip():
            raise AssertionError(f"HAProxy refused `set server {BACKEND}/{name} state {state}`: {answer.strip()}")

    def state(self, name: str) -> str:
        return self.balancer.states()[name]

    def wait_state(self, name: str, *statuses: str) -> None:
        wait_for(f"HAProxy seeing {name} {' or '.join(statuses)}", lambda: self.state(name) in statuses,
                 explain=lambda: f" (it is {self.state(name)}){self.process(name).explain()}")

    def process(self, name: str) -> Process:
        return self.instances.get(name) or self.workers[name]

    # ---- requests ------------------------------------------------------------------------------
    def get(self, path: str) -> tuple[int, str | None, bytes]:
        """(status, the instance that answered, body) of a GET through the balancer, on a new connection."""
        return http_get(self.url + path)

    def explain(self) -> str:
        """The last lines of every log, for a failure message."""
        processes = [*self.instances.values(), *self.workers.values()]
        if self.balancer is not None:
            processes.append(self.balancer.process)
        return "".join(process.explain() for process in processes)

    # ---- teardown ------------------------------------------------------------------------------
    def close(self) -> None:
        for process in [*self.instances.values(), *self.workers.values()]:
            process.kill()
        if self.balancer is not None:
            self.balancer.stop()


def worker_exists(command: list[str]) -> str | None:
    """None when `command --help` succeeds, else why the workers cannot start."""
    try:
        done = subprocess.run([*command, "--help"], capture_output=True, timeout=START_TIMEOUT, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{' '.join(command)} --help failed: {error}"
    if done.returncode == 0:
        return None
    return (f"`scanpass worker` does not exist yet ({' '.join(command[-3:])} --help exited {done.returncode}); "
            "it is being written with the job queue")


@pytest.fixture
def cluster_database(request, tmp_path):
    """The URL of a fresh PostgreSQL database (scanpass_<random>), dropped after the test; skips without
    haproxy or a PostgreSQL server at SCANPASS_TEST_DATABASE_URL."""
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (./test installs it on Debian: apt-get install haproxy)")
    admin = request.getfixturevalue("postgres_server").execution_options(isolation_level="AUTOCOMMIT")
    name = f"scanpass_{secrets.token_hex(8)}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:   # FORCE: a killed instance's connections may linger
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def cluster(tmp_path, cluster_database):
    """Makes the test's cluster: `cluster(serve=2, workers=0, serve_command=SERVE, worker_command=WORKER)`,
    started and with every instance UP in HAProxy; everything is stopped at teardown."""
    made: list[Cluster] = []

    def make(serve: int = 2, workers: int = 0, serve_command: list[str] = SERVE,
             worker_command: list[str] = WORKER, worker_env: dict | None = None) -> Cluster:
        if workers and (missing := worker_exists(worker_command)):
            pytest.skip(missing)
        deployment = Cluster(tmp_path / f"cluster{len(made) + 1}", cluster_database, serve, workers,
                             serve_command, worker_command, worker_env)
        made.append(deployment)
        return deployment.up()

    yield make
    for deployment in made:
        deployment.close()
