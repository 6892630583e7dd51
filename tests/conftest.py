"""Shared test fixtures: a fresh store per test and an in-process client for the reference server."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.config import Settings
from harness.pki import Enrolment, enrol
from harness.schema import open_store
from harness.server import create_app
from harness.signing import Signer
from harness.store import Store


@dataclass
class Harness:
    """An in-process reference server with one enrolled YXC vendor."""

    settings: Settings
    store: Store
    app: Any
    enrolment: Enrolment
    signer: Signer

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://harness.test") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(go())

    def post_json(
        self,
        operation: str,
        body: Any,
        *,
        signer: Signer | None = None,
        ts: int | None = None,
        raw: bytes | None = None,
        sign_over: bytes | None = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        query = (signer or self.signer).query(sign_over if sign_over is not None else data, ts)
        query.update(params or {})
        reply = self.request("POST", f"/yxc/{operation}", params=query, content=data, headers={"content-type": content_type})
        assert reply.status_code == 200, reply.text
        return reply.json()

    def upload(self, file_type: str, data: bytes, *, signer: Signer | None = None, ts: int | None = None) -> dict[str, Any]:
        query = (signer or self.signer).query(data, ts)
        reply = self.request("POST", f"/yxc/imageup/{file_type}", params=query, files={"file": ("upload.bin", data)})
        assert reply.status_code == 200, reply.text
        return reply.json()


@pytest.fixture
def make_harness(tmp_path: Path) -> Callable[..., Harness]:
    """Build a harness on a store in tmp_path; the same db path can be reopened to test restarts."""

    def build(
        profile: str = "strict",
        db: Path | None = None,
        platnum: str = "A0001",
        enrolment: Enrolment | None = None,
        store: str | None = None,
    ) -> Harness:
        """``store``: a ``postgresql://`` URL to use instead of the SQLite file ``db``."""
        settings = Settings(db=db or tmp_path / "harness.db", profile=profile, validate_responses=True)
        store = open_store(store or settings.db)
        enrolment = enrolment or enrol(store, "yxc", platnum, tmp_path / f"vendor-{platnum}")
        signer = Signer.from_pem_files(enrolment.files["key"], enrolment.files["cert"])
        return Harness(settings, store, create_app(settings, store), enrolment, signer)

    return build


@pytest.fixture
def harness(request: pytest.FixtureRequest, make_harness: Callable[..., Harness]) -> Harness:
    """On SQLite; ``parametrize("harness", ["sqlite", "postgresql"], indirect=True)`` runs a test on both engines."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return make_harness(store=request.getfixturevalue("pg_url"))
    return make_harness()


# --- a real PostgreSQL, started by the tests themselves -------------------------------------------------------------------
PG_HOW = "install PostgreSQL server binaries (apt-get install postgresql) and psycopg (pip install -e '.[postgres,test]')"


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    """A throwaway cluster on a loopback port; :meth:`fresh` gives each test its own schema (fast, isolated)."""

    port: int
    _names: Any = None
    _template: str | None = None

    def url(self, schema: str | None = None) -> str:
        base = f"postgresql://harness@127.0.0.1:{self.port}/harness"
        return f"{base}?options=-csearch_path%3D{schema}" if schema else base

    def fresh(self) -> str:
        import psycopg

        if self._names is None:
            self._names = itertools.count(1)
        schema = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        return self.url(schema)

    def migrated(self) -> tuple[str, str]:
        """A database of its own with every table migrated: (name, URL). Cloned from a template database migrated once,
        which is several times faster than migrating each (CREATE DATABASE … TEMPLATE copies the files)."""
        import psycopg

        from harness.schema import open_store as real_open_store

        if self._names is None:
            self._names = itertools.count(1)
        admin = f"postgresql://harness@127.0.0.1:{self.port}/postgres"
        if self._template is None:
            template = f"template_{os.getpid()}"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {template}")
            real_open_store(f"postgresql://harness@127.0.0.1:{self.port}/{template}").close()
            self._template = template
        name = f"m{os.getpid()}_{next(self._names)}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {self._template} STRATEGY FILE_COPY")
        return name, f"postgresql://harness@127.0.0.1:{self.port}/{name}"

    def drop(self, names: list[str]) -> None:
        """Drop databases made by :meth:`migrated`, ending the connections still open on them."""
        import psycopg

        with psycopg.connect(f"postgresql://harness@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            for name in names:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """initdb + pg_ctl start into a temporary directory (as the ``postgres`` user when the tests run as root, since
    PostgreSQL refuses to run as root); skipped, saying how to enable it, when the binaries or psycopg are missing."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip(f"PostgreSQL tests skipped: no initdb/pg_ctl on this machine; {PG_HOW}")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip(f"PostgreSQL tests skipped: psycopg is not installed; {PG_HOW}")
    root = Path(tempfile.mkdtemp(prefix="harness-pg-"))
    data, port = root / "data", _free_port()
    as_root = os.geteuid() == 0

    def run(*argv: str) -> None:
        command = list(argv)
        if as_root:
            command = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(f"'{a}'" for a in argv)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")

    if as_root:
        shutil.chown(root, "postgres")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections={1000 if TEST_STORE == 'postgresql' else 200}"
    run(initdb, "-D", str(data), "-A", "trust", "-U", "harness", "-E", "UTF8", "--no-sync")
    run(pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
    try:
        import psycopg

        with psycopg.connect(f"postgresql://harness@127.0.0.1:{port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE harness")
        yield PostgresServer(port)
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


PG_SEAL_KEY = "dGVzdHMtb24tcG9zdGdyZXNxbC1zZWFsaW5nLWtleSE"  # 32 bytes: the sealing key of every PostgreSQL test store


@pytest.fixture
def pg_url(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A ``postgresql://`` URL on an empty schema of its own. The sealing key comes from HARNESS_SEAL_KEY (as on
    hosts sharing one database), which the servers the test starts inherit: no key file lands in the working directory."""
    monkeypatch.setenv("HARNESS_SEAL_KEY", PG_SEAL_KEY)
    return postgres_server.fresh()


# --- the whole suite on PostgreSQL: HARNESS_TEST_STORE=postgresql -----------------------------------------------------------
TEST_STORE = os.environ.get("HARNESS_TEST_STORE", "sqlite")  # "postgresql": every in-process open_store opens PostgreSQL


@dataclass
class _Redirect:
    """Where each SQLite path opened by the tests lives on PostgreSQL (HARNESS_TEST_STORE=postgresql)."""

    server: PostgresServer
    urls: dict[str, str]
    made: list[str]


_REDIRECT: _Redirect | None = None


@pytest.fixture(scope="session", autouse=True)
def _store_engine(request: pytest.FixtureRequest) -> Iterator[None]:
    """Under ``HARNESS_TEST_STORE=postgresql`` every in-process :func:`harness.schema.open_store` of a SQLite path opens
    a PostgreSQL database of its own on the test cluster instead (one per path, so reopening a path reopens the same
    store); URLs are opened as given. Without the switch: nothing changes. tests/test_suites_on_postgresql.py runs the
    store-dependent suites this way."""
    global _REDIRECT
    if TEST_STORE != "postgresql":
        yield
        return
    import sys

    import harness.schema
    from harness.store_pg import is_url

    redirect = _REDIRECT = _Redirect(request.getfixturevalue("postgres_server"), {}, [])
    # A PostgreSQL store's sealing key: from the environment, not a harness-seal.key file in the working directory
    os.environ.setdefault("HARNESS_SEAL_KEY", PG_SEAL_KEY)
    real = harness.schema.open_store

    def redirected(path: Path | str) -> Store:
        if is_url(path):
            return real(path)
        key = str(Path(path).resolve())
        if key not in redirect.urls:
            name, redirect.urls[key] = redirect.server.migrated()
            redirect.made.append(name)
        return real(redirect.urls[key])

    real_existing = harness.schema.open_existing_store

    def redirected_existing(path: Path | str) -> Store:
        """A path a test opened before is its database (the SQLite file never exists under the switch)."""
        if is_url(path) or str(Path(path).resolve()) not in redirect.urls:
            return real_existing(path)
        return redirected(path)

    modules = [m for m in list(sys.modules.values()) if m is not None and hasattr(m, "__dict__")]
    patched = [(m, name, redirected) for m in modules for name, v in list(vars(m).items()) if v is real]
    patched += [(m, name, redirected_existing) for m in modules for name, v in list(vars(m).items()) if v is real_existing]
    for module, name, replacement in patched:
        setattr(module, name, replacement)
    try:
        yield
    finally:
        for module, name, replacement in patched:
            setattr(module, name, real if replacement is redirected else real_existing)
        _REDIRECT = None


@pytest.fixture(autouse=True)
def _drop_test_databases() -> Iterator[None]:
    """Under the switch: the databases a test made are dropped after it (connections it leaked included)."""
    if _REDIRECT is None:
        yield
        return
    before = len(_REDIRECT.made)
    yield
    made = _REDIRECT.made[before:]
    if made:
        del _REDIRECT.made[before:]
        _REDIRECT.urls = {k: v for k, v in _REDIRECT.urls.items() if v.rsplit("/", 1)[-1] not in made}
        _REDIRECT.server.drop(made)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's store lives, once per engine: a SQLite file, then a PostgreSQL URL (skipped without one)."""
    if request.param == "sqlite":
        return str(tmp_path / "harness.db")
    return request.getfixturevalue("pg_url")
