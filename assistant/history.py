"""Conversation memory in SQLite (stdlib sqlite3, WAL): every turn is committed
as soon as it exists, so a crash or a stop loses nothing said.

A turn is written when the utterance is heard (reply empty) and completed when
the reply ends; ``retention_turns`` bounds the table.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,               -- when the utterance was heard, Unix seconds
    heard TEXT NOT NULL,
    addressed INTEGER NOT NULL,     -- 1: said to the coach, 0: ambient
    reply TEXT NOT NULL DEFAULT '',
    interrupted INTEGER NOT NULL DEFAULT 0,
    model TEXT NOT NULL DEFAULT '',
    api TEXT NOT NULL DEFAULT '',
    first_token_ms REAL,
    total_ms REAL
)
"""


def default_path() -> Path:
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "assistant" / "history.sqlite3"


@dataclass(frozen=True, slots=True)
class StoredTurn:
    id: int
    at: float
    heard: str
    addressed: bool
    reply: str
    interrupted: bool
    model: str
    api: str
    first_token_ms: float | None
    total_ms: float | None


class HistoryStore:
    def __init__(self, path: str | Path | None, retention_turns: int):
        self.path = Path(path).expanduser() if path else default_path()
        self.retention = retention_turns
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # durable across a crash of the process
            self.db.execute(SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise ConfigError(f"history.path {self.path}: cannot open the history database: {err}") from None

    def begin(self, heard: str, addressed: bool = True) -> int:
        cursor = self.db.execute("INSERT INTO turns (at, heard, addressed) VALUES (?, ?, ?)",
                                 (time.time(), heard, int(addressed)))
        self._prune()
        return int(cursor.lastrowid)

    def finish(self, row: int, reply: str, interrupted: bool, model: str = "", api: str = "",
               first_token_ms: float | None = None, total_ms: float | None = None) -> None:
        self.db.execute(
            "UPDATE turns SET reply=?, interrupted=?, model=?, api=?, first_token_ms=?, total_ms=? WHERE id=?",
            (reply, int(interrupted), model, api, first_token_ms, total_ms, row),
        )

    def cut(self, row: int, heard_reply: str) -> None:
        self.db.execute("UPDATE turns SET reply=?, interrupted=1 WHERE id=?", (heard_reply, row))

    def last(self, count: int) -> list[StoredTurn]:
        rows = self.db.execute(
            "SELECT id, at, heard, addressed, reply, interrupted, model, api, first_token_ms, total_ms "
            "FROM turns ORDER BY id DESC LIMIT ?", (count,)
        ).fetchall()
        return [StoredTurn(r[0], r[1], r[2], bool(r[3]), r[4], bool(r[5]), r[6], r[7], r[8], r[9])
                for r in reversed(rows)]

    def _prune(self) -> None:
        self.db.execute("DELETE FROM turns WHERE id <= (SELECT MAX(id) FROM turns) - ?", (self.retention,))

    def close(self) -> None:
        self.db.close()
