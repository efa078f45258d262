"""A fault-injection stand-in for Airflow 3's REST API, on 127.0.0.1 (port 0), for the airflow trigger's tests.

It behaves like Airflow where that is easy (``POST /auth/token`` checks the user and password and hands out
a fresh token; ``POST /api/v2/dags/{dag_id}/dagRuns`` needs a valid bearer token, answers 404 for an unknown
DAG and 409 for a run id it already has; ``GET /api/v2/dags/~/dagRuns?state=..`` lists runs by state;
``GET /api/v2/monitor/health``), and lets a test script what a real Airflow cannot be made to do on demand:
``server.script("trigger", Reply(503), Reply(503))`` answers the next two trigger requests with 503 (then
the default behaviour resumes); ``Reply(delay=2)`` answers late, ``Reply(None, delay=2)`` late but normally.
Every request is recorded (method, path, query, headers, JSON body).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

USERNAME = "admin"
PASSWORD = "pw-Zq8!k3y-never-shown"
DAG_ID = "retailflow_nightly"
HEALTHY = {
    "metadatabase": {"status": "healthy"},
    "scheduler": {"status": "healthy", "latest_scheduler_heartbeat": "2026-01-06T08:00:00+00:00"},
}


@dataclass
class Reply:
    status: int | None = None  # None: the default behaviour (after ``delay``)
    body: Any = None
    delay: float = 0.0


@dataclass
class Request:
    method: str
    route: str  # token, trigger, list, health, other
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int = 0  # what it was answered


@dataclass
class FakeAirflow:
    username: str = USERNAME
    password: str = PASSWORD
    dags: set[str] = field(default_factory=lambda: {DAG_ID})
    runs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)  # every token handed out
    valid_tokens: set[str] = field(default_factory=set)
    requests: list[Request] = field(default_factory=list)
    health: Reply = field(default_factory=lambda: Reply(200, HEALTHY))
    scripts: dict[str, list[Reply]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def script(self, route: str, *replies: Reply) -> None:
        with self.lock:
            self.scripts.setdefault(route, []).extend(replies)

    def expire_tokens(self) -> None:
        with self.lock:
            self.valid_tokens.clear()

    def of(self, route: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.route == route]

    # -- answering --------------------------------------------------------------------------------------

    def answer(self, request: Request) -> tuple[int, Any]:
        with self.lock:
            self.requests.append(request)
            scripted = self.scripts.get(request.route)
            reply = scripted.pop(0) if scripted else None
        if reply is not None:
            if reply.delay:
                time.sleep(reply.delay)
            if reply.status is not None:
                return reply.status, reply.body
        with self.lock:
            return self._default(request)

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and header.removeprefix("Bearer ") in self.valid_tokens

    def _default(self, request: Request) -> tuple[int, Any]:
        if request.route == "health":
            return self.health.status or 200, self.health.body
        if request.route == "token":
            body = request.body if isinstance(request.body, dict) else {}
            if body.get("username") != self.username or body.get("password") != self.password:
                return 401, {"detail": "Invalid credentials"}
            token = f"tok-{uuid.uuid4().hex}"
            self.tokens.append(token)
            self.valid_tokens.add(token)
            return 201, {"access_token": token}
        if not self._authorized(request):
            return 401, {"detail": "Not authenticated"}
        if request.route == "trigger":
            dag_id = unquote(request.path.split("/")[4])
            if dag_id not in self.dags:
                return 404, {"detail": f"Dag with dag_id: '{dag_id}' not found"}
            run_id = request.body.get("dag_run_id")
            if (dag_id, run_id) in self.runs:
                return 409, {"detail": f"DAG run with run_id '{run_id}' already exists"}
            run = {"dag_id": dag_id, "dag_run_id": run_id, "state": "queued", "conf": request.body.get("conf")}
            self.runs[(dag_id, run_id)] = run
            return 200, run
        if request.route == "list":
            states = request.query.get("state", [])
            runs = [r for r in self.runs.values() if not states or r["state"] in states]
            return 200, {"dag_runs": runs, "total_entries": len(runs)}
        return 404, {"detail": "Not Found"}


def _route(method: str, path: str) -> str:
    if path == "/auth/token" and method == "POST":
        return "token"
    if path == "/api/v2/monitor/health":
        return "health"
    if path == "/api/v2/dags/~/dagRuns" and method == "GET":
        return "list"
    if path.startswith("/api/v2/dags/") and path.endswith("/dagRuns") and method == "POST":
        return "trigger"
    return "other"


def start(fake: FakeAirflow | None = None) -> tuple[FakeAirflow, ThreadingHTTPServer]:
    fake = fake or FakeAirflow()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            request = Request(
                self.command,
                _route(self.command, parts.path),
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            status, answer = fake.answer(request)
            request.status = status
            data = b"" if answer is None else json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (a timeout test)
                pass

        do_GET = do_POST = _handle

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    return fake, server


def stop(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()
