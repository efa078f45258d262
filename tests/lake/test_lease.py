"""lake/lease.py: slots of generation files, taken by exclusive creation; records that expire, are renewed,
and are taken over when their process is gone. Real files, real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from retailflow.lake import Lake, lease
from retailflow.lake.lease import HELD, RELEASED, Holder, Lease, SlotBusy
from tests.faults import Held, start_together

SLOT = "_state/lease/test"

HOLD = r"""
import sys, time
from retailflow.lake import Lake, lease
got = lease.try_acquire(Lake(sys.argv[1]), sys.argv[2], "a holder", float(sys.argv[3]))
print("held" if isinstance(got, lease.Lease) else "busy", flush=True)
time.sleep(600)
"""

RACE = r"""
import sys
from retailflow.lake import Lake, lease
lake = Lake(sys.argv[1])
wait_for_go()
got = lease.try_acquire(lake, sys.argv[2], "a racer", 60)
print("won" if isinstance(got, lease.Lease) else "lost")
"""


def files(lake: Lake, slot: str = SLOT) -> list[str]:
    return sorted(n for n in lake.listdir(slot) if not n.startswith("_tmp."))


def plant(lake: Lake, generation: int, **fields) -> None:
    """A record written by hand: another host's holder, an expired one, ..."""
    now = time.time()
    record = {"state": HELD, "purpose": "a planted holder", "host": "elsewhere", "pid": 4242, "since": "then"}
    record |= {"expires": now + 600, "expires_at": "later"} | fields
    lake.write_json(f"{SLOT}/{generation:010d}.json", record)


def dead_pid() -> int:
    """The pid of a process that ran on this machine and is gone (reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- the storage primitive ----------------------------------------------------------------------------


def test_create_exclusive_creates_once(lake):
    assert lake.create_exclusive("_state/x/a.json", b"first") is True
    assert lake.create_exclusive("_state/x/a.json", b"second") is False
    assert lake.read_bytes("_state/x/a.json") == b"first"
    assert sorted(os.listdir(lake.path("_state/x"))) == ["a.json"]  # no temporary left behind


# -- taking, holding, releasing ---------------------------------------------------------------------------


def test_a_free_slot_is_taken_and_then_busy(lake):
    got = lease.try_acquire(lake, SLOT, "test holder", 60, run_id="r1")
    assert isinstance(got, Lease) and got.generation == 1 and got.takeover is None
    record = lake.read_json(f"{SLOT}/0000000001.json")
    assert record["state"] == HELD and record["pid"] == os.getpid() and record["host"] == lease.HOST
    assert record["purpose"] == "test holder" and record["run_id"] == "r1"
    assert record["expires"] > time.time() + 50

    busy = lease.try_acquire(lake, SLOT, "another", 60)
    assert isinstance(busy, Holder)
    assert busy.pid == os.getpid() and busy.purpose == "test holder"
    assert f"pid {os.getpid()}" in busy.describe() and "since" in busy.describe()


def test_release_frees_the_slot_and_records_the_outcome(lake):
    first = lease.try_acquire(lake, SLOT, "first", 60)
    first.release({"status": "done"})
    assert files(lake) == ["0000000002.json"]  # the held generation is pruned
    released = lake.read_json(f"{SLOT}/0000000002.json")
    assert released["state"] == RELEASED and released["outcome"] == {"status": "done"}

    second = lease.try_acquire(lake, SLOT, "second", 60)
    assert isinstance(second, Lease) and second.generation == 3
    assert second.takeover is None  # a released slot is free: nobody is taken over
    assert files(lake) == ["0000000003.json"]


def test_a_dead_holder_is_taken_over(lake, tmp_path):
    with Held(HOLD, lake.url, SLOT, "600", cwd=tmp_path) as holder:
        assert holder.line == "held"
        assert isinstance(lease.try_acquire(lake, SLOT, "me", 60), Holder)  # alive: busy
        holder.kill()
        got = lease.try_acquire(lake, SLOT, "me", 60)
    assert isinstance(got, Lease)
    assert got.took_over.pid == holder.pid
    assert f"its process (pid {holder.pid} on {lease.HOST}) is gone" in got.takeover


def test_an_expired_holder_of_another_host_is_taken_over(lake):
    plant(lake, 7, expires=time.time() - 1, expires_at="2026-01-01T00:00:00+00:00")
    got = lease.try_acquire(lake, SLOT, "me", 60)
    assert isinstance(got, Lease) and got.generation == 8
    assert "it expired at 2026-01-01T00:00:00+00:00" in got.takeover and "host elsewhere" in got.takeover


def test_a_live_holder_of_another_host_is_busy_even_with_a_pid_that_is_not_here(lake):
    plant(lake, 1, pid=dead_pid())  # that pid means nothing on another host
    assert isinstance(lease.try_acquire(lake, SLOT, "me", 60), Holder)


def test_a_reused_pid_is_not_its_old_process(lake):
    plant(lake, 1, host=lease.HOST, pid_ns=lease.PID_NS, pid=os.getpid(), pid_start="1")  # our pid, not us
    got = lease.try_acquire(lake, SLOT, "me", 60)
    assert isinstance(got, Lease) and "is gone" in got.takeover


def test_an_unreadable_record_is_taken_over(lake):
    lake.write_bytes(f"{SLOT}/0000000001.json", b"{half")
    got = lease.try_acquire(lake, SLOT, "me", 60)
    assert isinstance(got, Lease) and "unreadable" in got.takeover


def test_a_pruned_generation_made_again_loses_to_the_newer_one(lake, monkeypatch):
    """A process that looked long ago (generation 2, stale) and creates generation 3, which was pruned since,
    must see generation 5 and back off: the highest generation is the only truth."""
    plant(lake, 5)  # live, another host
    real_current = lease.current
    calls = []

    def stale_view(lake_, slot):
        calls.append(slot)
        if len(calls) == 1:
            return 2, {"state": HELD, "expires": 0, "pid": 1, "host": "elsewhere"}
        return real_current(lake_, slot)

    monkeypatch.setattr(lease, "current", stale_view)
    got = lease.try_acquire(lake, SLOT, "me", 60)
    assert isinstance(got, Holder) and got.generation == 5
    assert files(lake) == ["0000000005.json"]  # its generation 3 was removed again


# -- renewal and loss -------------------------------------------------------------------------------------


def test_renew_pushes_the_expiry(lake):
    got = lease.try_acquire(lake, SLOT, "me", 5)
    before = lake.read_json(f"{SLOT}/0000000001.json")["expires"]
    time.sleep(0.05)
    assert got.renew() is True
    assert lake.read_json(f"{SLOT}/0000000001.json")["expires"] > before


def test_a_holder_that_was_taken_over_has_lost(lake):
    got = lease.try_acquire(lake, SLOT, "me", 60)
    plant(lake, 2)  # someone took over (this holder stalled past its expiry)
    assert got.renew() is False and got.lost
    got.release()
    assert files(lake) == ["0000000001.json", "0000000002.json"]  # nothing written over the new holder
    assert lake.read_json(f"{SLOT}/0000000002.json")["purpose"] == "a planted holder"


def test_keep_alive_renews_while_the_block_runs(lake):
    got = lease.try_acquire(lake, SLOT, "me", 1.0)
    with got.keep_alive():
        time.sleep(1.6)  # longer than the time to live
        record = lake.read_json(f"{SLOT}/0000000001.json")
        assert record["expires"] > time.time()
        assert lease.stale_reason(record) is None
    got.release()


def test_annotate_writes_at_once(lake):
    got = lease.try_acquire(lake, SLOT, "a run", 60)
    got.annotate(purpose="run R", run_id="R")
    assert lake.read_json(f"{SLOT}/0000000001.json")["purpose"] == "run R"


# -- waiting --------------------------------------------------------------------------------------------


def test_acquire_waits_for_the_holder_to_release(lake):
    first = lease.try_acquire(lake, SLOT, "first", 60)
    seen = []
    threading.Timer(0.3, first.release).start()
    started = time.monotonic()
    second = lease.acquire(lake, SLOT, "second", 60, wait_s=10, on_wait=seen.append, poll_s=0.05)
    assert isinstance(second, Lease) and 0.25 < time.monotonic() - started < 5
    assert [h.purpose for h in seen] == ["first"]


def test_acquire_without_waiting_fails_at_once_naming_the_holder(lake):
    lease.try_acquire(lake, SLOT, "first", 60)
    started = time.monotonic()
    with pytest.raises(SlotBusy) as busy:
        lease.acquire(lake, SLOT, "second", 60, wait_s=0)
    assert time.monotonic() - started < 1
    assert busy.value.holder.purpose == "first"


def test_acquire_gives_up_after_the_wait(lake):
    lease.try_acquire(lake, SLOT, "first", 60)
    started = time.monotonic()
    with pytest.raises(SlotBusy):
        lease.acquire(lake, SLOT, "second", 60, wait_s=0.5, poll_s=0.1)
    assert 0.45 < time.monotonic() - started < 3


def test_the_writer_lease_message_is_one_line_naming_the_holder(lake):
    lease.take_writer_lease(lake, "run R1", ttl_s=60, wait_s=0)
    with pytest.raises(SlotBusy) as busy:
        lease.take_writer_lease(lake, "run R2", ttl_s=60, wait_s=0)
    text = str(busy.value)
    assert "\n" not in text
    assert "run R1" in text and f"host {lease.HOST}" in text and f"pid {os.getpid()}" in text and "since" in text
    assert "lease_wait_s" in text


# -- processes -----------------------------------------------------------------------------------------


def test_process_alive():
    assert lease.process_alive(os.getpid(), lease.process_start(os.getpid()))
    assert not lease.process_alive(dead_pid())
    assert not lease.process_alive(0)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while lease._proc_stat(zombie.pid) and lease._proc_stat(zombie.pid)[0] != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert not lease.process_alive(zombie.pid)  # exited, not yet reaped: gone all the same
    finally:
        zombie.wait()


@pytest.mark.parametrize("stale", [False, True], ids=["free slot", "stale holder"])
def test_of_racers_exactly_one_takes_the_slot(lake, tmp_path, stale):
    for round_ in range(5):
        slot = f"{SLOT}-{round_}"
        if stale:
            lake.write_json(
                f"{slot}/0000000003.json",
                {"state": HELD, "host": lease.HOST, "pid_ns": lease.PID_NS, "pid": dead_pid(), "expires": 1e12},
            )
        done = start_together(RACE, [[lake.url, slot]] * 4, tmp_path)
        assert all(d.returncode == 0 for d in done), [d.stderr for d in done]
        assert sorted(d.stdout.strip() for d in done) == ["lost", "lost", "lost", "won"]
        (current,) = files(lake, slot)
        record = json.loads(Path(lake.path(f"{slot}/{current}")).read_text())
        assert record["purpose"] == "a racer" and current == ("0000000004.json" if stale else "0000000001.json")
