"""The supervision platform as a *client* of a vendor's learning platform: Z10 pushClassInfo and Z11 thirdCoursePull
(002 §1.12, §1.14), and what a correct answer looks like. Used by `harness simulate zjpx-push-class` and the
`zjpx-learning-platform-server` certify role."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema

from harness.errors import HarnessError
from harness.specs import load_spec, resolve_ref

SPEC = "zjpx/learning-platform.yaml"
PUSH_PATH, PULL_PATH = "/api/v1/pushClassInfo", "/api/v1/thirdCoursePull"


class VendorUnreachable(HarnessError):
    """The vendor's learning platform cannot be reached at all."""


@dataclass
class Exchanged:
    """One call to the vendor: what was sent, what came back, and whether the reply matched the spec."""

    path: str
    request: dict[str, Any]
    status: int
    reply: Any
    schema_errors: list[str] = field(default_factory=list)  # outside every form the seed shows (the tolerant reading)
    strict_errors: list[str] = field(default_factory=list)  # outside the strict reading (the seed's table, literally)
    decisions: tuple[str, ...] = ()  # the decisions that name the forms the strict reading refused and the seed shows

    @property
    def seed_form_only(self) -> bool:
        """The reply is one of the seed's own forms (it passes the tolerant reading) but not the strict one."""
        return not self.schema_errors and bool(self.strict_errors)

    @property
    def ok(self) -> bool:
        return self.status == 200 and isinstance(self.reply, dict) and str(self.reply.get("returnCode")) == "0"


def _inline(spec: dict[str, Any], node: Any) -> Any:
    # x-decision is kept (JSON Schema ignores unknown keywords) so that an error can name the decision behind it.
    if isinstance(node, dict):
        node = resolve_ref(spec, node)
        return {k: _inline(spec, v) for k, v in node.items() if not k.startswith("x-") or k in ("x-decision", "x-decision-required")}
    if isinstance(node, list):
        return [_inline(spec, v) for v in node]
    return node


def reply_schema(path: str, profile: str) -> dict[str, Any]:
    spec = load_spec(SPEC, profile)
    node = spec["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    return _inline(spec, node)


def request_schema(path: str, profile: str) -> dict[str, Any]:
    spec = load_spec(SPEC, profile)
    node = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return _inline(spec, node)


def reply_errors(path: str, reply: Any, profile: str) -> tuple[list[str], tuple[str, ...]]:
    """The reply's schema errors under one reading, and the decisions (x-decision) of the nodes they broke."""
    validator = jsonschema.Draft4Validator(reply_schema(path, profile))
    errors, decisions = [], set()
    for e in validator.iter_errors(reply):
        errors.append(f"{'.'.join(map(str, e.absolute_path)) or '(reply)'}: {e.message[:160]}")
        # A missing field may be decided apart from the node's other keywords (x-decision-required: D-ZJPX-PULL-FIELDS).
        keys = ("x-decision-required", "x-decision") if e.validator == "required" else ("x-decision",)
        decision = next((e.schema[k] for k in keys if isinstance(e.schema, dict) and e.schema.get(k)), None)
        if decision:
            decisions.add(str(decision))
    return errors, tuple(sorted(decisions))


def as_example(path: str, reply: Any) -> Any:
    """A thirdCoursePull reply in the table's form (the page under returnData, D-ZJPX-PULL-SHAPE) rewritten in the
    example's form, so that its courses are validated too; any other reply unchanged."""
    if path != PULL_PATH or not isinstance(reply, dict) or "data" in reply:
        return reply
    holder = reply.get("returnData")
    rest = {k: v for k, v in reply.items() if k != "returnData"}
    if isinstance(holder, dict) and "data" in holder:
        return {**rest, **holder}
    if isinstance(holder, list):
        return {**rest, "data": holder}
    return reply


def envelope(data: Any) -> dict[str, Any]:
    """The request envelope; the harness sends an empty userToken, as the seed's examples do."""
    return {"headers": {"deviceType": "TYPE_PC", "timestamp": str(int(time.time())), "deviceId": "harness", "userToken": ""}, "data": data}


class VendorClient:
    def __init__(self, target: str, profile: str = "strict", client: httpx.Client | None = None, timeout: float = 15.0) -> None:
        self.target = target.rstrip("/")
        self.profile = profile
        self.client = client or httpx.Client(timeout=timeout)

    def post(self, path: str, data: Any) -> Exchanged:
        return self.send(path, envelope(data))

    def send(self, path: str, request: Any) -> Exchanged:
        """POST any document (fuzzing sends whole generated bodies, valid or not)."""
        try:
            content = request if isinstance(request, bytes) else json.dumps(request, ensure_ascii=False, default=repr).encode("utf-8")
            response = self.client.post(
                self.target + path,
                content=content,
                headers={"content-type": "application/json; charset=utf-8"},
            )
        except httpx.HTTPError as exc:
            raise VendorUnreachable(f"{self.target}{path}: {exc}") from exc
        try:
            reply = response.json()
        except ValueError:
            reply = None
        if reply is None:
            errors = [f"HTTP {response.status_code}, body is not JSON"]
            return Exchanged(path, request, response.status_code, reply, errors, errors)
        tolerant, _ = reply_errors(path, as_example(path, reply), "tolerant")
        strict, decisions = reply_errors(path, reply, "strict")
        return Exchanged(path, request, response.status_code, reply, tolerant, strict, decisions)

    def errors_for(self, x: Exchanged) -> list[str]:
        """The reply's schema errors under this client's profile (for `harness simulate`, which prints one reading)."""
        return x.strict_errors if self.profile == "strict" else x.schema_errors

    def push_class(self, push_body: dict[str, Any]) -> Exchanged:
        return self.post(PUSH_PATH, push_body)

    def pull(self, page_no: int, page_size: int) -> Exchanged:
        return self.post(PULL_PATH, {"pageNo": page_no, "pageSize": page_size})


def page_of(reply: Any) -> tuple[int | None, list[Any]]:
    """(totalPage, courses) of a thirdCoursePull reply, in either shape D-ZJPX-PULL-SHAPE allows."""
    if not isinstance(reply, dict):
        return None, []
    holder = reply
    if "data" not in reply and isinstance(reply.get("returnData"), dict):
        holder = reply["returnData"]
    items = (
        holder.get("data")
        if isinstance(holder.get("data"), list)
        else reply.get("returnData")
        if isinstance(reply.get("returnData"), list)
        else []
    )
    total = holder.get("totalPage")
    try:
        return (int(total) if total is not None else None), list(items or [])
    except (TypeError, ValueError):
        return None, list(items or [])


def account_problems(push_body: dict[str, Any], reply: Any) -> list[str]:
    """Why a pushClassInfo reply does not give one account per pushed learner (§1.12.1, §1.12.5)."""
    problems = []
    if not isinstance(reply, dict):
        return ["the reply is not a JSON object"]
    if not str(reply.get("passwordRules") or "").strip():
        problems.append("passwordRules (默认密码规则) is missing or empty")
    accounts = reply.get("returnData") if isinstance(reply.get("returnData"), list) else []
    pushed = {s["cardNo"].upper() for s in push_body["thirdClassStudentInfoVoList"]}
    returned = [str(a.get("cardNo", "")).upper() for a in accounts if isinstance(a, dict)]
    missing = pushed - set(returned)
    if missing:
        problems.append(f"{len(missing)} of {len(pushed)} pushed learners got no account")
    extra = set(returned) - pushed
    if extra:
        problems.append(f"{len(extra)} account(s) for cardNo values that were not pushed")
    names = [str(a.get("studentUserAccount", "")) for a in accounts if isinstance(a, dict)]
    if any(not n for n in names):
        problems.append("an account has an empty studentUserAccount")
    if len(set(names)) != len(names):
        problems.append("two learners got the same studentUserAccount")
    return problems
