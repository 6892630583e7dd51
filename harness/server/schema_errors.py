"""Schema errors → violations naming field, JSON Schema keyword and clause: one module for both request paths.

The Connexion path (harness.server.validators) and the fast path (harness.server.fastpath) both report a refused body
through :func:`violations_for`, so the same request is refused in the same words on either path: the nearest
``x-clause`` (descending through ``properties`` and ``items``), ``x-date`` calendar checks (D-YXC-DATES), and an
``anyOf`` of a derived node reported by the branch of the instance's own type.
"""

from __future__ import annotations

import datetime as dt
import json
import typing as t

import jsonschema
from connexion.json_schema import Draft4RequestValidator
from jsonschema import Draft4Validator

from harness import limits
from harness.errors import SchemaViolation, Violation

SCHEMA_RULE = "SCHEMA"
_DATE_SHAPES = {8: "%Y%m%d", 14: "%Y%m%d%H%M%S"}
MESSAGE_LIMIT = 160


def date_problem(instance: t.Any) -> str | None:
    """Why a value of the date shape is not a real calendar date or time, or None (the pattern reports the shape)."""
    if not isinstance(instance, str):
        return None
    shape = _DATE_SHAPES.get(len(instance))
    if shape is None or not limits.ascii_digits(instance):
        return None
    try:
        dt.datetime.strptime(instance, shape)
    except ValueError:
        return f"{instance!r} is not a real calendar date/time ({shape})"
    return None


def _x_date(validator: t.Any, enabled: t.Any, instance: t.Any, schema: dict[str, t.Any]) -> t.Iterator[jsonschema.ValidationError]:
    """``x-date: true``: a value of the date shape must also be a real calendar date or time (D-YXC-DATES)."""
    problem = date_problem(instance) if enabled else None
    if problem:
        yield jsonschema.ValidationError(problem)


HarnessDraft4 = jsonschema.validators.extend(Draft4RequestValidator, {"x-date": _x_date})


class XDateKeyword:
    """``x-date`` for jsonschema-rs validators (the fast path's compiled form of the same keyword)."""

    def __init__(self, parent: dict[str, t.Any], value: t.Any, schema_path: t.Any) -> None:
        self.enabled = bool(value)

    def validate(self, instance: t.Any) -> None:
        problem = date_problem(instance) if self.enabled else None
        if problem:
            raise ValueError(problem)


RS_KEYWORDS = {"x-date": XDateKeyword}


def validator(schema: dict[str, t.Any]) -> jsonschema.protocols.Validator:
    """The request validator of both paths for one (ref-resolved) schema."""
    return HarnessDraft4(schema, format_checker=Draft4Validator.FORMAT_CHECKER)


def clause_for(root: dict[str, t.Any], error: jsonschema.ValidationError | None, field: str) -> str:
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
    if error is not None and isinstance(error.schema, dict) and error.schema.get("x-clause") and not field:
        best = error.schema["x-clause"]
    elif error is not None and isinstance(error.schema, dict) and str(error.schema.get("x-clause", "")).startswith("harness limit"):
        best = error.schema["x-clause"]  # a harness limit (an allOf beside the field's own keywords) names itself
    return best


def field_of(prefix: str, error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        parts.append(missing)
    elif error.validator == "additionalProperties":
        extras = [p.split("'")[1] for p in error.message.split("(")[-1].split(",") if "'" in p]
        if extras:
            parts.append(extras[0])
    return ".".join(p for p in [prefix, *parts] if p)


def local_field(prefix: str, field: str) -> str:
    return field[len(prefix) + 1 :] if prefix and field.startswith(prefix + ".") else ("" if field == prefix else field)


def readable(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For an ``anyOf`` of a derived node (a number or its digit string…), the branch of the instance's own type says
    what is wrong ("3 is not one of [1, 2]"), where the anyOf itself only says that no branch held."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        typed = [e for e in error.context if e.validator != "type" and not e.relative_path]
        if typed:
            return typed[0]
    return error


_JSON_WORDS = {None: "null", True: "true", False: "false"}


def message_of(error: jsonschema.ValidationError) -> str:
    """jsonschema's message in the request's own terms: JSON literals (null, true, false) where it prints Python's
    (None, True, False), and a key the schema forbids outright (``not: {}``) named as such, not "should not be valid
    under {}"."""
    instance = error.instance
    if error.validator == "not" and error.validator_value == {}:
        key = str(error.path[-1]) if error.path else "this value"
        sent = json.dumps(instance, ensure_ascii=False, default=str)
        return f"the key {key!r} is not accepted here (sent {shorten(sent, 40)})"
    message = error.message
    if (instance is None or isinstance(instance, bool)) and message.startswith(repr(instance)):
        message = _JSON_WORDS[instance] + message[len(repr(instance)) :]
    return message


def shorten(message: str, limit: int = MESSAGE_LIMIT) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "…"


def parse_json(
    raw: bytes, *, encoding: str = "utf-8", utf8_clause: str = "request body must be UTF-8 JSON", int_range: bool = True
) -> t.Any:
    """The request body as JSON, in one set of words for both paths; None for an empty body (the caller says it is
    required). Bodies the fast path's parser refuses come here too, so both paths accept exactly the same bodies.
    ``int_range=False``: the store range is checked later (harness.limits.loads)."""
    try:
        text = raw.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise SchemaViolation([Violation(SCHEMA_RULE, utf8_clause, f"body is not valid {encoding}: {exc}", "body")]) from None
    if not text:
        return None
    try:
        return limits.loads(text, int_range=int_range)
    except limits.LimitExceeded as exc:
        raise SchemaViolation([limit_violation(exc)]) from None
    except json.JSONDecodeError as exc:
        raise SchemaViolation([Violation(SCHEMA_RULE, "request body must be JSON", f"malformed JSON: {exc}", "body")]) from None


def check_range(raw: bytes, document: t.Any) -> None:
    """The store range of a document parsed with ``int_range=False``, refused in the shared words."""
    try:
        limits.check_range(raw, document)
    except limits.LimitExceeded as exc:
        raise SchemaViolation([limit_violation(exc)]) from None


def limit_violation(exc: limits.LimitExceeded) -> Violation:
    """A body beyond a harness limit (harness.limits), as the violation both paths report."""
    return Violation(limits.LIMIT_RULE, exc.clause, str(exc), exc.field or "body")


def body_required(schema: dict[str, t.Any]) -> SchemaViolation:
    return SchemaViolation([Violation(SCHEMA_RULE, schema.get("x-clause", ""), "request body is required", "body")])


def violations_for(validator: jsonschema.protocols.Validator, instance: t.Any, schema: dict[str, t.Any], prefix: str) -> list[Violation]:
    """Every way ``instance`` breaks ``schema``, sorted by field, each with its clause."""
    out = []
    for error in sorted((readable(e) for e in validator.iter_errors(instance)), key=lambda e: [str(p) for p in e.absolute_path]):
        field = field_of(prefix, error)
        message = shorten(message_of(error))
        out.append(
            Violation(SCHEMA_RULE, clause_for(schema, error, local_field(prefix, field)), f"{message} ({error.validator})", field or prefix)
        )
    return out
