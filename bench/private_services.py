"""A private PostgreSQL cluster and a private Redis server on loopback, for fault tests that
stop and start them: the shared services at 127.0.0.1:5432 and :6379 are never touched.

Used by ``bench/faults.py`` and ``tests/integration/test_faults.py``. No Django here: the
processes are started with the PostgreSQL 15 binaries and ``redis-server``.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(condition, *, timeout: float, what: str) -> float:
    """Poll ``condition`` until true; return the seconds it took (``TimeoutError`` after
    ``timeout``)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - started


def postgres_missing_reason() -> str | None:
    """Why a private cluster cannot be made here, or None."""
    if not (PG_BIN / "initdb").exists():
        return f"initdb not found in {PG_BIN} (set PG_BIN)"
    return None


class PrivatePostgres:
    """``initdb`` in a temporary folder (as the ``postgres`` user when run as root: initdb
    refuses root), trust authentication, loopback only, fsync off (a throw-away cluster)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="welfare-faults-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(
            PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync",
            "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip

    def _run(self, *command, check: bool = True) -> subprocess.CompletedProcess:
        args = [str(part) for part in command]
        if self._as_postgres:
            args = ["runuser", "-u", "postgres", "--", *args]
        return subprocess.run(args, check=check, capture_output=True, text=True, timeout=60)  # noqa: S603

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> float:
        """Start and wait until it accepts connections; the seconds it took."""
        started = time.monotonic()
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-o", options, "-l", self.log, "-w", "start")
        return time.monotonic() - started

    def stop(self, mode: str = "fast") -> None:
        """``fast``: disconnect every client and shut down, as a restart does."""
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop", check=False)

    def createdb(self, name: str) -> None:
        self._run(PG_BIN / "createdb", "-h", "127.0.0.1", "-p", self.port, "-U", "postgres", name)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """``redis-server`` without persistence on its own port."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    def url(self, database: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def start(self) -> float:
        started = time.monotonic()
        self.process = subprocess.Popen(  # noqa: S603
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(lambda: port_open(self.port), timeout=10, what="redis-server")
        return time.monotonic() - started

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    destroy = stop
