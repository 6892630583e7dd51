from __future__ import annotations

from pathlib import Path

import pytest

from harness.ledger import SCHEMA, Ledger
from harness.store import Store

EVENTS = [
    {
        "type": "waybill",
        "waybill_no": f"YD2026120100{i:04d}",
        "plate": "云L69568",
        "driver_name": "张三",
        "idcard": "530102199001011234",
        "mobile": "13812345678",
        "weight_kg": 12.5 + i,
        "status": "accepted",
    }
    for i in range(40)
]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "ledger.db", schemas=[SCHEMA])
    yield s
    s.close()


@pytest.fixture
def filled(store: Store) -> tuple[Store, Ledger]:
    """A ledger of 40 events in 3 batches, each batch with its own checkpoint (sizes 10, 25, 40)."""
    ledger = Ledger.open(store)
    for chunk in (EVENTS[:10], EVENTS[10:25], EVENTS[25:]):
        with store.transaction() as conn:
            ledger.append_many(conn, chunk)
            ledger.checkpoint(conn)
    return store, ledger
