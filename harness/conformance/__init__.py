"""Conformance: roles made of checks, run by an engine that only yields events (see model.py).

Nothing here imports ``harness.reports`` or ``harness.cli``: reporters consume the event stream.
"""
