from harness.store import Schema, Step

SCHEMA = Schema("toy", [Step(1, ["CREATE TABLE IF NOT EXISTS toy_notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"])])
