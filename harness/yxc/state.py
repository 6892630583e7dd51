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
    ],
)
