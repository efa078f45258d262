"""process.py without Superset: the state folder and its private files, the admin password, the environment of
the children, and every command line the module runs, against a stand-in virtualenv whose ``superset`` and
``python`` record how they were called (argv, stdin, environment). No secret may be in a command line, in a
child's environment or in the log. The real Superset is in test_superset.py.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from retailflow.dashboard.superset import process, server
from retailflow.dashboard.superset.errors import SupersetError
from retailflow.lake import layout

PASSWORD = "pw-Zq7-not-on-any-command-line"

# Stands in for bin/superset and bin/python: appends {argv, stdin, env} to calls.jsonl; `superset run` then
# waits to be stopped, `superset fail` exits 3.
STUB = """\
#!{python}
import json, os, sys, time
stdin = sys.stdin.read()
with open({calls!r}, "a", encoding="utf-8") as out:
    out.write(json.dumps({{"argv": sys.argv, "stdin": stdin, "env": dict(os.environ)}}) + "\\n")
print("stub", os.path.basename(sys.argv[0]), *sys.argv[1:2])
if sys.argv[1:2] == ["run"]:
    time.sleep(120)
if sys.argv[1:2] == ["fail"]:
    sys.exit(3)
"""


@pytest.fixture
def venv(tmp_path) -> Path:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for name in ("superset", "python"):
        path = venv / "bin" / name
        path.write_text(STUB.format(python=sys.executable, calls=str(tmp_path / "calls.jsonl")))
        path.chmod(0o755)
    return venv


@pytest.fixture
def state(tmp_path) -> Path:
    state = server.state_dir(tmp_path / "lake")
    state.mkdir(parents=True)
    return state


def calls(venv: Path) -> list[dict]:
    path = venv.parent / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def assert_no_secret(venv: Path, state: Path, secret: str) -> None:
    """Neither a command line, nor a child's environment, nor the state folder's log holds the secret."""
    for call in calls(venv):
        assert not any(secret in arg for arg in call["argv"]), call["argv"][:2]
        assert not any(secret in value for value in call["env"].values())
    assert secret not in (state / "superset.log").read_text()


def test_the_state_folder_comes_from_the_layout(tmp_path):
    assert layout.superset_state() == "_state/superset"
    assert server.STATE == layout.superset_state()
    assert server.state_dir(tmp_path / "lake") == tmp_path / "lake" / "_state" / "superset"


def test_private_files_are_readable_by_their_owner_only(state):
    process.make_secret_key(state)
    key = (state / "secret_key").read_text()
    process.make_secret_key(state)
    assert (state / "secret_key").read_text() == key and len(key.strip()) > 40  # made once, kept
    process.write_config(state)
    process.admin_password(state, None)
    for name in ("secret_key", "superset_config.py", "admin_password"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name
    assert sorted(p.name for p in state.iterdir()) == ["admin_password", "secret_key", "superset_config.py"]


def test_the_admin_password_is_given_else_from_the_environment_else_kept_else_new(state, monkeypatch):
    monkeypatch.delenv(process.PASSWORD_ENV, raising=False)
    new, shown, changed = process.admin_password(state, None)
    assert len(new) >= 12 and (shown, changed) == (True, False)
    assert process.admin_password(state, None) == (new, False, False)
    assert process.admin_password(state, new) == (new, False, False)  # the same one again: nothing to change
    monkeypatch.setenv(process.PASSWORD_ENV, "from-the-env")
    assert process.admin_password(state, None) == ("from-the-env", True, True)
    assert process.admin_password(state, "given") == ("given", True, True)
    assert (state / "admin_password").read_text() == "given\n"


def test_children_get_the_state_folder_and_never_the_password_variable(venv, state, monkeypatch):
    monkeypatch.setenv(process.PASSWORD_ENV, PASSWORD)
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    env = process.superset_env(venv, state)
    assert process.PASSWORD_ENV not in env and "PYTHONPATH" not in env
    assert PASSWORD not in "".join(env.values())
    assert env["SUPERSET_HOME"] == str(state)
    assert env["SUPERSET_CONFIG_PATH"] == str(state / "superset_config.py")
    assert env["PATH"].startswith(str(venv / "bin") + os.pathsep)


def test_the_admin_command_line_has_no_password_parameter():
    for reset in (False, True):
        argv = process.admin_command(Path("/v"), reset)
        assert argv[:3] == ["/v/bin/python", "-c", process.ADMIN_SCRIPT]
        assert argv[3:] == [
            process.USERNAME,
            "retailflow",
            "admin",
            "admin@retailflow.invalid",
            "reset" if reset else "keep",
        ]


def test_setup_passes_the_password_on_stdin_only(venv, state, monkeypatch):
    monkeypatch.setenv(process.PASSWORD_ENV, PASSWORD)  # and the children do not inherit it
    log = state / "superset.log"
    process.setup(venv, state, log, PASSWORD, changed=False)
    first = calls(venv)
    assert [c["argv"][1:3] for c in first] == [["db", "upgrade"], ["-c", process.ADMIN_SCRIPT], ["init"]]
    assert [Path(c["argv"][0]).name for c in first] == ["superset", "python", "superset"]
    assert first[1]["argv"][-1] == "keep" and first[1]["stdin"] == PASSWORD
    assert first[0]["stdin"] == first[2]["stdin"] == ""
    assert (state / "setup.done").read_text() == "unknown\n"  # the stand-in has no apache_superset dist-info

    process.setup(venv, state, log, PASSWORD, changed=False)  # set up already: nothing to run
    assert len(calls(venv)) == 3

    process.setup(venv, state, log, PASSWORD + "-new", changed=True)  # set up, but a new password
    (reset,) = calls(venv)[3:]
    assert reset["argv"][1:3] == ["-c", process.ADMIN_SCRIPT] and reset["argv"][-1] == "reset"
    assert reset["stdin"] == PASSWORD + "-new"

    process.set_admin(venv, state, log, PASSWORD + "-again", reset=True)
    assert calls(venv)[-1]["stdin"] == PASSWORD + "-again"
    assert_no_secret(venv, state, PASSWORD)
    assert "(password on stdin)" in log.read_text()


def test_a_failing_command_says_which_with_the_end_of_the_log(venv, state):
    log = state / "superset.log"
    with pytest.raises(SupersetError, match=r"`superset fail now` failed \(exit 3\)") as failed:
        process.run_superset(venv, state, log, "fail", "now")
    assert "stub superset fail" in str(failed.value) and str(log) in str(failed.value)


def test_the_server_is_started_and_stopped_as_a_process_group(venv, state, monkeypatch):
    monkeypatch.setenv(process.PASSWORD_ENV, PASSWORD)
    log = state / "superset.log"
    port = 18000 + os.getpid() % 1000
    pid = process.start(venv, state, log, port)
    try:
        assert (state / "superset.pid").read_text() == f"{pid}\n"
        process.record(state, pid, port, f"http://{process.HOST}:{port}")
        assert process.running(state) == {"pid": pid, "port": port, "url": f"http://127.0.0.1:{port}"}
        deadline = time.monotonic() + 30
        while not calls(venv) and time.monotonic() < deadline:  # the stand-in has recorded its call
            time.sleep(0.05)
        assert os.getpgid(pid) == pid  # its own group: stop() ends it and whatever it started
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if Path("/proc").is_dir() else None
        if cmdline is not None:
            assert b"run" in cmdline and b"127.0.0.1" in cmdline
            assert PASSWORD.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
    finally:
        process.stop(pid, timeout=10)
    assert not process.is_alive(pid)
    assert process.running(state) is None  # the pid file is there, but nothing runs
    process.forget(state)
    assert not (state / "superset.pid").exists() and not (state / "server.json").exists()
    (run,) = calls(venv)
    assert run["argv"][1:] == ["run", "-h", "127.0.0.1", "-p", str(port), "--with-threads"]
    assert_no_secret(venv, state, PASSWORD)
