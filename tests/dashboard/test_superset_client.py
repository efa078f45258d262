"""client.py against a stand-in for Superset's REST API on 127.0.0.1 (a thread of this process): the JWT login,
the CSRF token and session cookie on POSTs, the multipart import of a bundle, and errors as SupersetError.
The real Superset is in test_superset.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from retailflow.dashboard.superset import server
from retailflow.dashboard.superset.bundle import DASHBOARD_SLUG
from retailflow.dashboard.superset.client import SupersetClient, import_dashboard
from retailflow.dashboard.superset.errors import SupersetError

PASSWORD = "the-password"
TOKEN, CSRF, SESSION = "jwt-token", "csrf-token", "session=abc"


class FakeSuperset(BaseHTTPRequestHandler):
    """Answers like Superset's API; records every request as (method, path, headers, body)."""

    requests: list[tuple[str, str, Message, bytes]] = []

    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, code: int, body: object, cookie: str | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        if cookie:
            self.send_header("Set-Cookie", cookie + "; Path=/")
        self.end_headers()
        self.wfile.write(raw)

    def _handle(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.requests.append((method, self.path, self.headers, body))  # names case-insensitive
        authorized = self.headers.get("Authorization") == f"Bearer {TOKEN}"
        if (method, self.path) == ("POST", "/api/v1/security/login"):
            if json.loads(body) == {"username": "admin", "password": PASSWORD, "provider": "db", "refresh": False}:
                return self._answer(200, {"access_token": TOKEN})
            return self._answer(401, {"message": "Not authorized"})
        if not authorized:
            return self._answer(401, {"msg": "Missing Authorization Header"})
        if (method, self.path) == ("GET", "/api/v1/security/csrf_token/"):
            return self._answer(200, {"result": CSRF}, cookie=SESSION)
        if method == "POST" and (self.headers.get("X-CSRFToken") != CSRF or SESSION not in self.headers["Cookie"]):
            return self._answer(400, {"errors": ["The CSRF token is missing."]})
        if (method, self.path) == ("POST", "/api/v1/assets/import/"):
            return self._answer(200, {"message": "OK"})
        if (method, self.path) == ("GET", f"/api/v1/dashboard/{DASHBOARD_SLUG}"):
            return self._answer(200, {"result": {"id": 42}})
        return self._answer(404, {"message": "Not found"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")


@pytest.fixture
def url() -> Iterator[str]:
    FakeSuperset.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeSuperset)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_login_takes_the_token_and_the_csrf_token(url):
    client = SupersetClient(url + "/", "admin", PASSWORD).login()
    assert (client.url, client.token, client.csrf) == (url, TOKEN, CSRF)
    assert [(m, p) for m, p, *_ in FakeSuperset.requests] == [
        ("POST", "/api/v1/security/login"),
        ("GET", "/api/v1/security/csrf_token/"),
    ]


def test_a_bundle_is_imported_as_multipart_with_the_csrf_token_and_session(url):
    bundle = b"PK\x03\x04 not really a zip \r\n--"
    assert import_dashboard(url, "admin", PASSWORD, bundle) == 42
    (_, _, headers, body) = next(r for r in FakeSuperset.requests if r[1] == "/api/v1/assets/import/")
    assert headers["Content-Type"].startswith("multipart/form-data; boundary=retailflow-")
    boundary = headers["Content-Type"].split("boundary=", 1)[1]
    assert body.startswith(f"--{boundary}\r\n".encode()) and body.endswith(f"\r\n--{boundary}--\r\n".encode())
    assert b'name="bundle"; filename="bundle.zip"' in body and bundle in body
    assert headers["X-CSRFToken"] == CSRF and headers["Referer"] == url + "/"


def test_errors_are_superset_errors(url):
    with pytest.raises(SupersetError, match="answered 401 to POST /api/v1/security/login"):
        SupersetClient(url, "admin", "wrong").login()
    client = SupersetClient(url, "admin", PASSWORD).login()
    with pytest.raises(SupersetError, match="answered 404 to GET /api/v1/nothing"):
        client.get("/api/v1/nothing")
    with pytest.raises(SupersetError, match="did not answer GET"):
        SupersetClient("http://127.0.0.1:9", "admin", PASSWORD, timeout=5).get("/health")


def test_the_server_module_re_exports_what_the_cli_and_tests_use():
    assert server.SupersetClient is SupersetClient and server.SupersetError is SupersetError
    for name in ("up", "down", "status", "catalog_file", "state_dir", "provision", "ServerInfo", "USERNAME"):
        assert hasattr(server, name), name
