"""Keeping secrets out of what automl prints and writes: storage URLs without passwords.

A storage URL such as ``postgresql://user:secret@host/db`` is needed to open the study, but
its password must never reach a report, the stored spec, a log line or the terminal. Every
place that shows or stores a URL passes it through :func:`redact_url` (or, for a whole spec,
:func:`redact_spec`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MASK", "redact_spec", "redact_text", "redact_url"]

MASK = "***"

# Query parameters that carry a password (libpq and most drivers accept ``?password=``).
_SECRET_PARAM = re.compile(r"(?i)([?&;](?:password|passwd|pwd|pass|secret|token|"
                           r"access_token|api_key|sslpassword)=)[^&;#]*")
# ``scheme://user:password@`` anywhere in a text (an error message quoting a URL).
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*):[^\s]*@(?=[^\s@]*(?:\s|$))")


def redact_url(url: str) -> str:
    """``url`` with its password (and any password-like query parameter) replaced by ``***``.

    ``postgresql://user:secret@host/db`` becomes ``postgresql://user:***@host/db``; a URL
    without a password is returned unchanged. The user info ends at the *last* ``@`` of the
    address, so a password holding an unencoded ``@`` or ``/`` is hidden whole (hiding too
    much of an odd URL is the safe side).
    """
    if not isinstance(url, str):
        return url
    text = _SECRET_PARAM.sub(rf"\1{MASK}", url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    query = ""
    for mark in ("?", "#"):
        if mark in rest:
            at = rest.index(mark)
            rest, query = rest[:at], rest[at:] + query
            break
    userinfo, at, address = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return f"{scheme}://{rest}{query}"
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:{MASK}@{address}{query}"


def redact_text(text: str, *urls: str | None) -> str:
    """``text`` with each of ``urls`` (where given) replaced by its redacted form, and any
    other ``scheme://user:password@`` in it masked too (a driver's message quoting it)."""
    for url in urls:
        if url and url in text:
            text = text.replace(url, redact_url(url))
    return _USERINFO.sub(rf"\1:{MASK}@", text)


def redact_spec(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a spec's data with ``execution.storage`` and the trackers' URLs redacted
    (the stored spec and the reproduce spec of report.html: a worker brings its own
    ``--storage``)."""
    out = dict(data)
    execution = out.get("execution")
    if isinstance(execution, Mapping) and isinstance(execution.get("storage"), str):
        out["execution"] = {**execution, "storage": redact_url(execution["storage"])}
    tracking = out.get("tracking")
    if isinstance(tracking, list):  # a tracking server's URI may hold a password too
        out["tracking"] = [{k: redact_url(v) if isinstance(v, str) else v
                            for k, v in entry.items()} if isinstance(entry, Mapping) else entry
                           for entry in tracking]
    return out
