"""Wake a self-hosted Airflow on demand, and put it back to sleep when it is idle.

With ``airflow_wake_instance`` set (an EC2 instance id ``i-...``, or a tag ``Key=Value`` naming exactly one
instance), the airflow trigger first calls ``wake``: it starts the instance when it is stopped (a
``stopping`` one is waited for, then started; ``pending`` / ``running`` are fine), waits until it runs, then
polls Airflow's health endpoint (``GET /api/v2/monitor/health``, no login) until the API server answers with
a healthy metadatabase; all within ``airflow_wake_timeout_s``. ``stop_if_idle`` is its other half, for the
DAG's last task or a schedule: it stops the instance only when Airflow has no running or queued DAG run
(``GET /api/v2/dags/~/dagRuns?state=running&state=queued``), the caller's own run aside. MWAA needs none of
this. EC2 clients come from ``retailflow.aws`` (endpoint and region from the settings), boto3 imported
only here, lazily (the Lambda runtime has it).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from retailflow.config import Settings
from retailflow.errors import ConfigError
from retailflow.readiness.airflow_api import (
    AirflowApi,
    AirflowError,
    _Unreachable,
    http_json,
    resolve_credentials,
    resolve_url,
)
from retailflow.redact import redact_url

INSTANCE_ID_PATTERN = re.compile(r"i-[0-9a-f]{8,17}")
# A tag as Key=Value: letters, digits and _ . : / + @ - (no spaces, no '=' in the key, no aws: keys).
TAG_PATTERN = re.compile(r"(?!aws:)([A-Za-z0-9_.:/+@-]{1,128})=([A-Za-z0-9_.:/+@=-]{1,256})")
POLL_S = 5.0
HEALTH_TIMEOUT_S = 5.0
HEALTH_PATH = "/api/v2/monitor/health"
LIVE_STATES = ("pending", "running", "stopping", "stopped")


class WakeError(AirflowError):
    """The Airflow host could not be found, started or stopped, or did not answer in time."""


@dataclass(frozen=True)
class WakeTarget:
    instance_id: str | None = None
    tag: tuple[str, str] | None = None

    @property
    def spec(self) -> str:
        return self.instance_id or f"{self.tag[0]}={self.tag[1]}"

    def __str__(self) -> str:
        return f"instance {self.instance_id}" if self.instance_id else f"the instances tagged {self.spec}"


def parse_target(text: str) -> WakeTarget:
    text = text.strip()
    if INSTANCE_ID_PATTERN.fullmatch(text):
        return WakeTarget(instance_id=text)
    if match := TAG_PATTERN.fullmatch(text):
        return WakeTarget(tag=(match.group(1), match.group(2)))
    raise ConfigError(
        "airflow_wake_instance is neither an instance id (i- and 8-17 hex digits) nor a tag Key=Value "
        "(letters, digits, _ . : / + @ -).",
        "Example: i-0123456789abcdef0, or Name=airflow.",
    )


def _ec2(settings: Settings) -> Any:
    from retailflow.aws import client

    return client(settings, "ec2")


def _aws_call(what: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except AirflowError:
        raise
    except Exception as exc:  # botocore's ClientError and friends
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise WakeError(
            f"{what} failed ({code}).",
            "Check airflow_wake_instance, and that this role may call ec2:DescribeInstances, ec2:StartInstances "
            "and ec2:StopInstances on it.",
        ) from None


def find_instance(ec2: Any, target: WakeTarget) -> dict[str, Any]:
    """The one instance ``target`` names (not terminated)."""
    if target.instance_id:
        answer = _aws_call(f"Describing {target}", lambda: ec2.describe_instances(InstanceIds=[target.instance_id]))
    else:
        key, value = target.tag
        filters = [{"Name": f"tag:{key}", "Values": [value]}, {"Name": "instance-state-name", "Values": LIVE_STATES}]
        answer = _aws_call(f"Looking up {target}", lambda: ec2.describe_instances(Filters=filters))
    instances = [i for r in answer.get("Reservations", []) for i in r.get("Instances", [])]
    instances = [i for i in instances if i["State"]["Name"] in LIVE_STATES]
    if not instances:
        raise WakeError(
            f"airflow_wake_instance {target.spec} names no instance (terminated ones do not count).",
            "Check airflow_wake_instance.",
        )
    if len(instances) > 1:
        ids = ", ".join(sorted(i["InstanceId"] for i in instances))
        raise WakeError(
            f"airflow_wake_instance {target.spec} matches several instances: {ids}.",
            "Name one: set airflow_wake_instance to its id, or tag only the Airflow host.",
        )
    return instances[0]


def _state(ec2: Any, instance_id: str) -> str:
    answer = _aws_call(f"Describing instance {instance_id}", lambda: ec2.describe_instances(InstanceIds=[instance_id]))
    return answer["Reservations"][0]["Instances"][0]["State"]["Name"]


class _Clock:
    def __init__(self, timeout_s: float, clock: Callable[[], float], sleep: Callable[[float], None], poll_s: float):
        self.clock, self.sleep, self.poll_s = clock, sleep, poll_s
        self.start = clock()
        self.deadline = self.start + timeout_s
        self.timeout_s = timeout_s

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def elapsed(self) -> float:
        return round(self.clock() - self.start, 1)

    def until(self, check: Callable[[], Any], what: Callable[[], str]) -> Any:
        """Call ``check`` until it returns something true; past the deadline, a WakeError saying ``what()``."""
        while True:
            if result := check():
                return result
            if self.remaining() <= 0:
                raise WakeError(
                    f"{what()} after {self.timeout_s:g} s (airflow_wake_timeout_s).",
                    "Look at the instance (console, system log) and Airflow's services on it; raise "
                    "airflow_wake_timeout_s if it just boots slowly.",
                )
            self.sleep(max(0.0, min(self.poll_s, self.remaining())))


def wake(
    settings: Settings,
    url: str,
    *,
    ec2: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    poll_s: float = POLL_S,
) -> dict[str, Any]:
    """Make sure the Airflow host runs and its API at ``url`` answers; returns what it did."""
    target = parse_target(settings.airflow_wake_instance)
    ec2 = ec2 or _ec2(settings)
    timer = _Clock(settings.airflow_wake_timeout_s, clock, sleep, poll_s)
    instance = find_instance(ec2, target)
    instance_id, was = instance["InstanceId"], instance["State"]["Name"]
    state = was
    if state == "stopping":
        last = {"state": state}

        def stopped() -> bool:
            last["state"] = _state(ec2, instance_id)
            return last["state"] == "stopped"

        timer.until(stopped, lambda: f"Instance {instance_id} is still {last['state']}, not stopped,")
        state = "stopped"
    started = False
    if state == "stopped":
        _aws_call(f"Starting instance {instance_id}", lambda: ec2.start_instances(InstanceIds=[instance_id]))
        started = True
        state = "pending"
    if state != "running":
        last = {"state": state}

        def running() -> bool:
            last["state"] = _state(ec2, instance_id)
            if last["state"] in ("shutting-down", "terminated"):
                raise WakeError(f"Instance {instance_id} is {last['state']}: it cannot host Airflow any more.")
            return last["state"] == "running"

        timer.until(running, lambda: f"Instance {instance_id} is {last['state']}, not running,")
    running_after = timer.elapsed()

    seen = {"answer": "no answer yet"}

    def healthy() -> dict[str, Any] | None:
        try:
            response = http_json(
                "GET", f"{url}{HEALTH_PATH}", timeout=max(0.1, min(HEALTH_TIMEOUT_S, timer.remaining()))
            )
        except _Unreachable as exc:
            seen["answer"] = str(exc)
            return None
        body = response.body if isinstance(response.body, dict) else {}
        statuses = {
            name: body[name].get("status") for name in ("metadatabase", "scheduler") if isinstance(body.get(name), dict)
        }
        seen["answer"] = f"HTTP {response.status}" + (f" {statuses}" if statuses else "")
        if response.status == 200 and statuses.get("metadatabase") != "unhealthy":
            return statuses or {"status": "answered"}
        return None

    health = timer.until(healthy, lambda: f"Airflow at {redact_url(url)} is not healthy ({seen['answer']})")
    return {
        "instance_id": instance_id,
        "was": was,
        "started": started,
        "running_after_s": running_after,
        "healthy_after_s": timer.elapsed(),
        "health": health,
    }


def stop_if_idle(
    settings: Settings,
    *,
    ignore_run: tuple[str, str] | None = None,
    ec2: Any = None,
    api: AirflowApi | None = None,
) -> dict[str, Any]:
    """Stop the Airflow host when no DAG run is running or queued. ``ignore_run`` (dag_id, dag_run_id): the
    caller's own run (the DAG's last task), which is still running while it asks."""
    if not settings.airflow_wake_instance:
        raise ConfigError("stop_if_idle needs airflow_wake_instance (the instance to stop).")
    target = parse_target(settings.airflow_wake_instance)
    ec2 = ec2 or _ec2(settings)
    instance = find_instance(ec2, target)
    instance_id, state = instance["InstanceId"], instance["State"]["Name"]
    if state != "running":
        return {"instance_id": instance_id, "state": state, "stopped": False, "reason": f"the instance is {state}"}
    api = api or AirflowApi(resolve_url(settings), resolve_credentials(settings))
    active = [r for r in api.active_runs() if ignore_run is None or (r["dag_id"], r["dag_run_id"]) != tuple(ignore_run)]
    if active:
        return {
            "instance_id": instance_id,
            "state": state,
            "stopped": False,
            "reason": f"{len(active)} DAG run(s) running or queued",
            "active_runs": [f"{r['dag_id']}/{r['dag_run_id']}" for r in active],
        }
    _aws_call(f"Stopping instance {instance_id}", lambda: ec2.stop_instances(InstanceIds=[instance_id]))
    return {"instance_id": instance_id, "state": "stopping", "stopped": True, "reason": "no DAG run is active"}
