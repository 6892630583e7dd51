"""harness: mock-and-conformance test service for Chinese supervision-platform integrations.

The public surface is pinned in ``__all__`` (see tests/test_public_api.py); everything else is internal.
"""

from harness.errors import HarnessError, PlatformError, StoreError
from harness.signing import Signer, verify_signature

__version__ = "0.1.0"

__all__ = [
    "HarnessError",
    "PlatformError",
    "Signer",
    "StoreError",
    "__version__",
    "verify_signature",
]
