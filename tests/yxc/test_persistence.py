"""State survives a restart: files, filings, used timestamps, issued codes and the journal live in the store."""

from __future__ import annotations

from fixtures import files
from fixtures.yxc import YxcData


def test_state_survives_a_restart(make_harness, store_target) -> None:
    """On both stores: a restart is a new handle (and app) on the same SQLite file or PostgreSQL schema."""
    first = make_harness(store=store_target)
    ids = {t: first.upload(t, files.png())["data"]["id"] for t in ("coachimg", "jsz", "sfz")}
    ids["pyht"] = first.upload("pyht", files.pdf())["data"]["id"]
    replayed_ts = 0
    query = first.signer.query(files.png())
    replayed_ts = int(query["ts"])
    assert first.upload("sfz", files.png(), ts=replayed_ts)["errorcode"] == 0
    journaled = len(first.app.state_journal.query(limit=None))
    first.store.close()

    second = make_harness(store=store_target, enrolment=first.enrolment)
    # file ids uploaded before the restart are still valid references
    assert second.post_json("coach", YxcData(5).coach(ids))["errorcode"] == 0
    # a ts consumed before the restart is still consumed
    assert second.upload("sfz", files.png(), ts=replayed_ts)["errorcode"] == 201
    # the enrolment and the journal are still there
    assert len(second.app.state_journal.query(limit=None)) == journaled + 2
