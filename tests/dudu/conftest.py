"""In-process DUDU server: create_app(Settings(db=tmp, validate_responses=True), Store(tmp)) through httpx.ASGITransport."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures import dudu as fx
from fixtures.dudu import AsgiClient as Client
from harness.config import Settings
from harness.schema import open_store
from harness.store import Store

with warnings.catch_warnings():  # connexion 3.3 imports starlette.testclient, which warns under httpx 0.28
    warnings.simplefilter("ignore")
    from harness.server import create_app


def _serve(tmp_path: Path, profile: str, target: str | None = None) -> Iterator[tuple[Client, Store]]:
    db = tmp_path / f"{profile}.db"
    store = open_store(target or db)
    fx.world(store)
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
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Client, Store]]:
    """The strict server on SQLite; ``@pytest.mark.parametrize("served", ["sqlite", "postgresql"], indirect=True)``
    runs a test on both engines (PostgreSQL: a schema of its own on the test cluster, skipped without one)."""
    engine = getattr(request, "param", "sqlite")
    target = request.getfixturevalue("pg_url") if engine == "postgresql" else None
    yield from _serve(tmp_path, "strict", target)


@pytest.fixture
def tolerant(tmp_path: Path) -> Iterator[tuple[Client, Store]]:
    yield from _serve(tmp_path, "tolerant")


@pytest.fixture
def client(served: tuple[Client, Store]) -> Client:
    return served[0]


@pytest.fixture
def store(served: tuple[Client, Store]) -> Store:
    return served[1]


@pytest.fixture
def token(client: Client) -> str:
    reply = client.post("get_token", {"enterprise_id": fx.ENTERPRISE, "secret": fx.SECRET})
    assert reply["ret_code"] == 0, reply
    return reply["token"]
