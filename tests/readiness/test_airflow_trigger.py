"""The airflow trigger (readiness/airflow_trigger.py): its run id, its HTTP behaviour against a scripted
stand-in for Airflow's REST API (tests/readiness/airflow_server.py: 409, 401, 5xx, timeouts, 404 on demand),
where its credentials come from, and the scan end to end (once, also when two scans race)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from zoneinfo import ZoneInfo

import pytest

from retailflow.config import Settings
from retailflow.errors import ConfigError, RetailflowError
from retailflow.lake import layout
from retailflow.readiness.airflow_api import AirflowApi, AirflowError, Credentials, resolve_credentials, resolve_url
from retailflow.readiness.airflow_trigger import ALREADY_TRIGGERED, QUEUED, AirflowTrigger, dag_run_id
from retailflow.readiness.handler import run_scan
from retailflow.readiness.scan import ALREADY_TRIGGERED as SCAN_ALREADY_TRIGGERED
from retailflow.readiness.scan import IN_PROGRESS, TRIGGERED, scan_day
from tests.faults import clean_env, start_together
from tests.readiness import airflow_server
from tests.readiness.airflow_server import DAG_ID, PASSWORD, USERNAME, FakeAirflow, Reply

NOW = dt.datetime(2026, 1, 6, 3, 0, tzinfo=ZoneInfo("America/New_York"))
DAY = dt.date(2026, 1, 5)
VERSION = "3f5a0c9e1b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a"
# Airflow's default [scheduler] allowed_run_id_pattern
AIRFLOW_RUN_ID = re.compile(r"^[A-Za-z0-9_.~:+-]+$")


@pytest.fixture
def airflow():
    fake, server = airflow_server.start()
    yield fake
    airflow_server.stop(server)


@pytest.fixture
def creds(monkeypatch):
    monkeypatch.setenv("RETAILFLOW_AIRFLOW_USERNAME", USERNAME)
    monkeypatch.setenv("RETAILFLOW_AIRFLOW_PASSWORD", PASSWORD)


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make(airflow: FakeAirflow, sleeps: list[float], **kwargs) -> AirflowTrigger:
    settings = Settings(trigger="airflow", airflow_url=airflow.url, airflow_home="/nonexistent", **kwargs)
    return AirflowTrigger(settings, sleep=sleeps.append)


# -- the run id ---------------------------------------------------------------------------------------------


def test_dag_run_id_golden_cases():
    assert dag_run_id(DAY, VERSION) == "retailflow__2026-01-05__3f5a0c9e1b2d4f6a"
    assert dag_run_id(DAY, "0123456789abcdef") == "retailflow__2026-01-05__0123456789abcdef"
    assert dag_run_id(dt.date(2026, 12, 31), "f" * 64) == "retailflow__2026-12-31__ffffffffffffffff"
    assert dag_run_id(DAY, None) == "retailflow__2026-01-05__nomanifest"
    assert dag_run_id(DAY, "") == "retailflow__2026-01-05__nomanifest"
    for run_id in (dag_run_id(DAY, VERSION), dag_run_id(DAY, None)):
        assert AIRFLOW_RUN_ID.match(run_id)
    assert dag_run_id(DAY, VERSION) == dag_run_id(DAY, VERSION)  # pure
    assert dag_run_id(DAY, VERSION) != dag_run_id(DAY + dt.timedelta(days=1), VERSION)


@pytest.mark.parametrize(
    "version",
    [
        "../../../etc/passwd",
        "3f5a0c9e1b2d4f6a/../x",
        "3f5a0c9e 1b2d4f6a",
        "3F5A0C9E1B2D4F6A",  # not how manifest.digest writes it
        "3f5a0c9e1b2d4f6",  # too short
        "a" * 65,
        "3f5a0c9e1b2d4f6a\n",
        "3f5a0c9e1b2d4f6a?x=1",
        "٣f5a0c9e1b2d4f6a",  # an Arabic-Indic digit
        "zzzzzzzzzzzzzzzz",
    ],
)
def test_hostile_versions_are_refused(version):
    with pytest.raises(AirflowError, match="not a hex digest"):
        dag_run_id(DAY, version)


@pytest.mark.parametrize(
    "dag_id", ["", "a/b", "../dags", "my dag", "dag?x=1", "dag%2Fx", "x" * 251, "dag\n", "dág", "~"]
)
def test_hostile_dag_ids_are_refused(dag_id):
    with pytest.raises(ConfigError, match="airflow_dag_id"):
        AirflowTrigger(Settings(airflow_dag_id=dag_id))


def test_plain_dag_ids_are_accepted():
    for dag_id in ("retailflow_nightly", "retail.flow-2", "x" * 250):
        assert AirflowTrigger(Settings(airflow_dag_id=dag_id)).dag_id == dag_id


# -- HTTP behaviour --------------------------------------------------------------------------------------


def test_fire_logs_in_then_triggers_with_the_token_and_conf(airflow, creds, sleeps):
    details = make(airflow, sleeps).fire(DAY, VERSION)

    run_id = "retailflow__2026-01-05__3f5a0c9e1b2d4f6a"
    assert details == {
        "dag_id": DAG_ID,
        "dag_run_id": run_id,
        "airflow_url": airflow.url,
        "attempts": 1,
        "state": QUEUED,
    }
    (token_request,) = airflow.of("token")
    assert token_request.body == {"username": USERNAME, "password": PASSWORD}
    assert token_request.headers["content-type"] == "application/json"
    (trigger,) = airflow.of("trigger")
    assert trigger.path == f"/api/v2/dags/{DAG_ID}/dagRuns"
    assert trigger.headers["authorization"] == f"Bearer {airflow.tokens[0]}"
    assert trigger.body == {
        "logical_date": None,
        "dag_run_id": run_id,
        "conf": {"date": "2026-01-05", "manifest_version": VERSION},
    }
    assert trigger.status == 200 and sleeps == []
    assert airflow.runs[(DAG_ID, run_id)]["conf"]["manifest_version"] == VERSION


def test_a_partition_without_manifest_is_triggered_as_nomanifest(airflow, creds, sleeps):
    details = make(airflow, sleeps).fire(DAY, "")
    assert details["dag_run_id"] == "retailflow__2026-01-05__nomanifest"
    assert airflow.of("trigger")[0].body["conf"] == {"date": "2026-01-05", "manifest_version": None}


def test_409_means_already_triggered(airflow, creds, sleeps):
    trigger = make(airflow, sleeps)
    assert trigger.fire(DAY, VERSION)["state"] == QUEUED
    again = trigger.fire(DAY, VERSION)
    assert again["state"] == ALREADY_TRIGGERED and again["attempts"] == 1
    assert "already has the DAG run retailflow__2026-01-05__3f5a0c9e1b2d4f6a" in again["note"]
    assert [r.status for r in airflow.of("trigger")] == [200, 409]
    assert len(airflow.runs) == 1 and sleeps == []


def test_401_on_the_trigger_gets_a_new_token_once(airflow, creds, sleeps):
    airflow.script("trigger", Reply(401, {"detail": "Token expired"}))
    details = make(airflow, sleeps).fire(DAY, VERSION)

    assert details["state"] == QUEUED and details["attempts"] == 2
    assert len(airflow.of("token")) == 2
    first, second = airflow.of("trigger")
    assert first.headers["authorization"] == f"Bearer {airflow.tokens[0]}"
    assert second.headers["authorization"] == f"Bearer {airflow.tokens[1]}"
    assert airflow.tokens[0] != airflow.tokens[1] and sleeps == []


def test_an_expired_token_is_renewed_by_the_api_client(airflow, sleeps):
    api = AirflowApi(airflow.url, Credentials(USERNAME, PASSWORD, "test"), sleep=sleeps.append)
    assert api.active_runs() == []
    airflow.expire_tokens()  # the real thing: the token's lifetime ran out
    assert api.active_runs() == []
    assert len(airflow.of("token")) == 2 and [r.status for r in airflow.of("list")] == [200, 401, 200]


def test_401_twice_is_an_error_not_a_loop(airflow, creds, sleeps):
    airflow.script("trigger", Reply(401), Reply(401))
    with pytest.raises(AirflowError, match="does not let user 'admin' from the environment trigger"):
        make(airflow, sleeps).fire(DAY, VERSION)
    assert len(airflow.of("token")) == 2 and len(airflow.of("trigger")) == 2


def test_503s_are_retried_with_backoff_then_succeed(airflow, creds, sleeps):
    airflow.script("trigger", Reply(503), Reply(502))
    details = make(airflow, sleeps).fire(DAY, VERSION)
    assert details["state"] == QUEUED and details["attempts"] == 3
    assert [r.status for r in airflow.of("trigger")] == [503, 502, 200]
    assert sleeps == [1.0, 2.0]


def test_503_every_time_is_a_bounded_clear_error(airflow, creds, sleeps):
    airflow.script("trigger", *[Reply(503)] * 10)
    with pytest.raises(AirflowError) as info:
        make(airflow, sleeps).fire(DAY, VERSION)

    message = str(info.value)
    assert len(airflow.of("trigger")) == 4 and sleeps == [1.0, 2.0, 4.0]
    assert "\n" not in message
    assert message.startswith("Triggering DAG retailflow_nightly (retailflow__2026-01-05__3f5a0c9e1b2d4f6a) failed")
    assert f"Airflow at {airflow.url} gave HTTP 503 (4 attempts)" in message
    assert "next scan retries" in info.value.hint


def test_a_5xx_on_login_is_retried_too(airflow, creds, sleeps):
    airflow.script("token", Reply(500))
    assert make(airflow, sleeps).fire(DAY, VERSION)["state"] == QUEUED
    assert [r.status for r in airflow.of("token")] == [500, 201] and sleeps == [1.0]


def test_a_timeout_is_retried_and_the_lost_answer_shows_as_already_triggered(airflow, creds, sleeps):
    # Airflow creates the run but its answer comes too late: the retry finds the run (409), which is success.
    airflow.script("trigger", Reply(None, delay=1.0))

    def sleep(seconds: float) -> None:  # really waits: the late answer must land before the retry
        sleeps.append(seconds)
        time.sleep(seconds)

    trigger = AirflowTrigger(Settings(airflow_url=airflow.url, airflow_home="/nonexistent"), sleep=sleep, timeout=0.3)
    details = trigger.fire(DAY, VERSION)
    assert details["state"] == ALREADY_TRIGGERED and details["attempts"] == 2
    assert len(airflow.runs) == 1 and sleeps == [1.0]


def test_no_answer_at_all_is_a_clear_error(airflow, creds, sleeps):
    airflow.script("trigger", *[Reply(500, delay=1.0)] * 2)
    trigger = AirflowTrigger(
        Settings(airflow_url=airflow.url, airflow_home="/nonexistent"), sleep=sleeps.append, timeout=0.3, attempts=2
    )
    with pytest.raises(AirflowError, match=r"gave no answer within 0.3 s \(2 attempts\)"):
        trigger.fire(DAY, VERSION)


def test_a_refused_connection_is_retried_then_a_clear_error(creds, sleeps):
    fake, server = airflow_server.start()
    airflow_server.stop(server)  # nothing listens there any more
    with pytest.raises(AirflowError) as info:
        make(fake, sleeps).fire(DAY, VERSION)
    assert f"Logging in to Airflow failed: Airflow at {fake.url} gave connection refused (4 attempts)" in str(
        info.value
    )
    assert "retailflow airflow up" in info.value.hint
    assert sleeps == [1.0, 2.0, 4.0]


def test_404_names_the_dag_and_is_not_retried(airflow, creds, sleeps):
    with pytest.raises(AirflowError) as info:
        make(airflow, sleeps, airflow_dag_id="retailflow_weekly").fire(DAY, VERSION)
    message = str(info.value)
    assert "DAG retailflow_weekly is not in that Airflow" in message
    assert "Dag with dag_id: 'retailflow_weekly' not found" in message  # Airflow's own word
    assert "is the DAG folder deployed / `retailflow airflow up` running?" in message
    assert len(airflow.of("trigger")) == 1 and sleeps == []


@pytest.mark.parametrize("status", [400, 403, 422])
def test_other_4xx_are_not_retried(airflow, creds, sleeps, status):
    airflow.script("trigger", Reply(status, {"detail": "Dag has import errors"}))
    with pytest.raises(AirflowError, match=f"HTTP {status}: Dag has import errors"):
        make(airflow, sleeps).fire(DAY, VERSION)
    assert len(airflow.of("trigger")) == 1 and sleeps == []


def test_a_wrong_password_is_refused_without_retry(airflow, monkeypatch, sleeps):
    monkeypatch.setenv("RETAILFLOW_AIRFLOW_USERNAME", USERNAME)
    monkeypatch.setenv("RETAILFLOW_AIRFLOW_PASSWORD", "wrong-pw-also-secret")
    with pytest.raises(AirflowError, match="refused the login of user 'admin' from the environment") as info:
        make(airflow, sleeps).fire(DAY, VERSION)
    assert "wrong-pw-also-secret" not in str(info.value)
    assert len(airflow.of("token")) == 1 and airflow.of("trigger") == []


def test_the_dag_id_is_quoted_in_the_path(airflow, creds, sleeps):
    airflow.dags.add("retail.flow-2")
    assert make(airflow, sleeps, airflow_dag_id="retail.flow-2").fire(DAY, VERSION)["state"] == QUEUED
    assert airflow.of("trigger")[0].path == "/api/v2/dags/retail.flow-2/dagRuns"


# -- where the URL and the credentials come from ---------------------------------------------------------


def test_no_url_and_no_local_airflow_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError) as info:
        resolve_url(Settings(airflow_home=str(tmp_path / "none")))
    assert "airflow_url is empty" in str(info.value)
    assert "set airflow_url" in str(info.value).lower() and "retailflow airflow up" in str(info.value)


@pytest.mark.parametrize(
    "url",
    ["ftp://airflow", "airflow.example.com", "https://admin:hunter2-secret@airflow.example.com", "http://a:8080/?x=1"],
)
def test_bad_urls_are_refused_without_echoing_a_password(url):
    with pytest.raises(ConfigError) as info:
        resolve_url(Settings(airflow_url=url))
    assert "hunter2-secret" not in str(info.value)


def test_url_trailing_slash_and_path_prefix():
    assert resolve_url(Settings(airflow_url="https://example.com/airflow/")) == "https://example.com/airflow"


def test_credentials_from_the_environment_need_both(monkeypatch):
    monkeypatch.setenv("RETAILFLOW_AIRFLOW_USERNAME", "admin")
    with pytest.raises(ConfigError, match="RETAILFLOW_AIRFLOW_PASSWORD is not set"):
        resolve_credentials(Settings())


def write_local_airflow(home, url: str, password: str = PASSWORD) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "api.json").write_text(json.dumps({"url": url, "username": USERNAME}))
    (home / "passwords.json").write_text(json.dumps({USERNAME: password}))
    for name in ("api.json", "passwords.json"):
        (home / name).chmod(0o600)


def test_the_local_airflow_files_give_url_and_credentials(airflow, tmp_path, sleeps):
    home = tmp_path / ".airflow"
    write_local_airflow(home, airflow.url)
    settings = Settings(trigger="airflow", airflow_home=str(home))  # no airflow_url, no credentials set
    credentials = resolve_credentials(settings)
    assert credentials.username == USERNAME and credentials.source == str(home / "passwords.json")
    details = AirflowTrigger(settings, sleep=sleeps.append).fire(DAY, VERSION)
    assert details["state"] == QUEUED and details["airflow_url"] == airflow.url


def test_no_credentials_anywhere_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError) as info:
        resolve_credentials(Settings(airflow_home=str(tmp_path)))
    assert "RETAILFLOW_AIRFLOW_USERNAME" in str(info.value) and "retailflow airflow up" in str(info.value)


def test_a_local_passwords_file_without_the_user(tmp_path):
    write_local_airflow(tmp_path, "http://127.0.0.1:1")
    (tmp_path / "passwords.json").write_text(json.dumps({"someone": "else"}))
    with pytest.raises(ConfigError, match="no password for the user 'admin'"):
        resolve_credentials(Settings(airflow_home=str(tmp_path)))


def test_credentials_from_secrets_manager(aws, airflow, sleeps, tmp_path):
    aws.client("secretsmanager").create_secret(
        Name="retailflow/airflow", SecretString=json.dumps({"username": USERNAME, "password": PASSWORD})
    )
    settings = Settings(airflow_url=airflow.url, airflow_secret_id="retailflow/airflow", airflow_home=str(tmp_path))
    credentials = resolve_credentials(settings)
    assert credentials.username == USERNAME and credentials.source == "the secret retailflow/airflow"
    assert PASSWORD not in repr(credentials) and PASSWORD not in str(credentials)
    assert AirflowTrigger(settings, sleep=sleeps.append).fire(DAY, VERSION)["state"] == QUEUED
    assert airflow.of("token")[0].body == {"username": USERNAME, "password": PASSWORD}


def test_the_environment_comes_before_the_secret(aws, monkeypatch):
    monkeypatch.setenv("RETAILFLOW_AIRFLOW_USERNAME", "env-user")
    monkeypatch.setenv("RETAILFLOW_AIRFLOW_PASSWORD", "env-pw")
    assert resolve_credentials(Settings(airflow_secret_id="not-even-there")).username == "env-user"


def test_a_missing_or_malformed_secret_is_one_clear_line(aws):
    with pytest.raises(ConfigError, match=r"secret 'absent' cannot be read \(ResourceNotFoundException\)"):
        resolve_credentials(Settings(airflow_secret_id="absent"))
    aws.client("secretsmanager").create_secret(Name="bad", SecretString='{"username": "admin", "pass": "x-secret"}')
    with pytest.raises(ConfigError, match="not JSON with a non-empty username and password") as info:
        resolve_credentials(Settings(airflow_secret_id="bad"))
    assert "x-secret" not in str(info.value)


# -- the scan, end to end --------------------------------------------------------------------------------


def test_two_scans_of_a_ready_day_post_once(airflow, creds, sleeps, lake, day, exported):
    trigger = make(airflow, sleeps)
    first = scan_day(lake, day, trigger, now=NOW)
    second = scan_day(lake, day, trigger, now=NOW + dt.timedelta(minutes=30))

    assert first.status == TRIGGERED and second.status == SCAN_ALREADY_TRIGGERED
    assert len(airflow.of("trigger")) == 1 and len(airflow.runs) == 1
    record = lake.read_json(layout.trigger_record(day, exported.manifest_sha256))
    assert record["trigger"] == "airflow"
    assert record["details"]["state"] == QUEUED
    assert record["details"]["dag_run_id"] == dag_run_id(day, exported.manifest_sha256)
    assert airflow.of("trigger")[0].body["conf"] == {
        "date": day.isoformat(),
        "manifest_version": exported.manifest_sha256,
    }


def test_a_run_airflow_already_has_is_recorded_not_failed(airflow, creds, sleeps, lake, day, exported):
    # A scan that fired and died before recording: the next one fires again, Airflow says 409.
    run_id = dag_run_id(day, exported.manifest_sha256)
    airflow.runs[(DAG_ID, run_id)] = {"dag_id": DAG_ID, "dag_run_id": run_id, "state": "running"}
    outcome = scan_day(lake, day, make(airflow, sleeps), now=NOW)
    assert outcome.status == TRIGGERED and outcome.details["state"] == ALREADY_TRIGGERED
    assert lake.exists(layout.trigger_record(day, exported.manifest_sha256))


def test_run_scan_builds_the_airflow_trigger_from_settings(airflow, creds, lake, day, exported):
    settings = Settings(lake=lake.url, trigger="airflow", airflow_url=airflow.url)
    outcome = run_scan(settings, day=day, now=NOW)
    assert outcome.status == TRIGGERED and outcome.details["dag_run_id"] == dag_run_id(day, exported.manifest_sha256)


RACE = r"""
import datetime as dt, json, sys
from zoneinfo import ZoneInfo
from retailflow.config import Settings
from retailflow.lake import Lake
from retailflow.readiness.airflow_trigger import AirflowTrigger
from retailflow.readiness.scan import scan_day

lake_url, day, url = sys.argv[1:4]
trigger = AirflowTrigger(Settings(trigger="airflow", airflow_url=url))
lake = Lake(lake_url)
wait_for_go()
now = dt.datetime(2026, 1, 6, 3, 0, tzinfo=ZoneInfo("America/New_York"))
print(json.dumps(scan_day(lake, dt.date.fromisoformat(day), trigger, now=now).as_dict()))
"""


def test_two_racing_scans_trigger_once(airflow, lake, day, exported, tmp_path):
    env = clean_env(RETAILFLOW_AIRFLOW_USERNAME=USERNAME, RETAILFLOW_AIRFLOW_PASSWORD=PASSWORD)
    argv = [lake.url, day.isoformat(), airflow.url]
    done = start_together(RACE, [argv, argv], tmp_path, env=env, timeout=120)

    assert [d.returncode for d in done] == [0, 0], [d.stderr for d in done]
    statuses = sorted(json.loads(d.stdout.strip().splitlines()[-1])["status"] for d in done)
    assert statuses.count(TRIGGERED) == 1, statuses
    assert set(statuses) <= {TRIGGERED, IN_PROGRESS, SCAN_ALREADY_TRIGGERED}
    assert len(lake.listdir(layout.triggers(day))) == 1
    answers = [r.status for r in airflow.of("trigger")]
    assert answers.count(200) == 1 and answers.count(409) <= 1 and set(answers) <= {200, 409}
    assert len(airflow.runs) == 1


# -- secrets never show ---------------------------------------------------------------------------------


def test_password_and_token_appear_nowhere(airflow, creds, sleeps, lake, day, exported, caplog):
    caplog.set_level(logging.DEBUG)
    trigger = make(airflow, sleeps)
    outcome = scan_day(lake, day, trigger, now=NOW)
    texts = [
        json.dumps(outcome.as_dict()),
        repr(outcome),
        repr(trigger),
        repr(trigger.api()),
        json.dumps(lake.read_json(layout.trigger_record(day, exported.manifest_sha256))),
        json.dumps(lake.read_json(f"_state/scans/dt={day.isoformat()}.json")),
    ]
    # and the failures: a refused trigger (echoing a token in its detail), a dead Airflow, a 404
    airflow.script("trigger", Reply(400, {"detail": f"bad request; you sent {PASSWORD}"}))
    errors: list[RetailflowError] = []
    for dag_id, script in (("retailflow_nightly", None), ("missing_dag", None), ("retailflow_nightly", 503)):
        if script:
            airflow.script("trigger", *[Reply(script)] * 4)
        try:
            make(airflow, sleeps, airflow_dag_id=dag_id).fire(day + dt.timedelta(days=3), None)
        except RetailflowError as exc:
            errors.append(exc)
    assert len(errors) == 3
    texts += [str(e) for e in errors] + [repr(e) for e in errors] + [caplog.text]
    secrets = [PASSWORD, *airflow.tokens]
    assert len(secrets) >= 4
    for text in texts:
        for secret in secrets:
            assert secret not in text
