from __future__ import annotations

import pytest

from tests.zjpx.conftest import Zjpx


@pytest.mark.parametrize("zj", ["sqlite", "postgresql"], indirect=True)  # both stores
def test_login_and_a_study_minute(zj: Zjpx) -> None:
    intake = zj.file_class()
    keys = zj.keys(intake)
    assert zj.start(keys)["returnCode"] == "0"
    zj.advance(60)
    reply = zj.hour(keys, 60, 60)
    assert reply == {"returnCode": "0", "returnMsg": "success"}, reply
    zj.advance(30)
    assert zj.end(keys)["returnCode"] == "0"
