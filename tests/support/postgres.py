"""A real PostgreSQL server for the test session: Debian's `postgresql` binaries (initdb,
postgres) on a data directory in a temporary directory, listening only on 127.0.0.1 on a free
port (password auth) with its unix socket in that directory, stopped at the end of the session.

initdb and postgres refuse to run as root, so when the tests run as root the server runs as
the `postgres` system user the Debian package creates (the temporary directory is chowned to
it). The server is the test process's own child and gets SIGINT (fast shutdown) if the test
process dies without stopping it, so a killed session leaves no server behind.

Tests ask for `postgres_url` (a fresh, empty database per test, dropped after it) or
`store_url` (parametrized: a SQLite file, then a PostgreSQL database). Without the binaries,
asyncpg, or (as root) a `postgres` user, the PostgreSQL cases are skipped, saying which.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "glasscloud"
PASSWORD = "glasscloud-test"
_START_TIMEOUT = 30.0
_PR_SET_PDEATHSIG = 1
_SETTINGS = {
    # A throwaway cluster: durability costs time and protects nothing here.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


def find_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and postgres, or the
    directory of `initdb` on PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    return None


def unavailable_reason() -> str | None:
    """Why no PostgreSQL server can be started here, or None if one can."""
    if importlib.util.find_spec("asyncpg") is None:
        return "asyncpg is not installed (pip install -e '.[test]')"
    if find_bindir() is None:
        return (
            "PostgreSQL server binaries (initdb, postgres) not found under "
            "/usr/lib/postgresql/*/bin: apt-get install postgresql (scripts/test does)"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """One running PostgreSQL cluster. `url(name)` is a glasscloud database URL."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.run_as = "postgres" if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="glasscloud-pg-", dir=_temp_base()))
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        if self.run_as:
            account = pwd.getpwnam(self.run_as)
            os.chown(self.root, account.pw_uid, account.pw_gid)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresServer:
        self._initdb()
        for _attempt in range(3):  # the free port may be taken between choosing and binding
            self.port = free_port()
            if self._start_postgres():
                return self
        raise RuntimeError(f"PostgreSQL did not start; log:\n{self.log_tail()}")

    def stop(self) -> None:
        """Fast shutdown (clients disconnected), then remove the temporary directory."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self) -> str:
        """A fresh empty database; returns its name."""
        name = f"test_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement with psql over the unix socket; its output (tuples only)."""
        result = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-tA",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.root),
                "-p",
                str(self.port),
                "-U",
                USER,
                "-d",
                database,
                "-c",
                statement,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql {statement!r} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _initdb(self) -> None:
        password_file = self.root / "password"
        password_file.write_text(PASSWORD + "\n")
        self._chown(password_file)
        result = subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                USER,
                f"--pwfile={password_file}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **self._as_server_user(),
        )
        password_file.unlink()
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stderr.strip() or result.stdout}")

    def _start_postgres(self) -> bool:
        """Spawn the postmaster on `self.port` and wait until it accepts connections; False if
        it exited (most likely: the port was taken)."""
        args = [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        args += ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}"]
        for key, value in _SETTINGS.items():
            args += ["-c", f"{key}={value}"]
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child keeps writing to it)
        try:
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                preexec_fn=_die_with_parent,  # only a prctl call: safe between fork and exec
                **self._as_server_user(),
            )
        finally:
            log.close()
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            if self._accepts_connections():
                return True
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"PostgreSQL did not accept connections; log:\n{self.log_tail()}")

    def _accepts_connections(self) -> bool:
        result = subprocess.run(
            [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            check=False,
            timeout=10,
        )
        return result.returncode == 0

    def _as_server_user(self) -> dict:
        """Popen arguments: in the temporary directory, as the server's user when root."""
        if self.run_as is None:
            return {"cwd": self.root}
        return {"cwd": self.root, "user": self.run_as, "group": self.run_as, "extra_groups": []}

    def _chown(self, path: Path) -> None:
        if self.run_as:
            account = pwd.getpwnam(self.run_as)
            os.chown(path, account.pw_uid, account.pw_gid)


def _temp_base() -> str:
    """The system temp dir, or /tmp when the server's user could not reach it (a TMPDIR
    under root's home, say)."""
    base = tempfile.gettempdir()
    if os.geteuid() != 0:
        return base
    path = Path(base)
    for part in (path, *path.parents):
        if not part.stat().st_mode & 0o001:
            return "/tmp"
    return base


def _die_with_parent() -> None:
    """In the child, after it switched user: SIGINT (fast shutdown) when the test process
    dies. Set here, after the uid change, because changing credentials clears it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT, 0, 0, 0)


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(unavailable_reason())
    server = PostgresServer(bindir)
    try:
        yield server.start()
    finally:
        server.stop()


# -- pytest fixtures (imported by tests/conftest.py) ------------------------------------------

UNAVAILABLE = unavailable_reason()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server, started on first use."""
    if UNAVAILABLE is not None:
        pytest.skip(f"PostgreSQL tests skipped: {UNAVAILABLE}")
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A glasscloud URL of a fresh, empty database on the session's server."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on a SQLite file and on a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/glass.db"
    return request.getfixturevalue("postgres_url")
