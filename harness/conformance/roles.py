"""The registry of certify roles: one line per role, ``name -> "module:Class"`` (imported only when used).

A role class has:

- ``name``, ``platform``, ``summary`` (one line), ``description`` (the command's help) and ``options``: the role's own
  :class:`RoleOption` s, which ``harness certify <name>`` adds to the options every role shares;
- ``__init__(self, common: CommonOptions, **options)``, raising :class:`~harness.errors.ConfigError` for bad
  arguments (exit 2);
- ``run(self, seed) -> Iterator[Event]`` (the :class:`~harness.conformance.model.Role` protocol).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

ROLES: dict[str, str] = {
    "yxc-timing-platform": "harness.yxc.certify:TimingPlatformRole",
    "yxc-callback": "harness.yxc.callback_role:YxcCallbackRole",
    "yxc-app-jump": "harness.yxc.appjump_role:YxcAppJumpRole",
    "zjpx-learning-platform-server": "harness.zjpx.certify:ServerRoleCommand",
    "zjpx-learning-platform-client": "harness.zjpx.certify:ClientRoleCommand",
    "zjpx-business-platform": "harness.zjpx.business:BusinessPlatformRoleCommand",
    "dudu-device-backend": "harness.dudu.certify:DeviceBackendRoleCommand",
    "ymt-scene-client": "harness.ymt.certify:SceneClientRoleCommand",
    "ymt-emergency-verifier": "harness.ymt.emergency_role:EmergencyVerifierRoleCommand",
    "ymt-platform": "harness.ymt.platform_role:PlatformRoleCommand",
    "dym-enterprise-client": "harness.dym.certify:EnterpriseClientRoleCommand",
    "dym-ledger-verifier": "harness.dym.ledger_role:LedgerVerifierRoleCommand",
}


@dataclass(frozen=True)
class RoleOption:
    """One role-specific option (``name`` ``vendor`` becomes ``--vendor``), declared without any CLI library."""

    name: str
    help: str
    required: bool = False
    default: Any = None
    type: type = str  # str, int or Path
    flag: bool = False


# Journal-graded roles grade a fresh session with this.
SINCE_OPTION = RoleOption("since", "Grade only journal entries after this id (a fresh session).", type=int)


@dataclass(frozen=True)
class CommonOptions:
    """What every role gets: where the report goes, the seed, the store and the decision profile."""

    report_dir: Path
    seed: int
    db: Path
    profile: str


def role_class(name: str) -> Any:
    if name not in ROLES:
        raise ConfigError(f"no certify role {name!r}; known roles: {', '.join(sorted(ROLES))}")
    module, _, cls = ROLES[name].partition(":")
    return getattr(importlib.import_module(module), cls)


# --- shared by the roles graded from the journal (dudu-device-backend, ymt-scene-client, dym-enterprise-client) --------
def open_subject_store(common: CommonOptions, sql: str, params: tuple[Any, ...], missing: str) -> Any:
    """The store a journal-graded role reads, once ``sql`` finds the subject it grades; else ``ConfigError(missing)``
    (one line, exit 2) with the store closed again."""
    from harness.schema import open_store

    store = open_store(common.db)
    try:
        found = store.query_one(sql, params)
    except Exception:
        store.close()
        raise
    if found is None:
        store.close()
        raise ConfigError(missing)
    return store


def run_checks(role: Any, *, target: str, context: Any, seed: int, options: dict[str, Any], spec_files: tuple[str, ...]) -> Any:
    """Run ``role``'s checks over ``context`` through the engine, with the specs the verdict rests on hashed and the
    platform's requirement catalogue for coverage (every role graded from the journal or a vendor's command)."""
    from harness.conformance import catalogue, engine
    from harness.specs import spec_sha256

    return engine.run(
        role=role.name,
        platform=role.platform,
        target=target,
        checks=role.checks,
        context=context,
        seed=seed,
        options=options,
        spec_hashes={f"specs/{f}": spec_sha256(f) for f in spec_files},
        requirements=catalogue.load(role.platform),
    )


def grade_journal(role: Any, *, target: str, context: Any, seed: int, options: dict[str, Any], spec_files: tuple[str, ...]) -> Any:
    """:func:`run_checks` for a role graded from the journal of its window (the window's bounds join the options)."""
    return run_checks(role, target=target, context=context, seed=seed, options={**options, **role.window.options()}, spec_files=spec_files)
