"""YMT tables. Everything lives in the store, never in process memory: `harness serve` may run several workers.

Secrets a request presents (authorisation codes, accessTokens) are kept as the journal shows them (the keyed hash of
harness.masking), so the store never holds a usable one; the merchant's AES key is sealed (harness/sealing.py) and the
platform's own signing keys are kept as they are (the platform needs them to sign).

Personal data is sealed at rest (step 2): a person's name, ID number and mobile in ``ymt_users`` hold
``sealed:v1:…`` (AES-256-GCM under the sealing key outside the store, each bound to its purpose); the ID number's
uniqueness and look-ups use ``id_card_index``, a keyed blind index (HMAC-SHA256 of the normalised number under a key
derived from the sealing key), so the store file alone reveals none of them.
"""

from typing import Any

from harness.store import AddColumn, Migrate, Schema, Step


def seal_users(conn: Any, store: Any) -> None:
    """Step 2: seal the name, ID number and mobile of every person an older store kept in clear, and fill the blind
    index. SQLite overwrites what it frees meanwhile (secure_delete), so the clear values do not linger in free pages."""
    from harness.ymt import admin

    sqlite = getattr(store, "dialect", "sqlite") == "sqlite"
    if sqlite:
        was = conn.execute("PRAGMA secure_delete").fetchone()[0]
        conn.execute("PRAGMA secure_delete = ON")
    try:
        for row in conn.execute("SELECT id, name, id_card, mobile FROM ymt_users").fetchall():
            user = admin.user_row(store, row)
            conn.execute(
                "UPDATE ymt_users SET name = ?, id_card = ?, mobile = ?, id_card_index = ? WHERE id = ?",
                (*admin.sealed_person(store, user["name"], user["id_card"], user["mobile"]), row["id"]),
            )
    finally:
        if sqlite:
            conn.execute(f"PRAGMA secure_delete = {int(was)}")


SCHEMA = Schema(
    "ymt",
    [
        Step(
            1,
            [
                # Channel apps (接入渠道, 表B.5 appId) that carry people through the real-name check and show their code.
                "CREATE TABLE IF NOT EXISTS ymt_apps (id TEXT PRIMARY KEY, name TEXT NOT NULL, created TEXT NOT NULL)",
                # People who passed the real-name check (001 §7.1.1) with their category data (§6 d): veteran, talent level.
                """CREATE TABLE IF NOT EXISTS ymt_users (
                id TEXT PRIMARY KEY, name TEXT NOT NULL, id_type TEXT NOT NULL, id_card TEXT NOT NULL UNIQUE, mobile TEXT,
                veteran INTEGER NOT NULL DEFAULT 0, talent_level TEXT, realname_at TEXT NOT NULL, created TEXT NOT NULL)""",
                # What a person let one channel app (and the scenes behind it) see (001 §7.1.2), one row per app.
                """CREATE TABLE IF NOT EXISTS ymt_consents (
                user_id TEXT NOT NULL REFERENCES ymt_users (id), app_id TEXT NOT NULL REFERENCES ymt_apps (id),
                scope TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (user_id, app_id))""",
                # B.5 authorisation codes: single use, 300 s, bound to one app; token_hash names what its exchange issued,
                # revoked when the code is presented again (D-YMT-AUTH).
                """CREATE TABLE IF NOT EXISTS ymt_auth_codes (
                code_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, app_id TEXT NOT NULL, scope TEXT NOT NULL,
                expires REAL NOT NULL, used_at REAL, token_hash TEXT)""",
                """CREATE TABLE IF NOT EXISTS ymt_tokens (
                token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, app_id TEXT NOT NULL, scope TEXT NOT NULL,
                expires REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)""",
                # Codes shown by B.1/B.3: the opaque platform-signed value the QR image holds (D-YMT-QR-VALUE), never personal data.
                """CREATE TABLE IF NOT EXISTS ymt_codes (
                value TEXT PRIMARY KEY, user_id TEXT NOT NULL, app_id TEXT NOT NULL, qrcode_type TEXT NOT NULL, scope TEXT NOT NULL,
                issued REAL NOT NULL, expires REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)""",
                "CREATE INDEX IF NOT EXISTS ymt_codes_user ON ymt_codes (user_id, app_id, qrcode_type)",
                # Scene sides (业务应用方, 001 §8.1.1) with what they registered, their RSA public key and AES reply key.
                """CREATE TABLE IF NOT EXISTS ymt_merchants (
                id TEXT PRIMARY KEY, scene_name TEXT NOT NULL, scene_type TEXT NOT NULL, service_types TEXT NOT NULL,
                qrcode_types TEXT NOT NULL, fields TEXT NOT NULL, public_key TEXT NOT NULL, aes_profile TEXT NOT NULL,
                aes_key BLOB NOT NULL, created TEXT NOT NULL)""",
                # Scanners (表B.4 macId, §8.1.2) under their merchant, optionally with their own RSA key (D-YMT-ENROL).
                """CREATE TABLE IF NOT EXISTS ymt_devices (
                merchant_id TEXT NOT NULL REFERENCES ymt_merchants (id), mac_id TEXT NOT NULL, public_key TEXT,
                created TEXT NOT NULL, PRIMARY KEY (merchant_id, mac_id))""",
                # Signed decode requests seen inside the window: the unique key refuses a replay (D-YMT-TIME-WINDOW).
                """CREATE TABLE IF NOT EXISTS ymt_seen_requests (
                merchant_id TEXT NOT NULL, mac_id TEXT NOT NULL, time TEXT NOT NULL, sign_sha256 TEXT NOT NULL, at REAL NOT NULL,
                PRIMARY KEY (merchant_id, mac_id, time, sign_sha256))""",
                "CREATE INDEX IF NOT EXISTS ymt_seen_requests_at ON ymt_seen_requests (at)",
                # The platform's own keys (PEM or raw): the emergency-code issuer and its certificate, the trust anchor, the
                # key that signs code values. Made on first use.
                "CREATE TABLE IF NOT EXISTS ymt_keys (name TEXT PRIMARY KEY, value BLOB NOT NULL, created TEXT NOT NULL)",
                # Platform switches: 'down' = 1 while the platform is marked unavailable (harness ymt down|up).
                "CREATE TABLE IF NOT EXISTS ymt_status (name TEXT PRIMARY KEY, value TEXT NOT NULL, at TEXT NOT NULL)",
            ],
        ),
        Step(
            2,
            [
                AddColumn("ymt_users", "id_card_index", "TEXT"),
                Migrate(seal_users),
                "CREATE UNIQUE INDEX IF NOT EXISTS ymt_users_id_card_index ON ymt_users (id_card_index)",
            ],
        ),
        Step(
            3,
            [
                # The same unique key, time first: a batch of decodes signed at about the same moment adds its rows to
                # one or two pages of the key's index instead of one page per scanner (a fifth fewer WAL pages written
                # per decode, measured in process). What the key decides (D-YMT-TIME-WINDOW) is unchanged.
                """CREATE TABLE ymt_seen_requests_next (
                merchant_id TEXT NOT NULL, mac_id TEXT NOT NULL, time TEXT NOT NULL, sign_sha256 TEXT NOT NULL, at REAL NOT NULL,
                PRIMARY KEY (time, merchant_id, mac_id, sign_sha256))""",
                "INSERT INTO ymt_seen_requests_next (merchant_id, mac_id, time, sign_sha256, at)"
                " SELECT merchant_id, mac_id, time, sign_sha256, at FROM ymt_seen_requests",
                "DROP TABLE ymt_seen_requests",
                "ALTER TABLE ymt_seen_requests_next RENAME TO ymt_seen_requests",
                "CREATE INDEX IF NOT EXISTS ymt_seen_requests_at ON ymt_seen_requests (at)",
            ],
        ),
    ],
)
