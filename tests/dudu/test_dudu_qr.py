"""The QR ticket scheme's test vectors (fixtures/dudu_qr_vectors.json) and `harness qr dudu make`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fixtures import dudu as fx
from harness.cli import main
from harness.dudu import admin, qr
from harness.schema import open_store


@pytest.mark.parametrize("vector", fx.qr_vectors(), ids=lambda v: v["name"])
def test_vectors(vector: dict) -> None:
    ticket = qr.parse(vector["ticket"])
    assert qr.verify(ticket, vector["key"]) is vector["verifies"]
    if vector["verifies"]:
        assert qr.tag_for(vector["key"], vector["signed_part"]).hex() == vector["tag_hex"]
        payload = vector["payload"]
        assert (ticket.eid, ticket.exp, ticket.iat, ticket.tid, ticket.uid) == (
            payload["eid"],
            payload["exp"],
            payload["iat"],
            payload["tid"],
            payload["uid"],
        )
        again = qr.make(
            vector["key_id"],
            vector["key"],
            eid=payload["eid"],
            uid=payload["uid"],
            iat=payload["iat"],
            lifetime=payload["exp"] - payload["iat"],
            tid=payload["tid"],
        )
        assert again == vector["ticket"]
        assert ticket.valid_at(vector["valid_at"][0]) and ticket.valid_at(vector["valid_at"][1])
        assert not ticket.valid_at(vector["valid_at"][1] + 1)


@pytest.mark.parametrize("text", ["", "DD1", "DD2.1.e30.AAAA", "DD1.x.e30.AAAA", "DD1.1.!!!.AAAA", "DD1.1.e30.AAAAAAAAAAAAAAAAAAAAAA"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(qr.TicketError):
        qr.parse(text)


def test_parse_rejects_non_canonical_padding_bits() -> None:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    ticket = fx.qr_vectors()[0]["ticket"]
    # The tag's last character carries 2 bits of data and 4 padding bits: the next character decodes to the same tag.
    twin = ticket[:-1] + alphabet[alphabet.index(ticket[-1]) + 1]
    with pytest.raises(qr.TicketError):
        qr.parse(twin)


def test_cli_make_issues_a_verifiable_ticket(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    store = open_store(db)
    fx.world(store)
    png = tmp_path / "t.png"
    result = CliRunner().invoke(
        main, ["qr", "dudu", "make", "--enterprise", fx.ENTERPRISE, "--key-id", "2", "--png", str(png), "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    ticket = qr.parse(result.output.strip())
    _, keys = admin.key_group(store, fx.ENTERPRISE)
    assert ticket.key_id == 2 and qr.verify(ticket, keys[1]["key"]) and png.stat().st_size > 0
