"""The control plane (/_harness/…, /) answers loopback clients; other addresses only with the control token.

Remote clients are simulated in-process: httpx.ASGITransport sets the ASGI scope's ``client``; nothing is sent to any
address but the app itself.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from harness.cli import control_banner, main
from harness.config import Settings
from harness.control_gate import is_loopback, is_loopback_bind
from harness.errors import ConfigError
from harness.schema import open_store
from harness.server import create_app

REMOTE = ("10.1.2.3", 5000)
TOKEN = "0123456789abcdef0123456789abcdef"


def call(app: Any, method: str, path: str, *, client: tuple[str, int] = REMOTE, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://harness.test") as http:
            return await http.request(method, path, **kwargs)

    return asyncio.run(go())


@pytest.fixture
def closed(tmp_path: Path) -> Any:
    store = open_store(tmp_path / "h.db")
    return create_app(Settings(db=store.path), store)


@pytest.fixture
def tokened(tmp_path: Path) -> Any:
    store = open_store(tmp_path / "h.db")
    return create_app(Settings(db=store.path, control_token=TOKEN), store)


CODE = {"stunum": "S000000000000001"}


def test_loopback_clients_use_the_control_api(closed: Any) -> None:
    for client in (("127.0.0.1", 5000), ("::1", 5000), ("127.8.9.10", 1)):
        assert call(closed, "GET", "/_harness/health", client=client).status_code == 200
    assert call(closed, "POST", "/_harness/yxc/codes", client=("127.0.0.1", 1), json=CODE).status_code == 201


def test_without_a_token_other_addresses_are_refused_with_json(closed: Any) -> None:
    for method, path, kwargs in (
        ("GET", "/_harness/journal", {}),
        ("POST", "/_harness/yxc/codes", {"json": CODE}),
        ("GET", "/_harness/vendors", {}),
        ("GET", "/", {}),
        ("GET", "/_session/abc/_harness/journal", {}),  # the session layer serves it as /_harness/journal
    ):
        response = call(closed, method, path, **kwargs)
        assert response.status_code == 403, (path, response.text)
        assert "loopback" in response.json()["error"] and "--control-token" in response.json()["error"]
    store = closed.state_store
    assert store.query_one("SELECT COUNT(*) FROM yxc_codes")[0] == 0  # no sign-in code was minted


def test_the_platforms_still_answer_every_address(closed: Any) -> None:
    response = call(closed, "POST", "/yxc/student", content=b"{}", headers={"content-type": "application/json"})
    assert response.status_code == 200 and "errorcode" in response.json()
    assert call(closed, "POST", "/dudu/get_token", json={"enterprise_id": "1", "secret": "x"}).json()["ret_code"] != 0


def test_with_a_token_other_addresses_need_the_bearer(tokened: Any) -> None:
    refused = call(tokened, "GET", "/_harness/journal")
    assert refused.status_code == 401 and "Bearer" in refused.json()["error"] and refused.headers["www-authenticate"].startswith("Bearer")
    wrong = call(tokened, "GET", "/_harness/journal", headers={"authorization": "Bearer " + "x" * 32})
    assert wrong.status_code == 401
    basic = call(tokened, "GET", "/_harness/journal", headers={"authorization": "Basic " + TOKEN})
    assert basic.status_code == 401
    assert call(tokened, "GET", "/_harness/journal", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert call(tokened, "POST", "/_harness/yxc/codes", json=CODE, headers={"authorization": f"bearer {TOKEN}"}).status_code == 201
    assert TOKEN not in refused.text
    assert call(tokened, "GET", "/_harness/health", client=("127.0.0.1", 9)).status_code == 200  # loopback needs none


def test_loopback_is_judged_on_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("::ffff:127.0.0.1") and is_loopback(None)
    assert not is_loopback("10.1.2.3") and not is_loopback("::ffff:10.1.2.3") and not is_loopback("localhost.evil")
    assert not is_loopback("0.0.0.0") and not is_loopback("")
    assert is_loopback_bind("127.0.0.1") and is_loopback_bind("localhost") and not is_loopback_bind("0.0.0.0")
    assert not is_loopback_bind("testclient")


def test_a_short_token_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Settings(control_token="short")
    assert TOKEN not in repr(Settings(control_token=TOKEN))


def test_the_banner_says_what_a_public_bind_means() -> None:
    assert "loopback only" in control_banner(Settings())[0] and len(control_banner(Settings())) == 1
    closed = "\n".join(control_banner(Settings(host="0.0.0.0")))
    assert "WARNING" in closed and "disabled for other addresses" in closed
    opened = "\n".join(control_banner(Settings(host="0.0.0.0", control_token=TOKEN)))
    assert "Bearer" in opened and TOKEN not in opened


def test_serve_warns_on_a_public_bind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    ran: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.append(kw))
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--db", str(tmp_path / "h.db")])
    assert result.exit_code == 0, result.output
    assert "WARNING" in result.stderr and "disabled for other addresses" in result.stderr and ran[0]["host"] == "0.0.0.0"
    monkeypatch.setenv("HARNESS_CONTROL_TOKEN", TOKEN)
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--db", str(tmp_path / "h.db")])
    assert "Authorization: Bearer" in result.stderr and TOKEN not in result.output


def test_a_bad_query_parameter_is_one_readable_line(closed: Any) -> None:
    """A value outside a parameter's enum is refused with jsonschema's message alone, not its dump of schema and
    instance ("Failed validating 'enum' in schema: …" over several lines)."""
    for query, said in (("origin=bogus", "'bogus' is not one of ['fuzz', 'none']"), ("verdict=x", "'x' is not one of")):
        reply = call(closed, "GET", f"/_harness/journal?{query}", client=("127.0.0.1", 1))
        assert reply.status_code == 400, reply.text
        error = reply.json()["error"]
        assert said in error and "\n" not in error and "Failed validating" not in error, error


LOCAL = ("127.0.0.1", 1)


def test_a_control_body_is_held_to_the_platforms_size_limit(tmp_path: Path) -> None:
    """A control body beyond max_body_bytes is a 413 before it is parsed, and no fault is switched on (it had no cap:
    60 MB were parsed and validated)."""
    store = open_store(tmp_path / "h.db")
    app = create_app(Settings(db=store.path, max_body_bytes=1024), store)
    fault = {"kind": "down", "platform": "dudu", "vendor": "v" * 2000}
    reply = call(app, "POST", "/_harness/faults", client=LOCAL, json=fault)
    assert reply.status_code == 413 and "BODY-SIZE" in reply.json()["error"], reply.text
    assert call(app, "GET", "/_harness/faults", client=LOCAL).json()["faults"] == []
    assert call(app, "POST", "/_harness/faults", client=LOCAL, json={"kind": "down", "platform": "dudu"}).status_code == 201


def test_a_refused_control_value_is_not_echoed_in_full(closed: Any) -> None:
    """jsonschema quotes the value it refuses: a 3 MB platform name came back as a 3 MB error."""
    for body, said in (
        ({"kind": "x" * 100_000, "platform": "dudu"}, "'xxx"),  # the schema's refusal (an enum)
        ({"kind": "down", "platform": "x" * 100_000}, "no platform 'xxx"),  # the handler's
    ):
        reply = call(closed, "POST", "/_harness/faults", client=LOCAL, json=body)
        assert reply.status_code == 400 and len(reply.content) < 1000, len(reply.content)
        assert reply.json()["error"].startswith(said), reply.json()["error"][:80]


def test_a_control_body_cut_short_changes_nothing(closed: Any) -> None:
    """A client that disconnects mid-body (or is too slow: the body-read deadline) is answered 400 BODY-INCOMPLETE;
    nothing below parses the fragment."""
    messages = [
        {"type": "http.request", "body": b'{"kind": "down", ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "POST", "path": "/_harness/faults", "raw_path": b"/_harness/faults", "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"host", b"harness.test")], "client": LOCAL,
        "server": ("harness.test", 80), "scheme": "http", "http_version": "1.1", "root_path": "",
    }  # fmt: skip
    asyncio.run(closed(scope, receive, send))
    assert sent[0]["status"] == 400 and b"BODY-INCOMPLETE" in sent[1]["body"], sent
    assert call(closed, "GET", "/_harness/faults", client=LOCAL).json()["faults"] == []


def test_serve_refuses_an_address_it_cannot_listen_on_before_noting_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--port 99999 served on 34463 under a banner naming 99999; --port -1 and an unresolvable host were uvicorn's
    log line and exit 3, after the store had noted the address that `certify start` prints as the base URL."""
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("uvicorn must not start"))
    db = tmp_path / "h.db"
    for args in (["--port", "99999"], ["--port", "-1"], ["--port", "0"], ["--host", "256.1.1.1"]):
        result = CliRunner().invoke(main, ["serve", *args, "--db", str(db)])
        assert result.exit_code == 2, (args, result.output)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("harness: "), (args, result.stderr)
    assert not db.exists() or open_store(db).query("SELECT * FROM serve_addresses") == []


def test_a_control_405_lists_every_method_of_the_path(closed: Any) -> None:
    """Starlette named only the first operation's methods: OPTIONS /_harness/faults said `Allow: GET, HEAD`, though
    the path serves POST and DELETE too (Schemathesis ST205 on specs/harness/control.yaml)."""
    for path, allow in (("/_harness/faults", "DELETE, GET, HEAD, POST"), ("/_harness/ymt/status", "GET, HEAD, POST")):
        reply = call(closed, "OPTIONS", path, client=LOCAL)
        assert reply.status_code == 405 and reply.headers["allow"] == allow, (path, reply.headers)
    assert call(closed, "PUT", "/_harness/faults/7", client=LOCAL).headers["allow"] == "DELETE"


def test_every_refusal_the_control_api_gives_is_in_its_spec() -> None:
    """The control API answers 400 for any parameter or body it refuses and 413 for an oversized body, but its spec
    documented 400 on two operations only: Schemathesis reported ST103 'Undocumented status code' on five."""
    from harness.specs import load_spec

    for path, item in load_spec("harness/control.yaml")["paths"].items():
        for method, operation in item.items():
            codes = set(map(str, operation["responses"]))
            if path != "/health":
                assert "400" in codes, (method, path)
            if method == "post":
                assert "413" in codes, (method, path)
