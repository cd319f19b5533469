"""A throw-away PostgreSQL cluster for tests (and benches): ``initdb`` in a temporary directory,
``pg_ctl start`` with a UNIX socket in that directory and no TCP listener at all, stopped and
removed by ``stop`` (or when the process exits).

Nothing is installed here and no system service is touched: ``binaries()`` finds ``initdb``,
``pg_ctl`` and ``postgres`` under ``/usr/lib/postgresql/<newest>/bin`` (Debian's layout) or on
PATH, and ``missing()`` says what is absent (``apt-get install postgresql``).

As root: ``initdb`` and ``postgres`` refuse to run as root, so they run as an unprivileged user
(the ``postgres`` user Debian's package creates, else ``nobody``) through ``runuser``, and the
cluster's directory is handed to that user. Clients (the tests, as root) connect over the socket
as the cluster's superuser ``pochta`` with ``trust`` authentication: the socket is in a directory
only the cluster's user and root can enter.

Durability is switched off (``fsync``, ``synchronous_commit``, ``full_page_writes``): the cluster
lives for one test session and its data is thrown away, so a crash test of durability does not
belong on it.

Databases: ``create_database(name, template=...)`` copies a template database (PostgreSQL copies
the files, tens of milliseconds), so a schema built once in a template serves a fresh database
per test.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["APT_LINE", "PgCluster", "binaries", "missing", "start_cluster"]

APT_LINE = "apt-get install postgresql"
SUPERUSER = "pochta"
_TOOLS = ("initdb", "pg_ctl", "postgres")
_DEBIAN_ROOT = Path("/usr/lib/postgresql")
_START_TIMEOUT = 60  # seconds for pg_ctl start -w; a loaded 2-core machine takes several
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _debian_bin_dirs() -> list[Path]:
    """Debian's versioned directories, the newest first."""
    if not _DEBIAN_ROOT.is_dir():
        return []
    versions = [p for p in _DEBIAN_ROOT.iterdir() if p.name.isdigit() and (p / "bin").is_dir()]
    return [p / "bin" for p in sorted(versions, key=lambda p: int(p.name), reverse=True)]


def binaries() -> dict[str, Path] | None:
    """Paths of initdb, pg_ctl and postgres from one installation, or None."""
    for directory in _debian_bin_dirs():
        found = {tool: directory / tool for tool in _TOOLS}
        if all(os.access(path, os.X_OK) for path in found.values()):
            return found
    on_path = {tool: shutil.which(tool) for tool in _TOOLS}
    if all(on_path.values()):
        # Debian's /usr/bin wrappers (pg_wrapper) point at the versioned directory above; a
        # source build puts the real binaries on PATH.
        return {tool: Path(path) for tool, path in on_path.items() if path is not None}
    return None


def missing() -> str | None:
    """Why no cluster can be started here, or None when one can."""
    if binaries() is None:
        return f"PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: {APT_LINE}"
    if os.geteuid() == 0 and _unprivileged_user() is None:
        return "running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root and runuser(1) is missing (util-linux)"
    return None


def _unprivileged_user() -> pwd.struct_passwd | None:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    return None


@dataclass
class PgCluster:
    """A running cluster; ``url(database)`` is what SQLAlchemy (psycopg 3) connects to."""

    root: Path
    socket_dir: Path
    port: int
    pg_ctl: Path
    run_as: str | None  # the user the server runs as when we are root
    _stopped: bool = field(default=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        # The host query parameter names the socket directory (libpq: a host starting with "/").
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"

    def conninfo(self, database: str = "postgres") -> str:
        """A libpq connection string for psycopg itself."""
        return f"host={self.socket_dir} port={self.port} user={SUPERUSER} dbname={database}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        """One statement in autocommit (CREATE/DROP DATABASE cannot run in a transaction)."""
        import psycopg

        with psycopg.connect(self.conninfo(database), autocommit=True) as conn:
            conn.execute(sql.encode())

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create ``name`` (a copy of ``template`` when given) and return its URL."""
        _check_name(name)
        clause = ""
        if template is not None:
            _check_name(template)
            clause = f" TEMPLATE {template}"
        self.execute(f"CREATE DATABASE {name}{clause}")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        _check_name(name)
        # WITH (FORCE): a test that left a connection open must not keep its database alive.
        self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server at once (its data is thrown away) and remove the directory."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            _run(
                [str(self.pg_ctl), "stop", "-D", str(self.data_dir), "-m", "immediate", "-w"],
                self.run_as,
                timeout=_START_TIMEOUT,
            )
        shutil.rmtree(self.root, ignore_errors=True)


def _check_name(name: str) -> None:
    # Database names go into SQL text (CREATE DATABASE takes no parameters): plain identifiers only.
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a plain database name: {name!r}")


def _run(argv: list[str], run_as: str | None, *, timeout: float) -> subprocess.CompletedProcess[str]:
    if run_as is not None:
        argv = ["runuser", "-u", run_as, "--", *argv]
    return subprocess.run(
        argv, check=True, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def start_cluster(base: Path | None = None) -> PgCluster:
    """initdb and start a cluster in a new temporary directory (under ``base`` if given).

    Raises RuntimeError with PostgreSQL's own output when initdb or the start fails."""
    reason = missing()
    if reason is not None:
        raise RuntimeError(reason)
    tools = binaries()
    assert tools is not None
    root = Path(tempfile.mkdtemp(prefix="pochta-pg-", dir=base))
    run_as: str | None = None
    if os.geteuid() == 0:
        user = _unprivileged_user()
        assert user is not None
        run_as = user.pw_name
        os.chown(root, user.pw_uid, user.pw_gid)  # mkdtemp made it 0700: only it (and root) enter
    data_dir, socket_dir = root / "data", root
    # The port is only a part of the socket's file name (.s.PGSQL.<port>): no TCP listener is opened.
    port = 5432
    try:
        _run(
            [
                str(tools["initdb"]),
                "-D",
                str(data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            run_as,
            timeout=_START_TIMEOUT,
        )
        options = " ".join(
            [
                "-c listen_addresses=''",
                f"-c unix_socket_directories='{socket_dir}'",
                f"-c port={port}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
                "-c shared_buffers=32MB",
            ]
        )
        _run(
            [
                str(tools["pg_ctl"]),
                "start",
                "-D",
                str(data_dir),
                "-w",
                "-t",
                str(_START_TIMEOUT),
                "-l",
                str(root / "postgres.log"),
                "-o",
                options,
            ],
            run_as,
            timeout=_START_TIMEOUT + 10,
        )
    except subprocess.CalledProcessError as error:
        log = root / "postgres.log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"starting PostgreSQL failed: {error.stderr or error.stdout}\n{detail}") from error
    cluster = PgCluster(root, socket_dir, port, tools["pg_ctl"], run_as)
    atexit.register(cluster.stop)  # a test session that dies still stops its server
    return cluster
