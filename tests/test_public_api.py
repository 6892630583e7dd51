"""The public surface is pinned: a change to it is a decision, not an accident."""

import harness


def test_exported_members() -> None:
    assert harness.__all__ == sorted(harness.__all__)
    assert set(harness.__all__) == {"HarnessError", "PlatformError", "Signer", "StoreError", "__version__", "verify_signature"}
    for name in harness.__all__:
        assert hasattr(harness, name)
