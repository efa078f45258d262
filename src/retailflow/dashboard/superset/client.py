"""Superset's REST API: a minimal client (standard library only) and the import of the dashboard bundle.

    client = SupersetClient("http://127.0.0.1:8088", "admin", password).login()
    client.get("/api/v1/dashboard/retailflow")
    dashboard_id = import_dashboard(url, "admin", password, build_bundle(catalog))

Knows nothing of processes or state folders: it talks HTTP to a Superset that runs (see process.py).
"""

from __future__ import annotations

import http.cookiejar
import json
import urllib.error
import urllib.request
import uuid
from typing import Any

from retailflow.dashboard.superset.bundle import DASHBOARD_SLUG
from retailflow.dashboard.superset.errors import SupersetError


class SupersetClient:
    """A minimal Superset REST client (standard library only): JWT login plus the CSRF token and session
    cookie that Superset's POST endpoints require."""

    def __init__(self, url: str, username: str, password: str, timeout: float = 120):
        self.url = url.rstrip("/")
        self.username, self.password, self.timeout = username, password, timeout
        self.cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self.cookies)
        )
        self.token: str | None = None
        self.csrf: str | None = None

    def login(self) -> SupersetClient:
        answer = self.request(
            "POST",
            "/api/v1/security/login",
            {
                "username": self.username,
                "password": self.password,
                "provider": "db",
                "refresh": False,
            },
            auth=False,
        )
        self.token = answer["access_token"]
        self.csrf = self.request("GET", "/api/v1/security/csrf_token/")["result"]
        return self

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: bool = True,
        data: bytes | None = None,
        content_type: str | None = None,
    ) -> Any:
        headers = {"Accept": "application/json", "Referer": self.url + "/"}
        if body is not None:
            data, content_type = json.dumps(body).encode(), "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if method != "GET" and self.csrf:
            headers["X-CSRFToken"] = self.csrf
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with self._opener.open(req, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:2000]
            raise SupersetError(f"Superset answered {exc.code} to {method} {path}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise SupersetError(f"Superset at {self.url} did not answer {method} {path}: {exc}") from None
        return json.loads(raw) if raw else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def import_bundle(self, bundle: bytes) -> None:
        """POST /api/v1/assets/import/: imports the bundle, overwriting every object it names."""
        boundary = "retailflow-" + uuid.uuid4().hex
        data = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="bundle"; filename="bundle.zip"\r\n'
                "Content-Type: application/zip\r\n\r\n"
            ).encode()
            + bundle
            + f"\r\n--{boundary}--\r\n".encode()
        )
        self.request(
            "POST", "/api/v1/assets/import/", data=data, content_type=f"multipart/form-data; boundary={boundary}"
        )


def import_dashboard(url: str, username: str, password: str, bundle: bytes) -> int:
    """Log in to the Superset at url, import the bundle (overwriting what it names), return the dashboard's id."""
    client = SupersetClient(url, username, password).login()
    client.import_bundle(bundle)
    return client.get(f"/api/v1/dashboard/{DASHBOARD_SLUG}")["result"]["id"]
