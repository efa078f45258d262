"""The ``airflow`` trigger: a ready partition starts a run of the Airflow DAG (Airflow 3 REST API, v2).

Standard library only (urllib): it ships in the readiness Lambda's zip. One trigger is two requests
(readiness/airflow_api.py says where the API is and who logs in):

- ``POST {url}/auth/token`` with ``{"username", "password"}`` -> ``{"access_token"}`` (SimpleAuthManager and
  the FAB auth manager both answer it);
- ``POST {url}/api/v2/dags/{dag_id}/dagRuns`` with the bearer token and ``{"logical_date": null,
  "dag_run_id": ..., "conf": {"date", "manifest_version"}}``.

The run id is a pure function of the day and the partition version (``dag_run_id``), so triggering twice
is harmless: Airflow answers 409 (that run id exists) and the trigger reports ``already_triggered``. A 401
on the trigger (an expired token) gets one new token; 5xx, refused connections and timeouts are retried a
few times with backoff; any other 4xx fails at once. Every failure is one ``AirflowError`` line naming
what failed, the URL (never credentials) and what to do. With ``airflow_wake_instance`` set, the Airflow
host is woken first (readiness/wake.py).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from retailflow.config import Settings
from retailflow.errors import ConfigError
from retailflow.readiness.airflow_api import (
    ATTEMPTS,
    BACKOFF_S,
    REQUEST_TIMEOUT_S,
    AirflowApi,
    AirflowError,
    Response,
    resolve_credentials,
    resolve_url,
)
from retailflow.readiness.wake import wake
from retailflow.redact import redact_text, redact_url

# Airflow's DAG ids: letters, digits, _ . - (its KEY_REGEX), at most 250 characters.
DAG_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,250}")
# A partition version is a sha256 in hex (lake/manifest.py); anything else is refused, never pasted.
VERSION_PATTERN = re.compile(r"[0-9a-f]{16,64}")
# Airflow's default scheduler.allowed_run_id_pattern.
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9_.~:+-]+")
RUN_ID_PREFIX = "retailflow"
NO_MANIFEST = "nomanifest"

QUEUED = "queued"
ALREADY_TRIGGERED = "already_triggered"


def dag_run_id(day: dt.date, version: str | None) -> str:
    """The run id of ``day``'s partition ``version``: ``retailflow__2026-01-05__<16 hex>`` (or
    ``...__nomanifest``). Pure: the same partition always gives the same id, so Airflow refuses a second
    run of it (409)."""
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        raise AirflowError(f"A DAG run id needs a date, got {type(day).__name__}.")
    if version:
        if not VERSION_PATTERN.fullmatch(version):
            raise AirflowError(
                "The partition version is not a hex digest (16-64 characters of 0-9a-f); refusing to put it "
                "in a DAG run id.",
                "Check the partition's _manifest.json.",
            )
        tail = version[:16]
    else:
        tail = NO_MANIFEST
    run_id = f"{RUN_ID_PREFIX}__{day.isoformat()}__{tail}"
    assert RUN_ID_PATTERN.fullmatch(run_id)  # by construction
    return run_id


def check_dag_id(dag_id: str) -> str:
    if not isinstance(dag_id, str) or not DAG_ID_PATTERN.fullmatch(dag_id):
        raise ConfigError(
            "airflow_dag_id must be letters, digits, '_', '.' or '-' (at most 250 characters).",
            "Set it to the DAG's id, e.g. retailflow_nightly.",
        )
    return dag_id


def _detail(response: Response, api: AirflowApi) -> str:
    """Airflow's short explanation of a refusal (its ``detail``), one line, bounded, without our secrets."""
    detail = response.body.get("detail") if isinstance(response.body, dict) else None
    if detail is None:
        return ""
    text = detail if isinstance(detail, str) else json.dumps(detail)
    for secret in (api.credentials.password, api._token):
        if secret:
            text = text.replace(secret, "***")
    return redact_text(" ".join(text.split()))[:200]


class AirflowTrigger:
    """Starts ``day``'s run of ``settings.airflow_dag_id``; wakes its host first when
    ``airflow_wake_instance`` is set (readiness/wake.py)."""

    name = "airflow"
    records = True

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = ATTEMPTS,
        backoff: tuple[float, ...] = BACKOFF_S,
        timeout: float = REQUEST_TIMEOUT_S,
    ):
        self.settings = settings
        self.dag_id = check_dag_id(settings.airflow_dag_id)
        self.sleep = sleep
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"AirflowTrigger(dag_id={self.dag_id!r})"

    def api(self) -> AirflowApi:
        return AirflowApi(
            resolve_url(self.settings),
            resolve_credentials(self.settings),
            attempts=self.attempts,
            backoff=self.backoff,
            timeout=self.timeout,
            sleep=self.sleep,
        )

    def fire(self, day: dt.date, version: str) -> dict[str, Any]:
        run_id = dag_run_id(day, version)
        api = self.api()
        details: dict[str, Any] = {"dag_id": self.dag_id, "dag_run_id": run_id, "airflow_url": redact_url(api.url)}
        if self.settings.airflow_wake_instance:
            details["woke"] = wake(self.settings, api.url, sleep=self.sleep)
        body = {
            "logical_date": None,
            "dag_run_id": run_id,
            "conf": {"date": day.isoformat(), "manifest_version": version or None},
        }
        path = f"/api/v2/dags/{urllib.parse.quote(self.dag_id, safe='')}/dagRuns"
        what = f"Triggering DAG {self.dag_id} ({run_id})"
        response, attempts = api.call("POST", path, body, what)
        details["attempts"] = attempts
        if response.status in (200, 201):
            return {**details, "state": QUEUED}
        if response.status == 409:
            return {**details, "state": ALREADY_TRIGGERED, "note": f"Airflow already has the DAG run {run_id}."}
        detail = _detail(response, api)
        detail = f": {detail}" if detail else ""
        where = redact_url(api.url)
        if response.status == 404:
            raise AirflowError(
                f"DAG {self.dag_id} is not in that Airflow ({where}, HTTP 404{detail}); is the DAG folder "
                "deployed / `retailflow airflow up` running?",
                "Check airflow_dag_id too.",
            )
        if response.status in (401, 403):
            raise AirflowError(
                f"Airflow at {where} does not let {api.credentials} trigger DAG {self.dag_id} "
                f"(HTTP {response.status}{detail}).",
                "Give that user permission to create DAG runs, or use another user.",
            )
        raise AirflowError(
            f"{what} was refused by Airflow at {where} (HTTP {response.status}{detail}).",
            "Check the DAG in Airflow (import errors, paused, allowed run types); nothing was recorded, so the "
            "next scan tries again.",
        )
