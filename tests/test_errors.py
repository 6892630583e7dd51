"""One error tree: everything the harness raises on purpose is a HarnessError (harness/errors.py draws it)."""

from __future__ import annotations

import pytest

from harness.conformance.engine import CannotRun, TargetUnreachable
from harness.dudu.admin import DuduError
from harness.dudu.qr import TicketError
from harness.errors import HarnessError, PlatformError, SchemaViolation
from harness.rules import DuplicateRule
from harness.signing import SigningError
from harness.store import StoreUnreachable
from harness.yxc.scan import Unreachable
from harness.zjpx.vendor import VendorUnreachable


@pytest.mark.parametrize(
    "cls",
    [
        SigningError,
        TicketError,
        Unreachable,
        DuduError,
        DuplicateRule,
        VendorUnreachable,
        CannotRun,
        TargetUnreachable,
        PlatformError,
        SchemaViolation,
        StoreUnreachable,
    ],
)
def test_every_error_is_a_harness_error(cls: type) -> None:
    assert issubclass(cls, HarnessError)


@pytest.mark.parametrize("cls", [SigningError, TicketError])
def test_value_error_stays_a_base_where_callers_rely_on_it(cls: type) -> None:
    assert issubclass(cls, ValueError)


def test_an_unreachable_store_stays_a_statement_error() -> None:
    import sqlite3

    assert issubclass(StoreUnreachable, sqlite3.OperationalError)  # callers that catch the engine's errors catch it too


def test_the_tree_is_drawn_in_the_module() -> None:
    import harness.errors

    doc = harness.errors.__doc__ or ""
    for name in ("SigningError", "TicketError", "Unreachable", "DuplicateRule", "CannotRun", "StoreUnreachable"):
        assert name in doc
