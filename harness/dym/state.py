"""DYM tables. Everything lives in the store (``harness serve`` may run several workers). The ledger's own tables are
``harness.ledger.SCHEMA``; ``dym_chain`` maps each record's events to their ledger entries."""

from harness.dym import personal
from harness.store import AddColumn, Migrate, Schema, Step

SCHEMA = Schema(
    "dym",
    [
        Step(
            1,
            [
                # Integrating applications (D-DYM-SIGN): kind enterprise (物流企业), platform (互联网公共服务平台) or regulator.
                """CREATE TABLE IF NOT EXISTS dym_apps (
                app_id TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('enterprise', 'platform', 'regulator')),
                name TEXT NOT NULL, uscc TEXT, secret TEXT NOT NULL, created TEXT NOT NULL)""",
                "CREATE TABLE IF NOT EXISTS dym_nonces (app_id TEXT NOT NULL, nonce TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (app_id, nonce))",
                "CREATE INDEX IF NOT EXISTS dym_nonces_at ON dym_nonces (at)",
                # Driver codes: the claim's data, the driver token's SHA-256 (D-DYM-DRIVER-TOKEN), the colour last put on chain.
                """CREATE TABLE IF NOT EXISTS dym_drivers (
                driver_code TEXT PRIMARY KEY, app_id TEXT NOT NULL, id_no TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
                mobile TEXT NOT NULL, plate TEXT NOT NULL, token_hash TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'blue', status_at REAL NOT NULL, created REAL NOT NULL)""",
                "CREATE INDEX IF NOT EXISTS dym_drivers_mobile ON dym_drivers (mobile)",
                """CREATE TABLE IF NOT EXISTS dym_vehicles (
                driver_code TEXT NOT NULL, plate TEXT NOT NULL, trailer_plate TEXT, bound REAL NOT NULL, PRIMARY KEY (driver_code, plate))""",
                "CREATE INDEX IF NOT EXISTS dym_vehicles_plate ON dym_vehicles (plate)",
                """CREATE TABLE IF NOT EXISTS dym_enterprises (
                enterprise_code TEXT PRIMARY KEY, app_id TEXT NOT NULL, uscc TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
                mobile TEXT NOT NULL, created REAL NOT NULL)""",
                # Issues reported by the regulator (D-DYM-ISSUES): open while handled IS NULL.
                """CREATE TABLE IF NOT EXISTS dym_issues (
                issue_id TEXT PRIMARY KEY, driver_code TEXT NOT NULL, kind TEXT NOT NULL, description TEXT NOT NULL,
                reported REAL NOT NULL, deadline REAL NOT NULL, handled REAL)""",
                "CREATE INDEX IF NOT EXISTS dym_issues_driver ON dym_issues (driver_code)",
                """CREATE TABLE IF NOT EXISTS dym_consents (
                consent_id TEXT PRIMARY KEY, driver_code TEXT NOT NULL, grantee TEXT NOT NULL, scope TEXT NOT NULL,
                granted REAL NOT NULL, expires REAL NOT NULL, revoked REAL)""",
                "CREATE INDEX IF NOT EXISTS dym_consents_driver ON dym_consents (driver_code, grantee)",
                """CREATE TABLE IF NOT EXISTS dym_waybills (
                app_id TEXT NOT NULL, waybill_no TEXT NOT NULL, kind TEXT NOT NULL, driver_code TEXT, details TEXT NOT NULL,
                status TEXT NOT NULL, qr_expires INTEGER NOT NULL, created REAL NOT NULL, accepted_by TEXT, accepted REAL,
                PRIMARY KEY (app_id, waybill_no))""",
                # One row per event put on chain: which record it concerns and its ledger entry (written in the same
                # transaction as the entry, from the exchange's unit of work).
                """CREATE TABLE IF NOT EXISTS dym_chain (
                id INTEGER PRIMARY KEY AUTOINCREMENT, subject_kind TEXT NOT NULL, subject TEXT NOT NULL, event TEXT NOT NULL,
                idx INTEGER NOT NULL, attestation_id TEXT NOT NULL, at TEXT NOT NULL)""",
                "CREATE INDEX IF NOT EXISTS dym_chain_subject ON dym_chain (subject_kind, subject)",
                "CREATE TABLE IF NOT EXISTS dym_keys (name TEXT PRIMARY KEY, key BLOB NOT NULL)",
            ],
        ),
        Step(
            2,
            [
                # Public-waybill acceptance claims (D-DYM-WAYBILL): taken when an accept is answered, before its unit of
                # work commits; the primary key makes one claim per waybill across every process sharing the store.
                # The commit that records the acceptance deletes its claim; a rolled-back one releases it.
                """CREATE TABLE IF NOT EXISTS dym_accept_claims (
                app_id TEXT NOT NULL, waybill_no TEXT NOT NULL, holder TEXT NOT NULL, at REAL NOT NULL,
                PRIMARY KEY (app_id, waybill_no))""",
            ],
        ),
        Step(
            3,
            [
                # Personal data sealed at rest (harness/dym/personal.py): the blind indexes the lookups and the
                # uniqueness of a claim (one code per ID number, per USCC) now rest on, then the rows stored in clear
                # sealed; the indexes on the clear values go (a sealed value is never compared): see personal.migrate_rows.
                AddColumn("dym_drivers", "id_no_bi", "TEXT"),
                AddColumn("dym_drivers", "mobile_bi", "TEXT"),
                AddColumn("dym_vehicles", "plate_bi", "TEXT"),
                AddColumn("dym_enterprises", "uscc_bi", "TEXT"),
                Migrate(lambda conn, store: personal.migrate_rows(store, conn)),
                "CREATE UNIQUE INDEX IF NOT EXISTS dym_drivers_id_no_bi ON dym_drivers (id_no_bi)",
                "CREATE INDEX IF NOT EXISTS dym_drivers_mobile_bi ON dym_drivers (mobile_bi)",
                "CREATE UNIQUE INDEX IF NOT EXISTS dym_vehicles_driver_plate_bi ON dym_vehicles (driver_code, plate_bi)",
                "CREATE INDEX IF NOT EXISTS dym_vehicles_plate_bi ON dym_vehicles (plate_bi)",
                "CREATE UNIQUE INDEX IF NOT EXISTS dym_enterprises_uscc_bi ON dym_enterprises (uscc_bi)",
            ],
        ),
    ],
)
