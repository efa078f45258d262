"""Airflow 3's REST API (v2) as retailflow uses it: where it is, who logs in, and requests that retry what
is worth retrying. Standard library only (urllib): it ships in the readiness Lambda's zip.

Credentials, first found wins: ``RETAILFLOW_AIRFLOW_USERNAME`` / ``RETAILFLOW_AIRFLOW_PASSWORD``; the
Secrets Manager secret ``airflow_secret_id`` (``{"username", "password"}``, boto3 imported only then); the
local Airflow's ``api.json`` / ``passwords.json`` in ``airflow_home`` (written by ``retailflow airflow up``).
The URL: ``airflow_url``, else ``api.json``'s. A password or token never reaches a message, a log line, a
returned value or a repr.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retailflow.config import Settings
from retailflow.errors import ConfigError, RetailflowError
from retailflow.redact import redact_url

USERNAME_ENV = "RETAILFLOW_AIRFLOW_USERNAME"
PASSWORD_ENV = "RETAILFLOW_AIRFLOW_PASSWORD"
API_FILE = "api.json"
PASSWORDS_FILE = "passwords.json"

REQUEST_TIMEOUT_S = 10.0
ATTEMPTS = 4
BACKOFF_S = (1.0, 2.0, 4.0)  # the waits between attempts


class AirflowError(RetailflowError):
    """The Airflow API could not be reached, refused the request, or is not set up for retailflow."""


def check_url(url: str, origin: str) -> str:
    """An http(s) URL without credentials or query, without its trailing slash."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"The Airflow URL from {origin} is not an http(s) URL: {redact_url(url)!r}.",
            "Write it like https://airflow.example.com or http://127.0.0.1:8080.",
        )
    if parts.username or parts.password or "@" in parts.netloc:
        raise ConfigError(
            f"The Airflow URL from {origin} holds credentials ({redact_url(url)}).",
            f"Drop them from the URL; set {USERNAME_ENV} / {PASSWORD_ENV} or airflow_secret_id instead.",
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"The Airflow URL from {origin} must not have a query or fragment: {redact_url(url)!r}.")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


# -- where the API is, and who logs in ------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    source: str  # where they came from, for messages: never the values

    def __str__(self) -> str:
        return f"user {self.username!r} from {self.source}"


def _home(settings: Settings) -> Path:
    return Path(settings.airflow_home).expanduser()


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} ({what}) cannot be read as JSON: {type(exc).__name__}.") from None


def resolve_url(settings: Settings) -> str:
    """``airflow_url``, else the local Airflow's ``api.json``."""
    if settings.airflow_url:
        return check_url(settings.airflow_url, "airflow_url")
    api = _home(settings) / API_FILE
    data = _read_json(api, "the local Airflow's API address")
    if isinstance(data, dict) and isinstance(data.get("url"), str) and data["url"]:
        return check_url(data["url"], str(api))
    raise ConfigError(
        f"No Airflow to trigger: airflow_url is empty and {api} does not exist.",
        "Set airflow_url (RETAILFLOW_AIRFLOW_URL) to the Airflow API server, or start the local one with "
        "`retailflow airflow up`.",
    )


def resolve_credentials(settings: Settings, environ: dict[str, str] | None = None) -> Credentials:
    environ = os.environ if environ is None else environ
    username, password = environ.get(USERNAME_ENV, ""), environ.get(PASSWORD_ENV, "")
    if username or password:
        if not (username and password):
            missing = USERNAME_ENV if not username else PASSWORD_ENV
            raise ConfigError(f"{missing} is not set, but its partner is.", "Set both, or neither.")
        return Credentials(username, password, "the environment")
    if settings.airflow_secret_id:
        return _secret_credentials(settings)
    return _local_credentials(settings)


def _secret_credentials(settings: Settings) -> Credentials:
    from retailflow.aws import client  # boto3 only here (the Lambda runtime has it)

    secret_id = settings.airflow_secret_id
    try:
        value = client(settings, "secretsmanager").get_secret_value(SecretId=secret_id)
    except RetailflowError:
        raise
    except Exception as exc:  # botocore's ClientError and friends; their text names the secret, not its value
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise ConfigError(
            f"The Airflow credentials secret {secret_id!r} cannot be read ({code}).",
            "Check airflow_secret_id and that this role may call secretsmanager:GetSecretValue on it.",
        ) from None
    try:
        data = json.loads(value.get("SecretString") or "")
        username, password = data["username"], data["password"]
        if not (isinstance(username, str) and isinstance(password, str) and username and password):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            f"The secret {secret_id!r} is not JSON with a non-empty username and password.",
            'Store it as {"username": "...", "password": "..."}.',
        ) from None
    return Credentials(username, password, f"the secret {secret_id}")


def _local_credentials(settings: Settings) -> Credentials:
    home = _home(settings)
    api = _read_json(home / API_FILE, "the local Airflow's API address")
    passwords = _read_json(home / PASSWORDS_FILE, "the local Airflow's passwords")
    if not isinstance(api, dict) or not isinstance(passwords, dict):
        raise ConfigError(
            f"No Airflow credentials: {USERNAME_ENV} / {PASSWORD_ENV} and airflow_secret_id are not set, and "
            f"{home} holds no local Airflow ({API_FILE}, {PASSWORDS_FILE}).",
            "Set the credentials for a remote Airflow, or start the local one with `retailflow airflow up`.",
        )
    username = api.get("username") or "admin"
    password = passwords.get(username)
    if not isinstance(username, str) or not isinstance(password, str) or not password:
        raise ConfigError(
            f"{home / PASSWORDS_FILE} has no password for the user {username!r} that {home / API_FILE} names.",
            "Restart the local Airflow with `retailflow airflow up`.",
        )
    return Credentials(username, password, str(home / PASSWORDS_FILE))


# -- the HTTP side ----------------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    body: Any  # the JSON answer, or None


class _Unreachable(Exception):
    """No HTTP answer: refused, reset, timed out."""


def _no_redirects() -> urllib.request.OpenerDirector:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # a redirect would resend the body
            return None

    return urllib.request.build_opener(NoRedirect)


_OPENER = _no_redirects()


def http_json(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None, timeout: float = REQUEST_TIMEOUT_S
) -> Response:
    """One request; any HTTP status is a Response, no answer at all raises _Unreachable (with a reason
    that holds no header or body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            return Response(answer.status, _json_or_none(answer.read()))
    except urllib.error.HTTPError as exc:
        try:
            raw = exc.read()
        except Exception:
            raw = b""
        finally:
            exc.close()
        return Response(exc.code, _json_or_none(raw))
    except TimeoutError:
        raise _Unreachable(f"no answer within {timeout:g} s") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise _Unreachable(f"no answer within {timeout:g} s") from None
        raise _Unreachable(_reason(reason)) from None
    except (OSError, ValueError) as exc:  # reset connections, http.client's bad status lines
        raise _Unreachable(_reason(exc)) from None


def _reason(exc: object) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__ if isinstance(exc, BaseException) else str(exc)[:100]


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


class AirflowApi:
    """Airflow's REST API at ``url`` as ``credentials``: a token, then requests that retry what is worth
    retrying. ``sleep`` waits between attempts (tests pass a quick one)."""

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        *,
        attempts: int = ATTEMPTS,
        backoff: tuple[float, ...] = BACKOFF_S,
        timeout: float = REQUEST_TIMEOUT_S,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.url = url
        self.credentials = credentials
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.timeout = timeout
        self.sleep = sleep
        self._token: str | None = None

    def __repr__(self) -> str:
        return f"AirflowApi({self.url!r}, {self.credentials})"

    def _wait(self, attempt: int) -> None:
        if self.backoff:
            self.sleep(self.backoff[min(attempt - 1, len(self.backoff) - 1)])

    def _send(self, method: str, path: str, body: Any, headers: dict[str, str], what: str) -> tuple[Response, int]:
        """The request, retried on no answer and 5xx; returns the first other answer and the attempts made."""
        url = f"{self.url}{path}"
        last = ""
        for attempt in range(1, self.attempts + 1):
            try:
                response = http_json(method, url, body, headers, self.timeout)
            except _Unreachable as exc:
                last = str(exc)
            else:
                if response.status < 500:
                    return response, attempt
                last = f"HTTP {response.status}"
            if attempt < self.attempts:
                self._wait(attempt)
        raise AirflowError(
            f"{what} failed: Airflow at {redact_url(self.url)} gave {last} ({self.attempts} attempts).",
            "Check that its API server is up (`retailflow airflow up` locally, or the Airflow host), then scan "
            "again: nothing was recorded, so the next scan retries.",
        )

    def token(self, renew: bool = False) -> str:
        if self._token is None or renew:
            body = {"username": self.credentials.username, "password": self.credentials.password}
            response, _ = self._send("POST", "/auth/token", body, {}, "Logging in to Airflow")
            if response.status in (401, 403):
                raise AirflowError(
                    f"Airflow at {redact_url(self.url)} refused the login of {self.credentials} "
                    f"(HTTP {response.status}).",
                    "Check the user name and password (or `retailflow airflow up` for the local Airflow).",
                )
            token = response.body.get("access_token") if isinstance(response.body, dict) else None
            if response.status not in (200, 201) or not isinstance(token, str) or not token:
                raise AirflowError(
                    f"Logging in to Airflow at {redact_url(self.url)} gave HTTP {response.status} without a token.",
                    "Is that URL Airflow 3's API server (it answers POST /auth/token)?",
                )
            self._token = token
        return self._token

    def call(self, method: str, path: str, body: Any = None, what: str = "The Airflow request") -> tuple[Response, int]:
        """An authenticated request: one new token on a 401; returns the answer and the attempts made."""
        response, attempts = self._send(method, path, body, self._auth(), what)
        if response.status == 401:
            self.token(renew=True)
            response, more = self._send(method, path, body, self._auth(), what)
            attempts += more
        return response, attempts

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def active_runs(self) -> list[dict[str, Any]]:
        """DAG runs running or queued, of every DAG (``GET /api/v2/dags/~/dagRuns?state=...``)."""
        query = urllib.parse.urlencode([("state", "running"), ("state", "queued"), ("limit", "100")])
        response, _ = self.call("GET", f"/api/v2/dags/~/dagRuns?{query}", what="Listing Airflow's active DAG runs")
        if response.status != 200 or not isinstance(response.body, dict):
            raise AirflowError(
                f"Listing the active DAG runs at {redact_url(self.url)} gave HTTP {response.status}.",
                "Check that the user may read DAG runs.",
            )
        runs = response.body.get("dag_runs") or []
        return [
            {"dag_id": r.get("dag_id"), "dag_run_id": r.get("dag_run_id"), "state": r.get("state")}
            for r in runs
            if isinstance(r, dict)
        ]
