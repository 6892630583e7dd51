"""HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) of journaled exchanges: what the journal holds, masked.

The journal keeps the request's method, path, query, headers (secrets already keyed hashes, harness.masking) and body,
and the reply's status and document; it keeps no reply headers, so a HAR entry's response headers are empty and its
content is the reply document as journaled (or the wire bytes, base64, when the journal kept them apart). A binary
or truncated request body is left out of ``postData`` and said so in the entry's ``comment``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from harness import __version__

HAR_VERSION = "1.2"


def _url(entry: dict[str, Any]) -> str:
    headers = {k.lower(): v for k, v in (entry.get("request_headers") or {}).items()}
    host = headers.get("host") or "127.0.0.1"
    path = entry["path"]
    if entry.get("session"):
        path = f"/_session/{entry['session']}{path}"
    query = entry.get("query") or ""
    return f"http://{host}{path}" + (f"?{query}" if query else "")


def _pairs(items: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": str(k), "value": str(v)} for k, v in items]


def har_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """One journal entry (a dict of :meth:`harness.journal.Journal.query`) as a HAR entry."""
    headers = entry.get("request_headers") or {}
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    request: dict[str, Any] = {
        "method": entry["method"],
        "url": _url(entry),
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": _pairs(headers.items()),
        "queryString": _pairs(parse_qsl(entry.get("query") or "", keep_blank_values=True)),
        "headersSize": -1,
        "bodySize": int(entry.get("request_size") or 0),
    }
    notes = []
    body = entry.get("request_body")
    if body is not None and not entry.get("request_truncated"):
        if body:
            request["postData"] = {"mimeType": content_type or "application/octet-stream", "text": body}
    else:
        notes.append(f"request body not included (binary or truncated; SHA-256 {entry.get('request_sha256')})")
    reply = entry.get("reply")
    content: dict[str, Any] = {"mimeType": "application/json"}
    if entry.get("reply_wire"):
        content.update(text=entry["reply_wire"], encoding="base64", size=-1)
        notes.append("response content: the wire bytes (base64); the reply document is in _harness.reply")
    else:
        text = json.dumps(reply, ensure_ascii=False) if reply is not None else ""
        content.update(text=text, size=len(text.encode("utf-8")))
    duration = float(entry.get("duration_ms") or 0.0)
    out: dict[str, Any] = {
        "startedDateTime": entry["at"],
        "time": duration,
        "request": request,
        "response": {
            "status": int(entry.get("status") or 0),
            "statusText": "",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [],
            "content": content,
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        },
        "cache": {},
        "timings": {"send": 0, "wait": duration, "receive": 0},
        # custom fields start with an underscore (HAR 1.2): what the harness judged
        "_harness": {
            "id": entry["id"],
            "platform": entry["platform"],
            "operation": entry.get("operation"),
            "vendor": entry.get("vendor"),
            "session": entry.get("session"),
            "outcome": entry.get("outcome"),
            "code": entry.get("code"),
            "verdicts": entry.get("verdicts") or [],
            "reply": reply if entry.get("reply_wire") else None,
        },
    }
    if notes:
        out["comment"] = "; ".join(notes)
    return out


def har(entries: Iterable[dict[str, Any]], comment: str = "") -> dict[str, Any]:
    """A HAR 1.2 log of ``entries`` (oldest first, as HAR viewers expect)."""
    log: dict[str, Any] = {
        "version": HAR_VERSION,
        "creator": {"name": "harness", "version": __version__},
        "pages": [],
        "entries": [har_entry(e) for e in sorted(entries, key=lambda e: e["id"])],
    }
    if comment:
        log["comment"] = comment
    return {"log": log}
