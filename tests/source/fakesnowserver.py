"""A throwaway Snowflake stand-in for tests: fakesnow in server mode (real HTTP, the real connector on the
client side, DuckDB underneath), run from its own venv ``.venv-fakesnow`` (``make fakesnow``: fakesnow pins
an older sqlglot than the main venv's), on 127.0.0.1 and a free port.

    server = fakesnowserver.start()   # None when .venv-fakesnow is missing
    server.url("RETAILFLOW", "PUBLIC")  # snowflake://retailflow@fakesnow/RETAILFLOW/PUBLIC?host=...&protocol=http
    server.stop()

The server keeps every database in memory, shared by all its connections, until it stops.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PYTHON = Path(__file__).resolve().parents[2] / ".venv-fakesnow" / "bin" / "python"
HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    port: int
    process: subprocess.Popen

    def url(self, database: str = "RETAILFLOW", schema: str = "PUBLIC", password: str | None = None) -> str:
        user = f"retailflow:{password}" if password else "retailflow"
        return f"snowflake://{user}@fakesnow/{database}/{schema}?host={HOST}&port={self.port}&protocol=http"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(timeout: float = 60) -> Server | None:
    if not PYTHON.exists():
        return None
    port = _free_port()
    process = subprocess.Popen(
        [str(PYTHON), "-m", "fakesnow", "-s", "--host", HOST, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"fakesnow server exited with code {process.returncode}")
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return Server(port, process)
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"fakesnow server did not listen on {HOST}:{port} within {timeout}s")
