"""The reference server: one Connexion AsyncApp serving every platform, each under its own base path."""

import warnings

# Connexion imports starlette.testclient at import time, which warns about httpx; the server never uses it.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from harness.server.app import create_app  # noqa: E402 - after the warning filter, on purpose

__all__ = ["create_app"]
