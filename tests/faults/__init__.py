"""Fault tests: what retailflow promises when processes overlap or die (issue 9).

The helpers start real processes (``python -c SCRIPT``): ``start_together`` lines them up on a start file,
so they begin their work within a millisecond or so of each other, and ``hold`` keeps one running in the
background (a scan or a run that holds something) until the test kills it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Prepended to every script: ``wait_for_go()`` says "ready" and blocks until the test says "go".
PRELUDE = r"""
import os, sys, time
_GO = sys.argv.pop(1)
def wait_for_go():
    open(f"{_GO}.ready.{os.getpid()}", "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(_GO):
        if time.monotonic() > deadline:
            sys.exit("never told to go")
        time.sleep(0.0005)
"""


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a child: no RETAILFLOW_* of this machine, the repo importable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAILFLOW_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


def start_together(
    script: str, argvs: Sequence[Sequence[str]], workdir: Path, env: dict[str, str] | None = None, timeout: float = 180
) -> list[Done]:
    """Run ``script`` once per argv, all at the same moment (each calls ``wait_for_go()`` when ready)."""
    go = workdir / f"go-{uuid.uuid4().hex[:8]}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PRELUDE + script, str(go), *map(str, argv)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env or clean_env(),
            cwd=workdir,
        )
        for argv in argvs
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(workdir.glob(f"{go.name}.ready.*"))) < len(procs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                break
            time.sleep(0.005)
        go.touch()
        outs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return [Done(p.returncode, out, err) for p, (out, err) in zip(procs, outs, strict=True)]


def run_script(script: str, *argv: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180) -> Done:
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, argv)],
        capture_output=True,
        text=True,
        env=env or clean_env(),
        cwd=cwd,
        timeout=timeout,
    )
    return Done(done.returncode, done.stdout, done.stderr)


def retailflow(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> Done:
    """The ``retailflow`` command in a process of its own."""
    return run_script("from retailflow.cli.root import main; main()", *args, cwd=cwd, env=env, timeout=timeout)


class Held:
    """A background process that prints one line once it holds what it was started to hold."""

    def __init__(self, script: str, *argv: str, cwd: Path, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script, *map(str, argv)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env or clean_env(),
            cwd=cwd,
        )
        self.line = self.proc.stdout.readline().strip()
        if not self.line:
            self.proc.wait(timeout=30)
            raise AssertionError(f"the holder exited: {self.proc.stderr.read()}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        """Kill it (SIGKILL: no cleanup runs) and reap it, so its pid is gone."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.proc.stderr.close()

    def __enter__(self) -> Held:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def one_line(text: str) -> bool:
    """Exactly one 'Error:' line, and no traceback."""
    return "Traceback" not in text and sum(line.startswith("Error:") for line in text.splitlines()) == 1
