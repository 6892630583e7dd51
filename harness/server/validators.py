"""Connexion validators that report every violation with its field path, the JSON Schema rule and the clause.

Connexion's own validators stop at the first error and lose the schema context; these keep both, so the platform's
envelope can say "coach.photo: … (maximum, 000 附件四 A.6.2.3.1 表A.2 #8)". They also turn undecodable bodies,
which Connexion 3.3 answers with a 500 (spec-first/connexion#1860), into a format error.
"""

from __future__ import annotations

import datetime as dt
import json
import typing as t

import jsonschema
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem, ExtraParameterProblem
from connexion.json_schema import Draft4RequestValidator
from connexion.validators import (
    VALIDATOR_MAP,
    JSONRequestBodyValidator,
    MultiPartFormDataValidator,
    ParameterValidator,
)
from jsonschema import Draft4Validator
from starlette.formparsers import MultiPartException
from starlette.types import Scope

from harness.errors import SchemaViolation, Violation
from harness.specs import strict_node

SCHEMA_RULE = "SCHEMA"


def _x_date(validator: t.Any, enabled: t.Any, instance: t.Any, schema: dict[str, t.Any]) -> t.Iterator[jsonschema.ValidationError]:
    """``x-date: true``: a value of the date shape must also be a real calendar date or time (D-YXC-DATES)."""
    if not enabled or not isinstance(instance, str):
        return
    shapes = {8: "%Y%m%d", 14: "%Y%m%d%H%M%S"}
    shape = shapes.get(len(instance))
    if shape is None or not instance.isdigit():
        return  # the pattern keyword reports the shape
    try:
        dt.datetime.strptime(instance, shape)
    except ValueError:
        yield jsonschema.ValidationError(f"{instance!r} is not a real calendar date/time ({shape})")


HarnessDraft4 = jsonschema.validators.extend(Draft4RequestValidator, {"x-date": _x_date})


def _x_strict(validator: t.Any, strict: t.Any, instance: t.Any, schema: dict[str, t.Any]) -> t.Iterator[jsonschema.ValidationError]:
    """``x-strict`` (added by harness.specs to every node the tolerant derivation relaxed): the file's own keywords."""
    node = strict_node(schema)
    if not node:
        return
    for error in validator.descend(instance, node):
        error.harness_decision = strict.get("decision")  # type: ignore[attr-defined]
        yield error


# The file's own reading, checked after HarnessDraft4 accepted a request: it only adds the x-strict keyword.
StrictDraft4 = jsonschema.validators.extend(HarnessDraft4, {"x-strict": _x_strict})


_HAS_STRICT: dict[int, bool] = {}  # by id of an operation's body schema, which lives as long as the app


def _walk_strict(schema: t.Any) -> bool:
    if isinstance(schema, dict):
        return "x-strict" in schema or any(_walk_strict(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_walk_strict(v) for v in schema)
    return False


def has_strict(schema: dict[str, t.Any]) -> bool:
    """Whether any node of ``schema`` was relaxed (so a second, strict pass can find something)."""
    key = id(schema)
    if key not in _HAS_STRICT:
        _HAS_STRICT[key] = _walk_strict(schema)
    return _HAS_STRICT[key]


def decision_warnings(schema: dict[str, t.Any], instance: t.Any, prefix: str) -> list[Violation]:
    """What only the file's own reading refuses in an instance the served (tolerant) schema accepted: SHOULD
    violations naming the decision that relaxes each (every form the seed shows passes, with a warning)."""
    validator = StrictDraft4(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    out: list[Violation] = []
    seen: set[tuple[str, str]] = set()
    for error in validator.iter_errors(instance):
        decision = getattr(error, "harness_decision", None)
        field = _field(prefix, error)
        local = field[len(prefix) + 1 :] if prefix and field.startswith(prefix + ".") else ("" if field == prefix else field)
        message = error.message if len(error.message) <= 120 else error.message[:117] + "…"
        reading = f"accepted under {decision}: the file's own reading refuses it" if decision else "the file's own reading refuses it"
        if (field, message) in seen:
            continue
        seen.add((field, message))
        out.append(
            Violation(
                SCHEMA_RULE,
                _clause(schema, error, local),
                f"{message} ({error.validator}); {reading}",
                field or prefix,
                level="SHOULD",
                decision=decision,
            )
        )
    return out


def judge_decisions(warnings: list[Violation]) -> None:
    """Journal the warnings on the exchange in flight; under ``--profile strict`` they refuse the request."""
    if not warnings:
        return
    from harness.platform import current_exchange

    ctx = current_exchange.get()
    if ctx is not None and ctx.platform.settings.strict:
        raise SchemaViolation(warnings)
    if ctx is not None:
        ctx.fail(warnings)


def _clause(root: dict[str, t.Any], error: jsonschema.ValidationError, field: str) -> str:
    """The nearest x-clause: on the failing property, else on the schema that failed, else on the body schema."""
    node: t.Any = root
    best = root.get("x-clause", "")
    for part in field.split(".") if field else []:
        if isinstance(node, dict) and part in node.get("properties", {}):
            node = node["properties"][part]
        elif isinstance(node, dict) and "items" in node:
            node = node["items"]
        else:
            break
        if isinstance(node, dict) and node.get("x-clause"):
            best = node["x-clause"]
    if isinstance(error.schema, dict) and error.schema.get("x-clause") and not field:
        best = error.schema["x-clause"]
    return best


def _field(prefix: str, error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        parts.append(missing)
    elif error.validator == "additionalProperties":
        extras = [p.split("'")[1] for p in error.message.split("(")[-1].split(",") if "'" in p]
        if extras:
            parts.append(extras[0])
    return ".".join(p for p in [prefix, *parts] if p)


def _readable(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For an ``anyOf`` of a derived node (a number or its digit string…), the branch of the instance's own type says
    what is wrong ("3 is not one of [1, 2]"), where the anyOf itself only says that no branch held."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        typed = [e for e in error.context if e.validator != "type" and not e.relative_path]
        if typed:
            return typed[0]
    return error


def violations_for(validator: jsonschema.protocols.Validator, instance: t.Any, schema: dict[str, t.Any], prefix: str) -> list[Violation]:
    out = []
    for error in sorted((_readable(e) for e in validator.iter_errors(instance)), key=lambda e: [str(p) for p in e.absolute_path]):
        field = _field(prefix, error)
        local = field[len(prefix) + 1 :] if prefix and field.startswith(prefix + ".") else ("" if field == prefix else field)
        message = error.message if len(error.message) <= 160 else error.message[:157] + "…"
        out.append(Violation(SCHEMA_RULE, _clause(schema, error, local), f"{message} ({error.validator})", field or prefix))
    return out


class EnvelopeJSONBodyValidator(JSONRequestBodyValidator):
    @property
    def _validator(self) -> jsonschema.protocols.Validator:
        return HarnessDraft4(self._schema, format_checker=Draft4Validator.FORMAT_CHECKER)

    async def _parse(self, stream: t.AsyncGenerator[bytes, None], scope: Scope) -> t.Any:
        raw = b"".join([chunk async for chunk in stream])
        try:
            text = raw.decode(self._encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise SchemaViolation(
                [Violation(SCHEMA_RULE, "000 附件二 (body 采用 UTF-8 编码)", f"body is not valid {self._encoding}: {exc}", "body")]
            ) from None
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise SchemaViolation([Violation(SCHEMA_RULE, "request body must be JSON", f"malformed JSON: {exc}", "body")]) from None

    def _validate(self, body: t.Any) -> dict | None:
        if body is None:
            if not self._nullable:
                raise SchemaViolation([Violation(SCHEMA_RULE, self._schema.get("x-clause", ""), "request body is required", "body")])
            return None
        found = violations_for(self._validator, body, self._schema, "body")
        if found:
            raise SchemaViolation(found)
        if has_strict(self._schema):
            judge_decisions(decision_warnings(self._schema, body, "body"))
        return body


class EnvelopeMultiPartValidator(MultiPartFormDataValidator):
    @property
    def _validator(self) -> jsonschema.protocols.Validator:
        return HarnessDraft4(self._schema, format_checker=Draft4Validator.FORMAT_CHECKER)

    async def _parse(self, stream: t.AsyncGenerator[bytes, None], scope: Scope) -> t.Any:
        try:
            return await super()._parse(stream, scope)
        except MultiPartException as exc:  # starlette raises it for broken framing; it is the sender's format error
            raise SchemaViolation(
                [Violation(SCHEMA_RULE, self._schema.get("x-clause", ""), f"malformed multipart body: {exc}", "body")]
            ) from None

    def _validate(self, body: t.Any) -> dict | None:
        if body is None:
            raise SchemaViolation([Violation(SCHEMA_RULE, self._schema.get("x-clause", ""), "multipart body is required", "body")])
        found = violations_for(self._validator, body, self._schema, "body")
        if found:
            raise SchemaViolation(found)
        if has_strict(self._schema):
            judge_decisions(decision_warnings(self._schema, body, "body"))
        return body


class EnvelopeParameterValidator(ParameterValidator):
    def validate(self, scope: Scope) -> None:
        try:
            super().validate(scope)
        except ExtraParameterProblem as exc:
            raise SchemaViolation([Violation(SCHEMA_RULE, "spec parameters", str(exc.detail), "query")]) from None
        except BadRequestProblem as exc:
            raise SchemaViolation([Violation(SCHEMA_RULE, "spec parameters", str(exc.detail), "parameters")]) from None


VALIDATORS: dict[str, t.Any] = {
    "parameter": EnvelopeParameterValidator,
    "body": MediaTypeDict(
        {
            "*/*json": EnvelopeJSONBodyValidator,
            "application/x-www-form-urlencoded": VALIDATOR_MAP["body"]["application/x-www-form-urlencoded"],
            "multipart/form-data": EnvelopeMultiPartValidator,
        }
    ),
    "response": VALIDATOR_MAP["response"],
}
