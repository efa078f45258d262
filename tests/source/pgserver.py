"""A throwaway PostgreSQL server for tests and benchmarks: Debian's binaries, a temporary data folder,
127.0.0.1 on a free port, trust authentication for the user ``retailflow``.

    server = pgserver.start()        # or: with pgserver.running() as server: ...
    server.url                       # postgresql://retailflow@127.0.0.1:PORT/retailflow
    server.stop()                    # pg_ctl stop -m fast, data folder removed

initdb refuses to run as root: as root the server runs as the ``postgres`` system user (``runuser``), in a
folder it owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

USER = "retailflow"
DATABASE = "retailflow"


def bin_dir() -> Path | None:
    """The folder of initdb/pg_ctl: on PATH, or Debian's /usr/lib/postgresql/<version>/bin (newest)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent  # /usr/local/bin/initdb may be a link into Debian's folder
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    data_dir: Path
    port: int
    bin: Path
    as_user: list[str]  # the command prefix running a binary as the server's owner ([] or runuser ...)

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.as_user, str(self.bin / tool), *args], check=True, capture_output=True, text=True, timeout=120
        )

    def create_database(self, name: str) -> str:
        """A new, empty database on this server; returns its URL."""
        self.run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name)
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{name}"

    def add_password_user(self, name: str, password: str) -> None:
        """A login role that must give its password (scram-sha-256) over TCP; every other role stays trusted."""
        import adbc_driver_postgresql.dbapi as pg

        con = pg.connect(self.url)
        with con.cursor() as cur:
            cur.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")  # test-only names, no quoting needed
        con.commit()
        con.close()
        hba = self.data_dir / "data" / "pg_hba.conf"
        hba.write_text(f"host all {name} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        self.run("pg_ctl", "-D", str(self.data_dir / "data"), "reload")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.run("pg_ctl", "-D", str(self.data_dir / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.data_dir, ignore_errors=True)


def start() -> Server:
    """Start a fresh server; raise RuntimeError with the tool's output if it cannot start."""
    binaries = bin_dir()
    if binaries is None:
        raise RuntimeError("no initdb binary (install Debian's postgresql package)")
    root = Path(tempfile.mkdtemp(prefix="retailflow-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres system user
        import pwd

        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    server = Server(root, _free_port(), binaries, as_user)
    data = root / "data"
    try:
        server.run("initdb", "-D", str(data), "-A", "trust", "-U", USER, "-E", "UTF8", "--locale=C.UTF-8")
        options = f"-c listen_addresses=127.0.0.1 -p {server.port} -k {root} -c fsync=off"
        server.run("pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start")
        server.create_database(DATABASE)
    except subprocess.CalledProcessError as exc:
        log = (root / "server.log").read_text(errors="replace") if (root / "server.log").exists() else ""
        server.stop()
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr or exc.stdout}{log}") from None
    return server


@contextlib.contextmanager
def running() -> Iterator[Server]:
    server = start()
    try:
        yield server
    finally:
        server.stop()
