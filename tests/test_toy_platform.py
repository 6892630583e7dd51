"""docs/platforms.md is enough to add a platform: the toy in tests/toyplat (under 100 lines) is served on both request
paths, its gate runs before schema validation on both, it is validated, journaled, and certifiable."""

from __future__ import annotations

import hashlib
import hmac
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from fixtures.dudu import AsgiClient as Client
from harness import platforms
from harness.config import Settings
from harness.schema import open_store
from tests.toyplat.certify import ToyRole
from tests.toyplat.platform import ToyPlatform
from tests.toyplat.rules import SECRET

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from harness.server import create_app


@pytest.fixture(params=["fast", "connexion"])
def served(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Client, Any]]:
    monkeypatch.setitem(platforms.PLATFORMS, "toy", "tests.toyplat.platform:ToyPlatform")
    if request.param == "connexion":
        monkeypatch.setattr(ToyPlatform, "fast_operations", lambda self: {})
    store = open_store(tmp_path / "toy.db")
    app = create_app(Settings(db=tmp_path / "toy.db", validate_responses=True), store)
    client = Client(app)
    yield client, store
    client.close()
    store.close()


def _post(client: Client, body: Any, *, sign: bool = True) -> dict[str, Any]:
    raw = orjson.dumps(body)
    headers = {"content-type": "application/json"}
    if sign:
        headers["x-toy-sign"] = hmac.new(SECRET, raw, hashlib.sha256).hexdigest()
    return client.raw("POST", "/toy/note", content=raw, headers=headers).json()


def _notes(store: Any) -> list[str]:
    return [r["text"] for r in store.query("SELECT text FROM toy_notes")]


def test_the_toy_is_served_validated_and_journaled_on_both_paths(served: tuple[Client, Any]) -> None:
    client, store = served
    assert _post(client, {"text": "hello", "tags": ["a"]}) == {"code": 0, "msg": "ok"}
    assert _notes(store) == ["hello"]
    unsigned = _post(client, {"text": "x", "tags": "not even an array"}, sign=False)
    assert unsigned["code"] == 4 and unsigned["violations"][0]["rule"] == "TOY-SIGN"  # the gate before the schema
    schema = _post(client, {"text": "ok", "tags": ["long"]})
    assert schema["code"] == 2 and schema["violations"][0]["clause"] == "toy §1.2"  # the clause inside items
    shouted = _post(client, {"text": "LOUD", "tags": []})
    assert shouted["code"] == 1 and shouted["violations"][0]["rule"] == "TOY-QUIET"
    assert _notes(store) == ["hello"]  # refused exchanges changed nothing
    rows = store.query("SELECT code, outcome, verdicts FROM journal WHERE platform = 'toy' ORDER BY id")
    assert [(r["code"], r["outcome"]) for r in rows] == [("0", "held"), ("4", "failed"), ("2", "failed"), ("1", "failed")]
    assert '"TOY-SIGN","clause":"toy §2 X-Toy-Sign","held":true' in rows[0]["verdicts"]


def test_the_toy_is_certifiable(served: tuple[Client, Any]) -> None:
    client, store = served
    assert list(ToyRole(store).run())[-1].skipped == 1  # an empty journal: nothing to judge
    _post(client, {"text": "hello", "tags": []})
    assert list(ToyRole(store).run())[-1].verdict == "passed"
    _post(client, {"text": "hello", "tags": []}, sign=False)
    assert list(ToyRole(store).run())[-1].verdict == "failed"
