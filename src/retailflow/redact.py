"""The one way a URL that may hold a secret is shown: its password and secret-looking parameters as ``***``.

Every source or lake URL that reaches a message, an error, a log line, a run report or a file in the lake
goes through ``redact_url`` (one URL) or ``redact_text`` (free text that may quote URLs, such as an
exception's message). What counts as a secret:

- the password of the URL's user information: ``scheme://user:PASSWORD@host/...`` becomes
  ``scheme://user:***@host/...`` (the user name is kept: it says who connects, not how);
- the value of every query parameter whose name contains ``pass``, ``pwd``, ``secret``, ``token``, ``key``,
  ``sig``, ``credential`` or ``auth`` (``?password=``, ``?private_key=``, ``?sas_token=``, ``&sig=``...).

A password holding an unencoded ``/``, ``?``, ``#`` or ``@`` is still redacted whole: the user information
runs to the last ``@``. Text without ``://`` is returned as it is (a local path holds no secret).
"""

from __future__ import annotations

import re

MASK = "***"

_SECRET_NAME = re.compile(r"pass|pwd|secret|token|key|sig|credential|auth", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"<>`]+")


def redact_url(url: str) -> str:
    """``url`` with its password and secret query values replaced by ``***`` (anything else unchanged)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    at = rest.rfind("@")
    if at != -1:
        user, colon, _password = rest[:at].partition(":")
        # "user:password@": a user name never holds "/" (in "bucket/a:b@c" the "@" belongs to a path).
        if colon and "/" not in user:
            rest = f"{user}:{MASK}@{rest[at + 1 :]}"
    head, qmark, query = rest.partition("?")
    if qmark:
        query, hash_, fragment = query.partition("#")
        params = []
        for param in query.split("&"):
            name, eq, value = param.partition("=")
            params.append(f"{name}={MASK}" if eq and value and _SECRET_NAME.search(name) else param)
        rest = f"{head}?{'&'.join(params)}{hash_}{fragment}"
    return f"{scheme}://{rest}"


def redact_text(text: str) -> str:
    """Free text (a message, an exception's text) with every URL in it redacted."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
