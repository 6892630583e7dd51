"""The seed's mangled URL `/api/ startStudy` (§1.3.3) is served under the tolerant profile with the same derived schema
as `/api/v1/startStudy`: a request that combines the alias with another form the
seed prints (the §1.3.2 table's key `student UserCode`) is accepted with a warning for each, never refused."""

from __future__ import annotations

from tests.zjpx.conftest import Zjpx


def test_the_startstudy_alias_accepts_the_tables_key_with_warnings(zj_tolerant: Zjpx) -> None:
    zj = zj_tolerant
    intake = zj.file_class(seed=7)
    keys = zj.keys(intake)
    keys["student UserCode"] = keys.pop("studentUserCode")
    reply = zj.call("/api/startStudy", keys)
    assert reply["returnCode"] == "0", reply
    failed = [v for v in zj.journal()[-1]["verdicts"] if not v["held"]]
    assert failed and all(v.get("level") == "SHOULD" for v in failed)
    assert "D-ZJPX-STUDENTUSERCODE-KEY" in {v.get("decision") for v in failed}
