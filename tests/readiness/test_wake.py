"""Waking the Airflow host (readiness/wake.py) against the local EC2 API (moto) and a stand-in for
Airflow's health and DAG-run endpoints (tests/readiness/airflow_server.py); ``stop_if_idle`` likewise."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from retailflow.config import Settings
from retailflow.errors import ConfigError
from retailflow.readiness.airflow_trigger import QUEUED, AirflowTrigger
from retailflow.readiness.handler import handler
from retailflow.readiness.wake import WakeError, WakeTarget, parse_target, stop_if_idle, wake
from tests.readiness import airflow_server
from tests.readiness.airflow_server import DAG_ID, PASSWORD, USERNAME, Reply

IMAGE = "ami-12c6146b"  # one of moto's built-in AMIs


@pytest.fixture
def airflow():
    fake, server = airflow_server.start()
    yield fake
    airflow_server.stop(server)


@pytest.fixture
def creds(monkeypatch):
    monkeypatch.setenv("RETAILFLOW_AIRFLOW_USERNAME", USERNAME)
    monkeypatch.setenv("RETAILFLOW_AIRFLOW_PASSWORD", PASSWORD)


class FakeClock:
    """time.monotonic and time.sleep for a test: sleeping advances the clock at once."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def launch(aws, name: str | None = None, stopped: bool = True) -> str:
    ec2 = aws.client("ec2")
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}] if name else []
    (instance,) = ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1, TagSpecifications=tags)["Instances"]
    if stopped:
        ec2.stop_instances(InstanceIds=[instance["InstanceId"]])
    return instance["InstanceId"]


def state_of(aws, instance_id: str) -> str:
    answer = aws.client("ec2").describe_instances(InstanceIds=[instance_id])
    return answer["Reservations"][0]["Instances"][0]["State"]["Name"]


def settings_for(target: str, airflow, **kwargs) -> Settings:
    return Settings(airflow_wake_instance=target, airflow_url=airflow.url, airflow_home="/nonexistent", **kwargs)


# -- the target ------------------------------------------------------------------------------------------


def test_targets():
    assert parse_target("i-0123456789abcdef0") == WakeTarget(instance_id="i-0123456789abcdef0")
    assert parse_target("i-0123abcd") == WakeTarget(instance_id="i-0123abcd")
    assert parse_target("Name=airflow") == WakeTarget(tag=("Name", "airflow"))
    assert parse_target("team:role=airflow-host") == WakeTarget(tag=("team:role", "airflow-host"))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "i-",
        "i-0123",
        "i-XYZ0123456",
        "i-0123456789abcdef0123",
        "Name",
        "=airflow",
        "Name=",
        "Name=air flow",
        "aws:cloudformation:stack-name=x",
        "Na me=x",
        "Name=x;rm -rf /",
        "Name=x\nOther=y",
        "Name=x,Values=y*",
    ],
)
def test_hostile_targets_are_refused(text):
    with pytest.raises(ConfigError, match="airflow_wake_instance"):
        parse_target(text)


# -- wake --------------------------------------------------------------------------------------------------


def test_wake_starts_a_stopped_instance_and_waits_for_airflow(aws, airflow):
    instance_id = launch(aws)
    assert state_of(aws, instance_id) == "stopped"
    clock = FakeClock()
    airflow.script("health", Reply(503), Reply(200, {"metadatabase": {"status": "unhealthy"}}))

    result = wake(settings_for(instance_id, airflow), airflow.url, sleep=clock.sleep, clock=clock, poll_s=5)

    assert state_of(aws, instance_id) == "running"
    assert result["instance_id"] == instance_id and result["was"] == "stopped" and result["started"] is True
    assert result["health"] == {"metadatabase": "healthy", "scheduler": "healthy"}
    assert [r.status for r in airflow.of("health")] == [503, 200, 200]  # the unhealthy 200 did not count
    assert all("authorization" not in r.headers for r in airflow.of("health"))  # no login needed
    assert result["healthy_after_s"] == 10.0 and clock.sleeps == [5, 5]


def test_wake_finds_the_instance_by_tag(aws, airflow):
    name = f"airflow-{uuid.uuid4().hex[:6]}"
    instance_id = launch(aws, name=name)
    launch(aws, name="something-else")
    result = wake(settings_for(f"Name={name}", airflow), airflow.url, sleep=lambda s: None)
    assert result["instance_id"] == instance_id and result["started"] is True
    assert state_of(aws, instance_id) == "running"


def test_a_running_instance_is_left_alone(aws, airflow):
    instance_id = launch(aws, stopped=False)
    result = wake(settings_for(instance_id, airflow), airflow.url, sleep=lambda s: None)
    assert result["started"] is False and result["was"] in ("pending", "running")
    assert len(airflow.of("health")) == 1


def test_an_unknown_or_ambiguous_target_is_a_clear_error(aws, airflow):
    with pytest.raises(WakeError, match=r"Describing instance i-0123456789abcdef0 failed \(InvalidInstanceID"):
        wake(settings_for("i-0123456789abcdef0", airflow), airflow.url, sleep=lambda s: None)
    with pytest.raises(WakeError, match="airflow_wake_instance Name=nobody names no instance"):
        wake(settings_for("Name=nobody", airflow), airflow.url, sleep=lambda s: None)
    first, second = launch(aws, name="twin"), launch(aws, name="twin")
    with pytest.raises(WakeError, match="airflow_wake_instance Name=twin matches several instances") as info:
        wake(settings_for("Name=twin", airflow), airflow.url, sleep=lambda s: None)
    assert first in str(info.value) and second in str(info.value)
    assert airflow.of("health") == []


def test_airflow_never_healthy_times_out_clearly(aws, airflow):
    instance_id = launch(aws)
    airflow.health = Reply(503)
    clock = FakeClock()
    with pytest.raises(WakeError) as info:
        wake(settings_for(instance_id, airflow, airflow_wake_timeout_s=60), airflow.url, sleep=clock.sleep, clock=clock)
    message = str(info.value)
    assert f"Airflow at {airflow.url} is not healthy (HTTP 503) after 60 s (airflow_wake_timeout_s)" in message
    assert "raise airflow_wake_timeout_s" in info.value.hint
    assert sum(clock.sleeps) == 60 and state_of(aws, instance_id) == "running"


def test_airflow_not_listening_times_out_clearly(aws):
    fake, server = airflow_server.start()
    airflow_server.stop(server)
    instance_id = launch(aws)
    clock = FakeClock()
    with pytest.raises(WakeError, match=r"is not healthy \(connection refused\) after 20 s"):
        wake(settings_for(instance_id, fake, airflow_wake_timeout_s=20), fake.url, sleep=clock.sleep, clock=clock)


class ScriptedEc2:
    """An EC2 client whose instance goes through the given states, one per describe (the last one stays)."""

    def __init__(self, *states: str):
        self.states = list(states)
        self.calls: list[str] = []

    def describe_instances(self, **kwargs):
        self.calls.append("describe")
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"Reservations": [{"Instances": [{"InstanceId": "i-0123456789abcdef0", "State": {"Name": state}}]}]}

    def start_instances(self, InstanceIds):
        self.calls.append("start")
        return {}


def test_a_stopping_instance_is_waited_for_then_started(airflow):
    # moto stops at once, so the in-between states come from a scripted client
    ec2 = ScriptedEc2("stopping", "stopping", "stopped", "pending", "pending", "running")
    clock = FakeClock()
    result = wake(
        settings_for("i-0123456789abcdef0", airflow), airflow.url, ec2=ec2, sleep=clock.sleep, clock=clock, poll_s=2
    )
    assert ec2.calls == ["describe", "describe", "describe", "start", "describe", "describe", "describe"]
    assert result["was"] == "stopping" and result["started"] is True and result["running_after_s"] == 6.0


def test_an_instance_stuck_pending_times_out_clearly(airflow):
    clock = FakeClock()
    with pytest.raises(WakeError, match="Instance i-0123456789abcdef0 is pending, not running, after 30 s"):
        wake(
            settings_for("i-0123456789abcdef0", airflow, airflow_wake_timeout_s=30),
            airflow.url,
            ec2=ScriptedEc2("pending"),
            sleep=clock.sleep,
            clock=clock,
        )
    assert airflow.of("health") == []


def test_a_terminating_instance_is_an_error(airflow):
    with pytest.raises(WakeError, match="is shutting-down"):
        wake(
            settings_for("i-0123456789abcdef0", airflow),
            airflow.url,
            ec2=ScriptedEc2("stopped", "shutting-down"),
            sleep=lambda s: None,
        )


def test_the_trigger_wakes_the_host_before_triggering(aws, airflow, creds):
    instance_id = launch(aws)
    settings = settings_for(instance_id, airflow, trigger="airflow")
    details = AirflowTrigger(settings, sleep=lambda s: None).fire(dt.date(2026, 1, 5), "ab" * 32)
    assert state_of(aws, instance_id) == "running"
    assert details["state"] == QUEUED
    assert details["woke"]["instance_id"] == instance_id and details["woke"]["started"] is True
    routes = [r.route for r in airflow.requests]
    assert routes == ["health", "token", "trigger"]


# -- stop_if_idle -------------------------------------------------------------------------------------


def test_stop_if_idle_stops_an_idle_host(aws, airflow, creds):
    instance_id = launch(aws, stopped=False)
    result = stop_if_idle(settings_for(instance_id, airflow))
    assert result["stopped"] is True and result["instance_id"] == instance_id
    assert state_of(aws, instance_id) == "stopped"
    (listing,) = airflow.of("list")
    assert listing.path == "/api/v2/dags/~/dagRuns"
    assert listing.query["state"] == ["running", "queued"]
    assert listing.headers["authorization"] == f"Bearer {airflow.tokens[0]}"


@pytest.mark.parametrize("state", ["running", "queued"])
def test_stop_if_idle_keeps_a_busy_host(aws, airflow, creds, state):
    instance_id = launch(aws, stopped=False)
    airflow.runs[(DAG_ID, "retailflow__2026-01-05__nomanifest")] = {
        "dag_id": DAG_ID,
        "dag_run_id": "retailflow__2026-01-05__nomanifest",
        "state": state,
    }
    airflow.runs[(DAG_ID, "old")] = {"dag_id": DAG_ID, "dag_run_id": "old", "state": "success"}
    result = stop_if_idle(settings_for(instance_id, airflow))
    assert result["stopped"] is False
    assert result["active_runs"] == [f"{DAG_ID}/retailflow__2026-01-05__nomanifest"]
    assert state_of(aws, instance_id) == "running"


def test_stop_if_idle_ignores_the_callers_own_run(aws, airflow, creds):
    instance_id = launch(aws, stopped=False)
    airflow.runs[(DAG_ID, "mine")] = {"dag_id": DAG_ID, "dag_run_id": "mine", "state": "running"}
    result = stop_if_idle(settings_for(instance_id, airflow), ignore_run=(DAG_ID, "mine"))
    assert result["stopped"] is True and state_of(aws, instance_id) == "stopped"


def test_stop_if_idle_leaves_a_stopped_host_alone_without_asking_airflow(aws, airflow, creds):
    instance_id = launch(aws)
    result = stop_if_idle(settings_for(instance_id, airflow))
    assert result == {
        "instance_id": instance_id,
        "state": "stopped",
        "stopped": False,
        "reason": "the instance is stopped",
    }
    assert airflow.requests == []


def test_stop_if_idle_needs_an_instance():
    with pytest.raises(ConfigError, match="needs airflow_wake_instance"):
        stop_if_idle(Settings())


def test_the_lambda_event_stop_if_idle(aws, airflow, creds, monkeypatch, tmp_path):
    instance_id = launch(aws, stopped=False)
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "RETAILFLOW_LAKE": str(tmp_path / "lake"),
        "RETAILFLOW_TRIGGER": "airflow",
        "RETAILFLOW_AIRFLOW_URL": airflow.url,
        "RETAILFLOW_AIRFLOW_WAKE_INSTANCE": instance_id,
    }.items():
        monkeypatch.setenv(name, value)
    assert handler({"action": "stop_if_idle"}, None)["stopped"] is True
    assert state_of(aws, instance_id) == "stopped"
