"""DUDU tables. Everything lives in the store, never in process memory: `harness serve` may run several workers."""

from harness.store import Schema, Step

SCHEMA = Schema(
    "dudu",
    [
        Step(
            1,
            [
                # One row per enterprise: its switches, check window and heartbeat interval (003 §3.1), the card whitelist's change
                # counter and full-rebuild version (D-DUDU-VERSIONS), and the current key group (D-DUDU-KEY-ROTATION).
                """CREATE TABLE IF NOT EXISTS dudu_enterprises (
                id TEXT PRIMARY KEY, name TEXT NOT NULL, secret TEXT NOT NULL,
                check_mode INTEGER NOT NULL DEFAULT 0, check_card_mode INTEGER NOT NULL DEFAULT 0, qrcode_mode INTEGER NOT NULL DEFAULT 1,
                card_mode INTEGER NOT NULL DEFAULT 1, white_mode INTEGER NOT NULL DEFAULT 1, is_line_white INTEGER NOT NULL DEFAULT 0,
                check_start TEXT NOT NULL DEFAULT '00:00:00', check_end TEXT NOT NULL DEFAULT '23:59:59',
                heartbeat_interval INTEGER NOT NULL DEFAULT 5,
                card_version INTEGER NOT NULL DEFAULT 0, card_full_version INTEGER NOT NULL DEFAULT 0,
                key_version INTEGER NOT NULL DEFAULT 0, previous_key_version INTEGER, rotated_at REAL,
                created TEXT NOT NULL)""",
                """CREATE TABLE IF NOT EXISTS dudu_lines (
                id TEXT PRIMARY KEY, enterprise_id TEXT NOT NULL REFERENCES dudu_enterprises (id), name TEXT NOT NULL,
                version INTEGER NOT NULL DEFAULT 0)""",
                # Per device: what its heartbeats last changed (versions held, offline_seq: D-DUDU-OFFLINE-SEQ); `heartbeats` and
                # `last_heartbeat` count changes only; the journal holds every heartbeat (cadence is graded from it).
                """CREATE TABLE IF NOT EXISTS dudu_devices (
                id TEXT PRIMARY KEY, enterprise_id TEXT NOT NULL REFERENCES dudu_enterprises (id), line_id TEXT REFERENCES dudu_lines (id),
                created TEXT NOT NULL, heartbeats INTEGER NOT NULL DEFAULT 0, last_heartbeat REAL,
                version_all TEXT, version_add TEXT, line_version TEXT, key_version TEXT, offline_seq INTEGER NOT NULL DEFAULT 0)""",
                # The card whitelist in its current state; `version` is the enterprise counter at the card's latest change, so an
                # incremental answer is exactly the cards with version > the device's (D-DUDU-VERSIONS).
                """CREATE TABLE IF NOT EXISTS dudu_cards (
                enterprise_id TEXT NOT NULL, card_no TEXT NOT NULL, flag INTEGER NOT NULL, blacklisted INTEGER NOT NULL DEFAULT 0,
                version INTEGER NOT NULL, PRIMARY KEY (enterprise_id, card_no))""",
                "CREATE INDEX IF NOT EXISTS dudu_cards_version ON dudu_cards (enterprise_id, version)",
                """CREATE TABLE IF NOT EXISTS dudu_line_cards (
                line_id TEXT NOT NULL, card_no TEXT NOT NULL, flag INTEGER NOT NULL, PRIMARY KEY (line_id, card_no))""",
                """CREATE TABLE IF NOT EXISTS dudu_key_groups (
                enterprise_id TEXT NOT NULL, version_code INTEGER NOT NULL, keys TEXT NOT NULL, created REAL NOT NULL,
                PRIMARY KEY (enterprise_id, version_code))""",
                "CREATE TABLE IF NOT EXISTS dudu_tokens (token TEXT PRIMARY KEY, enterprise_id TEXT NOT NULL, expires REAL NOT NULL)",
                # Offline logs (003 §4.3, §5.4); (device_id, seq) is unique so a retried log is stored once (D-DUDU-DUP-LOG).
                """CREATE TABLE IF NOT EXISTS dudu_offline_logs (
                id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('card', 'qr')),
                seq INTEGER, subject TEXT NOT NULL, status TEXT NOT NULL, time TEXT NOT NULL, at TEXT NOT NULL)""",
                "CREATE UNIQUE INDEX IF NOT EXISTS dudu_offline_logs_seq ON dudu_offline_logs (device_id, seq)",
                # Card and line lists as delivered, once per distinct content: journal rows of list replies reference them by sha256
                # instead of repeating 30 KB per device (DuduPlatform.journal_form).
                "CREATE TABLE IF NOT EXISTS dudu_list_snapshots (sha256 TEXT PRIMARY KEY, body BLOB NOT NULL)",
                """CREATE TABLE IF NOT EXISTS dudu_used_tickets (
                tid TEXT PRIMARY KEY, enterprise_id TEXT NOT NULL, device_id TEXT NOT NULL, at TEXT NOT NULL)""",
            ],
        ),
    ],
)
