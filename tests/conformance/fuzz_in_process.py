"""``python -m tests.conformance.fuzz_in_process DB VENDOR_DIR``: the README's fuzzing run, in-process and small.

Schemathesis with the harness.fuzz hooks (signing, the X-Harness-Origin tag) generates positive and negative cases
for every YXC operation and sends them to the reference server on store DB, signed with the vendor in VENDOR_DIR.
It runs in its own process because importing harness.fuzz registers Schemathesis hooks and checks globally.
Prints one JSON line: how many cases were sent.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any


def main(db: Path, vendor_dir: Path) -> None:
    os.environ["HARNESS_VENDOR_DIR"] = str(vendor_dir)
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.generation import GenerationMode

    import harness.fuzz  # noqa: F401  # the hooks schemathesis.toml loads
    from harness.config import Settings
    from harness.schema import open_store

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from harness.server import create_app

    store = open_store(db)
    app = create_app(Settings(db=db), store)
    schema = schemathesis.openapi.from_asgi("/yxc/openapi.json", app)
    sent = 0
    for operation in [r.ok() for r in schema.get_all_operations()]:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
            @given(case=operation.as_strategy(generation_mode=mode))
            def one(case: Any) -> None:
                nonlocal sent
                case.call()
                sent += 1

            one()
    store.close()
    print(json.dumps({"sent": sent}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
