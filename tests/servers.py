"""Real servers on loopback for the tests and benchmarks that need them, started and stopped by
their callers in temporary folders: a PostgreSQL 15 cluster (initdb + pg_ctl) and a TVM RPC farm
(``python -m tvm.exec.rpc_tracker`` and ``python -m tvm.exec.rpc_server --tracker ... --key ...``,
the commands the README documents).

PostgreSQL refuses to run as root: as root (CI) the cluster runs as the ``postgres`` user that
Debian's package creates (``nobody`` where it does not exist), through ``setpriv``. Imported by path
(``--import-mode=importlib`` cannot import conftest): ``tests/tuning/conftest.py`` and
``bench/farm.py`` put this folder on ``sys.path``.
"""
from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PG_USER = "planctl"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server programs (initdb, pg_ctl), None when not installed."""
    found = shutil.which("pg_ctl")
    if found and Path(found).resolve().with_name("initdb").exists():
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


class PostgresServer:
    """A throw-away PostgreSQL cluster on 127.0.0.1: password authentication (scram) over TCP for the
    ``planctl`` superuser; the password is in :attr:`password`, never in a URL this class hands out."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self.folder = Path(tempfile.mkdtemp(prefix="planctl-pg-"))
        self.data = self.folder / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = next((u for u in ("postgres", "nobody") if _user_exists(u)), None)
            entry = pwd.getpwnam(user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
            self._as = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups", "--"]
            self._owner = (entry.pw_uid, entry.pw_gid)
        else:
            self._owner = None

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       cwd=self.folder, timeout=120)

    def start(self) -> "PostgresServer":
        pwfile = self.folder / "pw"
        pwfile.write_text(self.password + "\n")
        if self._owner:
            os.chown(pwfile, *self._owner)
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", PG_USER, f"--pwfile={pwfile}",
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")
        pwfile.unlink()
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                  str(self.folder / "server.log"), "-w", "-t", "60", "start")
        return self

    def url(self, database: str = "postgres") -> str:
        """``postgresql://planctl@127.0.0.1:PORT/DATABASE`` (no password: give it as $PGPASSWORD)."""
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database; returns its URL."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=PG_USER, password=self.password,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


class RpcFarm:
    """A TVM RPC tracker and ``servers`` RPC servers under one device key, all on 127.0.0.1, each
    its own process group (so :meth:`kill` takes a server down with the session processes it forked)."""

    def __init__(self, key: str = "planctl-test", servers: int = 2):
        self.key = key
        self.port = free_port()
        self.count = servers
        self.log_dir = Path(tempfile.mkdtemp(prefix="planctl-rpc-"))
        self.tracker: subprocess.Popen | None = None
        self.servers: list[subprocess.Popen] = []
        self.server_ports: list[int] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")
        return subprocess.Popen([sys.executable, "-m", *args], stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env={**os.environ, "TVM_NUM_THREADS": "1"})

    def start(self, timeout_s: float = 180) -> "RpcFarm":
        self.tracker = self._spawn("tracker", ["tvm.exec.rpc_tracker", "--host", "127.0.0.1", "--port",
                                               str(self.port), "--port-end", str(self.port + 1), "--silent"])
        for i in range(self.count):
            port = free_port()
            self.server_ports.append(port)
            self.servers.append(self._spawn(f"server{i}", [
                "tvm.exec.rpc_server", "--tracker", self.address, "--key", self.key, "--host", "127.0.0.1",
                "--port", str(port), "--port-end", str(port + 1)]))
        self.wait_for(self.count, timeout_s)
        return self

    def registered(self) -> int:
        """Servers the tracker lists under the key now (0 while the tracker is not up)."""
        from planctl.tuning.farm import farm_servers

        try:  # TVM's client waits 5 s per retry for a tracker that is not listening yet: ask the port first
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return len(farm_servers(self.address, self.key))
        except Exception:  # noqa: BLE001 - not up yet
            return 0

    def wait_for(self, count: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while self.registered() != count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{count} RPC server(s) under '{self.key}' not registered after {timeout_s:.0f} s; "
                                   f"logs in {self.log_dir}")
            time.sleep(0.5)

    def kill(self, index: int) -> None:
        """Kill server ``index`` and its session processes (SIGKILL: no goodbye to the tracker)."""
        _killpg(self.servers[index])

    def stop(self) -> None:
        for proc in [*self.servers, self.tracker]:
            if proc is not None:
                _killpg(proc)
        shutil.rmtree(self.log_dir, ignore_errors=True)


def _killpg(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)
