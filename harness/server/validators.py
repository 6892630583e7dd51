"""Connexion validators that report every violation with its field path, the JSON Schema rule and the clause.

Connexion's own validators stop at the first error and lose the schema context; these keep both, so the platform's
envelope can say "coach.photo: … (maximum, 000 附件四 A.6.2.3.1 表A.2 #8)". They also turn undecodable bodies,
which Connexion 3.3 answers with a 500 (spec-first/connexion#1860), into a format error.
"""

from __future__ import annotations

import json
import math
import re
import typing as t
from urllib.parse import parse_qs

import jsonschema
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem, ExtraParameterProblem
from connexion.validators import (
    VALIDATOR_MAP,
    JSONRequestBodyValidator,
    MultiPartFormDataValidator,
    ParameterValidator,
)
from jsonschema import Draft4Validator
from starlette.formparsers import MultiPartException
from starlette.types import Scope

from harness import limits
from harness.errors import SchemaViolation, Violation
from harness.server import schema_errors
from harness.specs import strict_node

HarnessDraft4 = schema_errors.HarnessDraft4
SCHEMA_RULE = schema_errors.SCHEMA_RULE
violations_for = schema_errors.violations_for


def _x_strict(validator: t.Any, strict: t.Any, instance: t.Any, schema: dict[str, t.Any]) -> t.Iterator[jsonschema.ValidationError]:
    """``x-strict`` (added by harness.specs to every node the tolerant derivation relaxed): the file's own keywords."""
    node = strict_node(schema)
    if not node:
        return
    for error in validator.descend(instance, node):
        if getattr(error, "harness_decision", None) is None:  # a nested node's own decision is the nearer one
            error.harness_decision = strict.get("decision")  # type: ignore[attr-defined]
        yield error


# The file's own reading, checked after HarnessDraft4 accepted a request: it only adds the x-strict keyword.
StrictDraft4 = jsonschema.validators.extend(HarnessDraft4, {"x-strict": _x_strict})


# By id of an operation's body schema. The entry holds the schema itself, so its id cannot be reused by another dict
# while the entry exists (an app built after another was freed, as tests do, must not read the first app's answer).
_HAS_STRICT: dict[int, tuple[dict[str, t.Any], bool]] = {}


def _walk_strict(schema: t.Any) -> bool:
    if isinstance(schema, dict):
        return "x-strict" in schema or any(_walk_strict(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_walk_strict(v) for v in schema)
    return False


def has_strict(schema: dict[str, t.Any]) -> bool:
    """Whether any node of ``schema`` was relaxed (so a second, strict pass can find something)."""
    key = id(schema)
    cached = _HAS_STRICT.get(key)
    if cached is None or cached[0] is not schema:
        cached = _HAS_STRICT[key] = (schema, _walk_strict(schema))
    return cached[1]


def decision_warnings(schema: dict[str, t.Any], instance: t.Any, prefix: str) -> list[Violation]:
    """What only the file's own reading refuses in an instance the served (tolerant) schema accepted: SHOULD
    violations naming the decision that relaxes each (every form the seed shows passes, with a warning)."""
    validator = StrictDraft4(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    out: list[Violation] = []
    seen: set[tuple[str, str]] = set()
    for error in validator.iter_errors(instance):
        decision = getattr(error, "harness_decision", None)
        field = schema_errors.field_of(prefix, error)
        local = schema_errors.local_field(prefix, field)
        message = schema_errors.shorten(schema_errors.message_of(error), 120)
        reading = f"accepted under {decision}: the file's own reading refuses it" if decision else "the file's own reading refuses it"
        if (field, message) in seen:
            continue
        seen.add((field, message))
        out.append(
            Violation(
                SCHEMA_RULE,
                schema_errors.clause_for(schema, error, local),
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


class MediaTypes(MediaTypeDict):
    """Connexion's media-type table, looked up case-insensitively: ``APPLICATION/JSON; Charset=UTF-8`` is JSON (RFC
    9110 §8.3.1), so it is validated (and parsed) as JSON, never handed to a handler as raw bytes."""

    def __getitem__(self, item: t.Any) -> t.Any:
        return super().__getitem__(item.lower() if isinstance(item, str) else item)


def lower_media_type(scope: Scope) -> Scope:
    """The scope with its Content-Type's media type in lower case (parameters such as a multipart boundary kept as
    sent), for every layer below that compares media types as written (Connexion's body parsing does)."""
    headers = scope.get("headers") or []
    for i, (key, value) in enumerate(headers):
        if key.lower() == b"content-type":
            media, sep, params = value.partition(b";")
            if media.strip().lower() != media:
                changed = list(headers)
                changed[i] = (key, media.strip().lower() + sep + params)
                return {**scope, "headers": changed}
    return scope


class EnvelopeJSONBodyValidator(JSONRequestBodyValidator):
    async def wrap_receive(self, receive: t.Any, *, scope: Scope) -> t.Any:
        # An empty body is refused in the same words on both paths (Connexion's own "RequestBody is required" names
        # neither field nor clause).
        length = dict(scope.get("headers") or []).get(b"content-length", b"0").decode("latin-1")
        empty = not length or (limits.ascii_digits(length) and not int(length))
        if empty and self._schema.get("default") is None and self._required:
            raise schema_errors.body_required(self._schema)
        return await super().wrap_receive(receive, scope=lower_media_type(scope))

    @property
    def _validator(self) -> jsonschema.protocols.Validator:
        return schema_errors.validator(self._schema)

    async def _parse(self, stream: t.AsyncGenerator[bytes, None], scope: Scope) -> t.Any:
        raw = b"".join([chunk async for chunk in stream])
        from harness.platform import current_exchange

        ctx = current_exchange.get()
        clause = ctx.platform.body_clause if ctx is not None else "request body must be UTF-8 JSON"
        return schema_errors.parse_json(raw, encoding=self._encoding, utf8_clause=clause)

    def _validate(self, body: t.Any) -> dict | None:
        if body is None:
            if not self._nullable:
                raise schema_errors.body_required(self._schema)
            return None
        return _judged(self._validator, self._schema, body)


def _judged(validator: jsonschema.protocols.Validator, schema: dict[str, t.Any], body: t.Any) -> t.Any:
    """``body`` once it meets ``schema`` (else SchemaViolation naming field, rule and clause); a form only the
    strict reading of a decision refuses is judged as a SHOULD verdict naming that decision."""
    found = violations_for(validator, body, schema, "body")
    if found:
        raise SchemaViolation(found)
    if has_strict(schema):
        judge_decisions(decision_warnings(schema, body, "body"))
    return body


class EnvelopeMultiPartValidator(MultiPartFormDataValidator):
    async def wrap_receive(self, receive: t.Any, *, scope: Scope) -> t.Any:
        return await super().wrap_receive(receive, scope=lower_media_type(scope))

    @property
    def _validator(self) -> jsonschema.protocols.Validator:
        return schema_errors.validator(self._schema)

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
        return _judged(self._validator, self._schema, body)


_INTEGER_TEXT = re.compile(r"-?[0-9]{1,19}")
_NUMBER_TEXT = re.compile(r"-?[0-9]{1,400}(?:\.[0-9]{1,400})?(?:[eE][-+]?[0-9]{1,4})?")


def numeric_text_problems(parameters: t.Mapping[str, list[dict[str, t.Any]]], scope: Scope) -> list[str]:
    """Query parameters typed integer or number whose text is not plain ASCII digits: Connexion coerces with int() and
    float(), which also read "１０", "1_0", " 10 ", "nan" and "inf" (harness.limits)."""
    declared = [p for p in parameters.get("query", []) if (p.get("schema") or {}).get("type") in ("integer", "number")]
    if not declared:
        return []
    raw = scope.get("query_string") or b""
    query = parse_qs(raw.decode("latin-1"), keep_blank_values=True)
    problems = []
    for param in declared:
        integer = param["schema"]["type"] == "integer"
        for value in query.get(param["name"], []):
            shape = _INTEGER_TEXT if integer else _NUMBER_TEXT
            if not shape.fullmatch(value) or (not integer and not math.isfinite(float(value))):
                kind = "an integer" if integer else "a finite number"
                problems.append(f"query parameter {param['name']}={value[:40]!r} is not {kind} in ASCII digits")
    return problems


class EnvelopeParameterValidator(ParameterValidator):
    def validate(self, scope: Scope) -> None:
        problems = numeric_text_problems(self.parameters, scope)
        if problems:
            raise SchemaViolation([Violation(SCHEMA_RULE, "spec parameters; harness limit: ASCII digits", p, "query") for p in problems])
        try:
            super().validate(scope)
        except ExtraParameterProblem as exc:
            raise SchemaViolation([Violation(SCHEMA_RULE, "spec parameters", str(exc.detail), "query")]) from None
        except BadRequestProblem as exc:
            raise SchemaViolation([Violation(SCHEMA_RULE, "spec parameters", str(exc.detail), "parameters")]) from None


VALIDATORS: dict[str, t.Any] = {
    "parameter": EnvelopeParameterValidator,
    "body": MediaTypes(
        {
            "*/*json": EnvelopeJSONBodyValidator,
            "application/x-www-form-urlencoded": VALIDATOR_MAP["body"]["application/x-www-form-urlencoded"],
            "multipart/form-data": EnvelopeMultiPartValidator,
        }
    ),
    "response": VALIDATOR_MAP["response"],
}


class ControlJSONBodyValidator(JSONRequestBodyValidator):
    """The control API's JSON bodies under the same limits as a platform's (harness.limits): a body beyond one is a
    400 JSON ``{"error": ...}``, never a RecursionError or a reply holding -Infinity."""

    async def wrap_receive(self, receive: t.Any, *, scope: Scope) -> t.Any:
        return await super().wrap_receive(receive, scope=lower_media_type(scope))

    async def _parse(self, stream: t.AsyncGenerator[bytes, None], scope: Scope) -> t.Any:
        raw = b"".join([chunk async for chunk in stream])
        try:
            text = raw.decode(self._encoding)
        except (UnicodeDecodeError, LookupError):
            raise BadRequestProblem(detail=f"body is not valid {self._encoding}") from None
        if not text:
            return None
        try:
            return limits.loads(text)
        except limits.LimitExceeded as exc:
            raise BadRequestProblem(detail=f"{exc} ({exc.clause})") from None
        except json.JSONDecodeError as exc:
            raise BadRequestProblem(detail=f"malformed JSON: {exc}") from None


class ControlParameterValidator(ParameterValidator):
    """The control API's query parameters: numbers in ASCII digits only (``after_id=１０`` is a 400, not 10)."""

    def validate(self, scope: Scope) -> None:
        problems = numeric_text_problems(self.parameters, scope)
        if problems:
            raise BadRequestProblem(detail="; ".join(problems))
        super().validate(scope)


CONTROL_VALIDATORS: dict[str, t.Any] = {
    "parameter": ControlParameterValidator,
    "body": MediaTypes({**VALIDATOR_MAP["body"], "*/*json": ControlJSONBodyValidator}),
}
