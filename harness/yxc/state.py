"""YXC tables: uploaded files, filed records, used timestamps and the sign-in codes the platform issues."""

from harness.store import Schema, Step

SCHEMA = Schema(
    "yxc",
    [
        Step(
            1,
            [
                "CREATE TABLE IF NOT EXISTS yxc_used_ts (user TEXT NOT NULL, ts INTEGER NOT NULL, at TEXT NOT NULL, PRIMARY KEY (user, ts))",
                """CREATE TABLE IF NOT EXISTS yxc_files (
                id INTEGER PRIMARY KEY AUTOINCREMENT, vendor TEXT NOT NULL, platnum TEXT NOT NULL, type TEXT NOT NULL,
                format TEXT, size INTEGER NOT NULL, sha256 TEXT NOT NULL, content BLOB NOT NULL, at TEXT NOT NULL)""",
                """CREATE TABLE IF NOT EXISTS yxc_records (
                vendor TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, inscode TEXT NOT NULL, body TEXT NOT NULL,
                at TEXT NOT NULL, PRIMARY KEY (vendor, kind, key))""",
                """CREATE TABLE IF NOT EXISTS yxc_codes (
                code TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('login', 'logout')), stunum TEXT NOT NULL,
                expirationtime TEXT NOT NULL, expires_ms INTEGER NOT NULL, issued_ms INTEGER NOT NULL,
                callback TEXT, source TEXT NOT NULL, record_key TEXT)""",
            ],
        ),
        Step(
            2,
            [
                # Every APP → mini-program jump the harness's page received (000 附件三), as opened, for the yxc-app-jump role.
                """CREATE TABLE IF NOT EXISTS yxc_app_jumps (
                id INTEGER PRIMARY KEY, at TEXT NOT NULL, app_name TEXT, path TEXT NOT NULL, stunum TEXT NOT NULL,
                photo_checked_at REAL NOT NULL, opened_at REAL NOT NULL, conforming INTEGER NOT NULL, code TEXT,
                source TEXT NOT NULL)""",
                "CREATE INDEX IF NOT EXISTS yxc_app_jumps_app ON yxc_app_jumps (app_name, id)",
            ],
        ),
    ],
)
