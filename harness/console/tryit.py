"""Try it: send one request the way a vendor's client must, from the console, and show the exchange it made.

- YXC: the body is signed (000 附件四 URL ``?v=&ts=&sign=&user=``, harness.signing) with the console's own test
  vendor: enrolled on first use exactly as ``harness vendor add yxc`` enrols one (platform number ``TRY00``, a
  certificate from the store's test CA), its private key kept sealed (harness.sealing) in the store table ``console_try_keys`` — a test key
  the harness made for itself, never a vendor's.
- DUDU: operations that take a ``token`` first call ``get_token`` with the enterprise id and secret given in the form
  (D-DUDU-TOKEN), then send the operation with the token it answered; both exchanges are journaled.

The request goes through the whole app in-process (the same layers, journal and verdicts as a vendor's request);
what is sent is journaled like any exchange, so it counts in a certification window open at that moment.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness import sealing
from harness.errors import HarnessError
from harness.platform import Platform
from harness.signing import Signer
from harness.store import Store

TRY_PLATNUM = "TRY00"
TRY_NAME = "harness console try-it (test key)"
SUPPORTED = ("yxc", "dudu")
USER_AGENT = "harness-console-try"
HOW = {
    "yxc": (
        "Signed with the console's test vendor (platform number TRY00, enrolled like `harness vendor add yxc`): "
        "v, ts, sign and user are added to the query (000 附件四 URL). Edit the body, send, and read the verdicts."
    ),
    "dudu": (
        "Operations that take a token first call get_token with the enterprise id and secret below (D-DUDU-TOKEN; "
        "`harness dudu enterprise-add` printed the secret); the token it answers is put into the body."
    ),
}


def _operations(platform: Platform) -> dict[str, dict[str, Any]]:
    """operation → {path, schema} for every JSON-body POST of the platform's spec."""
    from harness.console.data import _spec

    spec = _spec(platform.spec_file)
    out: dict[str, dict[str, Any]] = {}
    for path, item in (spec.get("paths") or {}).items():
        op = item.get("post") if isinstance(item, dict) else None
        if not isinstance(op, dict) or "operationId" not in op:
            continue
        content = (op.get("requestBody") or {}).get("content") or {}
        media = next((m for m in content if "json" in m), None)
        if media is None:
            continue
        schema = content[media].get("schema") or {}
        out[str(op["operationId"]).rsplit(".", 1)[-1]] = {"path": platform.base_path + path, "schema": schema, "spec": spec}
    return out


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    for _ in range(10):
        ref = node.get("$ref") if isinstance(node, dict) else None
        if not ref or not ref.startswith("#/"):
            break
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target.get(part, {})
        node = target
    return node if isinstance(node, dict) else {}


def skeleton(spec: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> Any:
    """A body with every required field of ``schema``, from the schema's own examples, enums and defaults."""
    schema = _resolve(spec, schema)
    for key in ("example", "default"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    for combined in ("allOf", "anyOf", "oneOf"):
        if schema.get(combined):
            return skeleton(spec, schema[combined][0], depth + 1)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 4:
            return {}
        props = schema.get("properties") or {}
        return {name: skeleton(spec, props.get(name, {}), depth + 1) for name in schema.get("required") or list(props)[:3]}
    if kind == "array":
        return [skeleton(spec, schema.get("items") or {}, depth + 1)] if depth <= 4 else []
    if kind == "integer":
        return int(schema.get("minimum") or 0)
    if kind == "number":
        return float(schema.get("minimum") or 0)
    if kind == "boolean":
        return False
    return ""


def _example(store: Store, platform: str, operation: str, spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A body worth sending: the test fixtures' valid bodies where they exist, else the schema's skeleton."""
    try:
        if platform == "dudu":
            from fixtures import dudu as fx

            row = store.query_one("SELECT id, enterprise_id FROM dudu_devices ORDER BY id LIMIT 1")
            device = row["id"] if row else fx.DEVICE
            makers = {
                "location_report": lambda: fx.heartbeat(device_id=device),
                "card_check": lambda: fx.card_check(device_id=device),
                "card_check_log": lambda: fx.card_log(1, device_id=device),
            }
            if operation in makers:
                return makers[operation]()
        if platform == "yxc":
            from fixtures.yxc import YxcData

            files = {k: 1 for k in ("coachimg", "jsz", "sfz", "pyht", "stuimg", "photo", "simimg")}
            data = YxcData(secrets.randbelow(10_000))
            makers = {
                "coach": lambda: data.coach(files),
                "student": lambda: data.student(files),
                "trainingsimulator": lambda: data.simulator(files),
            }
            if operation in makers:
                return makers[operation]()
    except Exception:  # the fixtures are a convenience: the skeleton still shows every required field
        pass
    body = skeleton(spec, schema)
    if platform == "dudu" and isinstance(body, dict) and "device_id" in body:
        row = store.query_one("SELECT id FROM dudu_devices ORDER BY id LIMIT 1")
        body["device_id"] = row["id"] if row else body["device_id"]
    return body


SEAL_PURPOSE = "console-try-key"  # harness.sealing: the test vendor's private key is sealed at rest like every secret


def try_signer(store: Store) -> Signer:
    """The console's YXC test vendor (enrolled on first use) as a signer."""
    from harness.pki import EnrolmentError, enrol

    store.execute("CREATE TABLE IF NOT EXISTS console_try_keys (platform TEXT PRIMARY KEY, user TEXT NOT NULL, key_pem TEXT NOT NULL)")
    row = store.query_one("SELECT user, key_pem FROM console_try_keys WHERE platform = 'yxc'")
    if row is None:
        with tempfile.TemporaryDirectory(prefix="harness-try-") as tmp:
            try:
                enrolment = enrol(store, "yxc", TRY_PLATNUM, Path(tmp), name=TRY_NAME)
            except EnrolmentError:  # another process enrolled it a moment ago: read what it stored
                row = store.query_one("SELECT user, key_pem FROM console_try_keys WHERE platform = 'yxc'")
                if row is None:
                    raise
            else:
                store.execute(
                    "INSERT INTO console_try_keys (platform, user, key_pem) VALUES ('yxc', ?, ?) ON CONFLICT DO NOTHING",
                    (enrolment.vendor.user, sealing.seal(store, enrolment.files["key"].read_bytes(), SEAL_PURPOSE)),  # never in clear
                )
                row = store.query_one("SELECT user, key_pem FROM console_try_keys WHERE platform = 'yxc'")
    assert row is not None
    stored = row["key_pem"]
    pem = sealing.unseal(store, stored, SEAL_PURPOSE) if sealing.is_sealed(stored) else str(stored).encode()
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return Signer(key, row["user"])


class TryIt:
    def __init__(self, store: Store, platforms: dict[str, Platform]) -> None:
        self.store = store
        self.platforms = platforms
        self.app: Any = None  # the whole ASGI app, set by the app factory: requests go through every layer

    def operations(self, platform: str) -> list[str]:
        if platform not in SUPPORTED or platform not in self.platforms:
            return []
        try:
            return sorted(_operations(self.platforms[platform]))
        except Exception:
            return []

    def form(self, platform: str, operation: str) -> dict[str, Any]:
        platform = platform if platform in SUPPORTED and platform in self.platforms else ""
        ops = self.operations(platform) if platform else []
        operation = operation if operation in ops else ""
        example, needs_token = "", False
        if operation:
            op = _operations(self.platforms[platform])[operation]
            schema = _resolve(op["spec"], op["schema"])
            needs_token = "token" in (schema.get("required") or [])
            body = _example(self.store, platform, operation, op["spec"], op["schema"])
            if needs_token and isinstance(body, dict):
                body.pop("token", None)
            example = json.dumps(body, ensure_ascii=False, indent=2)
        how = HOW.get(platform, "") if platform else "Choose YXC (signed requests) or DUDU (token flow)."
        enterprise = self.store.query_one("SELECT id FROM dudu_enterprises ORDER BY id LIMIT 1") if platform == "dudu" else None
        return {
            "platform": platform,
            "operation": operation,
            "platforms": [p for p in SUPPORTED if p in self.platforms],
            "ops": ops,
            "example": example,
            "how": how,
            "needs_token": needs_token,
            "enterprise": enterprise["id"] if enterprise else "",
        }

    async def send(self, form: dict[str, Any]) -> dict[str, Any]:
        """Send the form's request; ``{"exchange": id, "reply": …}`` or ``{"error": …}``."""
        platform, operation, body = form.get("platform"), form.get("operation"), form.get("body")
        if platform not in SUPPORTED or platform not in self.platforms or self.app is None:
            return {"error": f"try-it sends to {', '.join(SUPPORTED)} only"}
        ops = _operations(self.platforms[platform])
        if operation not in ops:
            return {"error": f"{platform} has no JSON operation {operation!r}"}
        if not isinstance(body, dict | list):
            return {"error": "the body must be a JSON object"}
        marker = secrets.token_hex(8)
        headers = {"content-type": "application/json", "user-agent": f"{USER_AGENT}/{marker}"}
        transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 0))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=30) as client:
            params: dict[str, str] = {}
            if (
                platform == "dudu"
                and isinstance(body, dict)
                and "token" in (_resolve(ops[operation]["spec"], ops[operation]["schema"]).get("required") or [])
            ):
                enterprise, secret = str(form.get("enterprise_id") or ""), str(form.get("secret") or "")
                if not enterprise or not secret:
                    return {"error": f"{operation} takes a token: give the enterprise id and its secret (get_token, D-DUDU-TOKEN)"}
                got = await client.post(ops["get_token"]["path"], json={"enterprise_id": enterprise, "secret": secret}, headers=headers)
                answer = got.json() if got.headers.get("content-type", "").startswith("application/json") else {}
                token = (answer.get("data") or answer).get("token") if isinstance(answer, dict) else None
                if not token:
                    return {"error": f"get_token refused: {answer.get('ret_msg') or answer}", "exchange": await self._find(marker)}
                body = {**body, "token": token, "enterprise_id": body.get("enterprise_id") or enterprise}
                headers["user-agent"] = f"{USER_AGENT}/{marker}-op"
                marker = f"{marker}-op"
            raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
            if platform == "yxc":
                try:
                    signer = await asyncio.to_thread(try_signer, self.store)
                except HarnessError as exc:
                    return {"error": f"cannot enrol the console's test vendor: {exc}"}
                params = signer.query(raw)
            reply = await client.post(ops[operation]["path"], params=params, content=raw, headers=headers)
        found = await self._find(marker)
        if found is None:
            return {"error": f"the request was answered HTTP {reply.status_code} but no journal row names it"}
        return {"exchange": found, "status": reply.status_code}

    async def _find(self, marker: str) -> int | None:
        row = self.store.query_one(
            "SELECT id FROM journal WHERE request_headers LIKE ? ORDER BY id DESC LIMIT 1", (f'%"{USER_AGENT}/{marker}"%',)
        )
        return int(row["id"]) if row is not None else None
