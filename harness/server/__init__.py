"""The reference server: one Connexion AsyncApp serving every platform, each under its own base path."""

from harness.server.app import create_app

__all__ = ["create_app"]
