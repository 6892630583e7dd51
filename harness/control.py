"""Handlers of the control API (specs/harness/control.yaml)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness import __version__, faults
from harness.config import Settings
from harness.errors import ConfigError
from harness.journal import Journal
from harness.pki import list_vendors
from harness.platforms import PLATFORMS
from harness.store import Store
from harness.yxc import appjump, codes


class ControlApi:
    def __init__(self, store: Store, journal: Journal, settings: Settings) -> None:
        self._store = store
        self._journal = journal
        self._settings = settings

    def resolve(self, operation_id: str) -> Callable[..., Any]:
        return getattr(self, operation_id.rsplit(".", 1)[-1])

    async def health(self) -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "profile": self._settings.profile, "platforms": list(PLATFORMS)}

    async def journal(
        self,
        vendor: str | None = None,
        platform: str | None = None,
        operation: str | None = None,
        verdict: str | None = None,
        rule: str | None = None,
        after_id: int | None = None,
        session: str | None = None,
        origin: str | None = None,
        limit: int = 100,
    ) -> dict[str, Any]:
        entries = self._journal.query(
            vendor=vendor,
            platform=platform,
            operation=operation,
            verdict=verdict,
            rule=rule,
            after_id=after_id,
            session=session,
            origin=origin,
            limit=limit,
        )
        return {"entries": entries}

    async def issue_yxc_code(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        code = codes.issue(
            self._store,
            body["stunum"],
            body.get("kind", "login"),
            body.get("ttl_seconds") or self._settings.code_ttl_seconds,
            body.get("callback"),
            source="control-api",
        )
        return {"code": code.code, "expirationtime": code.expirationtime, "stunum": code.stunum, "kind": code.kind}, 201

    async def yxc_app_jump(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        try:
            result = appjump.app_jump(
                self._store,
                body["path"],
                body["stunum"],
                body["photo_checked_at"],
                opened_at=body.get("opened_at"),
                profile=body.get("profile") or self._settings.profile,
                ttl_seconds=self._settings.code_ttl_seconds,
                source="control-api",
            )
        except ConfigError as exc:
            return {"error": _said(exc)}, 400
        return result.as_dict(), 200

    async def ymt_status(self) -> dict[str, Any]:
        from harness.ymt import admin as ymt_admin

        return {"down": ymt_admin.is_down(self._store)}

    async def set_ymt_status(self, body: dict[str, Any]) -> dict[str, Any]:
        from harness.ymt import admin as ymt_admin

        ymt_admin.set_down(self._store, bool(body["down"]))
        return {"down": ymt_admin.is_down(self._store)}

    async def dudu_devices(self, enterprise_id: str) -> dict[str, Any]:
        rows = self._store.query(
            "SELECT id, offline_seq, heartbeats FROM dudu_devices WHERE enterprise_id = ? ORDER BY id", (enterprise_id,)
        )
        return {"devices": [{"device_id": r["id"], "offline_seq": r["offline_seq"], "heartbeats": r["heartbeats"]} for r in rows]}

    async def vendors(self, platform: str | None = None) -> dict[str, Any]:
        return {
            "vendors": [
                {"platform": v.platform, "user": v.user, "platnum": v.platnum, "name": v.name} for v in list_vendors(self._store, platform)
            ]
        }

    async def faults_list(self, include_ended: bool = False, platform: str | None = None) -> dict[str, Any]:
        return {"faults": [r.as_dict() for r in faults.listed(self._store, include_ended=include_ended, platform=platform)]}

    async def faults_add(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        scope = {k: body.get(k) for k in ("operation", "vendor", "delay_ms", "status", "probability", "every")}
        try:
            rule = faults.add(
                self._store,
                body["kind"],
                body["platform"],
                duration=body.get("duration_seconds"),
                start_in=body.get("start_in_seconds") or 0.0,
                **scope,
            )
        except ConfigError as exc:
            return {"error": _said(exc)}, 400
        return {"fault": rule.as_dict()}, 201

    async def faults_clear(self, platform: str | None = None) -> dict[str, Any]:
        return {"cleared": faults.clear(self._store, platform=platform)}

    async def faults_clear_one(self, fault_id: int) -> tuple[dict[str, Any], int]:
        try:
            return {"cleared": faults.clear(self._store, [fault_id])}, 200
        except ConfigError as exc:
            return {"error": _said(exc)}, 404


def _said(exc: Exception) -> str:
    """A refusal's message, which may quote the value refused (a platform name megabytes long): at most
    ``PROBLEM_LIMIT`` characters, as for the schema's refusals (harness.server.app)."""
    from harness.server.app import PROBLEM_LIMIT
    from harness.server.schema_errors import shorten

    return shorten(str(exc), PROBLEM_LIMIT)
