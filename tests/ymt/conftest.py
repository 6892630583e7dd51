"""In-process YMT server: create_app(Settings(db=tmp, validate_responses=True)) through httpx.ASGITransport."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.dudu import AsgiClient as Client
from harness.config import Settings
from harness.schema import open_store
from harness.store import Store
from tests.ymt import world

with warnings.catch_warnings():  # connexion 3.3 imports starlette.testclient, which warns under httpx 0.28
    warnings.simplefilter("ignore")
    from harness.server import create_app


def _serve(tmp_path: Path, profile: str) -> Iterator[tuple[Client, Store]]:
    db = tmp_path / f"ymt-{profile}.db"
    store = open_store(db)
    app = create_app(Settings(db=db, validate_responses=True, profile=profile), store)
    app.state_journal.start()
    client = Client(app)
    try:
        yield client, store
    finally:
        client.close()
        app.state_journal.stop()
        store.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Client, Store]]:
    yield from _serve(tmp_path, "strict")


@pytest.fixture
def tolerant(tmp_path: Path) -> Iterator[tuple[Client, Store]]:
    yield from _serve(tmp_path, "tolerant")


@pytest.fixture
def scene(served: tuple[Client, Store]) -> world.Scene:
    client, store = served
    return world.scene(client, store)
