"""Conversation memory in SQLite (stdlib sqlite3, WAL): every turn is written as
soon as it exists, so a crash or a stop loses nothing said.

A turn is written when the utterance is heard (reply empty) and completed when
the reply ends; ``retention_turns`` bounds the table.

The store never stands between the user and the answer: ``begin``, ``finish``
and ``cut`` only queue the write and return at once. One writer thread applies
the queue in order, each write with a short busy timeout; while the database
is locked or failing, writes wait in the queue (at most ``BACKLOG`` of them, the
oldest dropped past that) and are retried with backoff, and the outage is
reported once through ``on_error``. ``close`` gives the backlog a last chance.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assistant.core.errors import ConfigError

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
TIMERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS timers (
    id INTEGER PRIMARY KEY,         -- the timer's id in TIMER_* events
    state TEXT NOT NULL,            -- active, finished or cancelled
    record TEXT NOT NULL,           -- JSON: the command, its origin (Unix s), paused_at
    updated REAL NOT NULL
)
"""
TIMERS_KEPT = 100  # ended timers kept (their ids stay unique)
BUSY_TIMEOUT_S = 1.0  # one write waits this long for a lock before it counts as failed
BACKLOG = 10_000  # writes kept while the database is unavailable; older ones are dropped
RETRY_S = (0.25, 5.0)  # backoff between retries: first, longest
ROWS_KEPT = 256  # turns whose row can still be finished or cut
CACHE_KIB = 128  # SQLite page cache per connection


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


@dataclass(frozen=True, slots=True)
class _Write:
    """One queued write: ``kind`` begin, finish, cut or discard, for the turn ``handle``; or
    timer, for the timer ``handle``."""

    kind: str
    handle: int
    values: tuple


def _clean(text: str) -> str:
    """SQLite stores UTF-8: a lone surrogate would fail the write, so replace it."""
    return text.encode("utf-8", "replace").decode("utf-8")


class HistoryStore:
    def __init__(self, path: str | Path | None, retention_turns: int):
        self.path = Path(path).expanduser() if path else default_path()
        self.retention = retention_turns
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = self._connect()
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(SCHEMA)
            self.db.execute(TIMERS_SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise ConfigError(f"history.path {self.path}: cannot open the history database: {err}") from err
        self.on_error: Callable[[str], None] = lambda message: None  # called from the writer thread
        self.dropped = 0  # writes lost to a full backlog
        self._handles = iter(range(1, 2**62))
        self._queue: deque[_Write] = deque()
        self._wake = threading.Condition()
        self._busy = False  # the writer holds a write it has not finished
        self._closing = False
        self._writer: threading.Thread | None = None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
        db.execute("PRAGMA synchronous=NORMAL")  # durable across a crash of the process
        # The store appends and reads back a few recent rows: a small page cache is
        # plenty, and keeps memory flat while the table grows to retention_turns.
        db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        return db

    # -- the answer's side: queue and return ------------------------------------

    def begin(self, heard: str, addressed: bool = True) -> int:
        """Queue the new turn's row; returns its handle for ``finish`` and ``cut``."""
        handle = next(self._handles)
        self._put(_Write("begin", handle, (time.time(), _clean(heard), int(addressed))))
        return handle

    def finish(self, handle: int, reply: str, interrupted: bool, model: str = "", api: str = "",
               first_token_ms: float | None = None, total_ms: float | None = None) -> None:
        self._put(_Write("finish", handle, (_clean(reply), int(interrupted), model, api, first_token_ms, total_ms)))

    def discard(self, handle: int) -> None:
        """Remove a turn begun but withdrawn (the user went on speaking)."""
        self._put(_Write("discard", handle, ()))

    def cut(self, handle: int, heard_reply: str) -> None:
        self._put(_Write("cut", handle, (_clean(heard_reply),)))

    def save_timer(self, timer_id: int, state: str, record: dict) -> None:
        """Queue the timer's state (active, finished, cancelled) and record."""
        self._put(_Write("timer", timer_id, (state, json.dumps(record), time.time())))

    def timers(self) -> list[tuple[int, dict]]:
        """The active timers, oldest first: (id, record)."""
        rows = self.db.execute("SELECT id, record FROM timers WHERE state='active' ORDER BY id").fetchall()
        return [(int(r[0]), json.loads(r[1])) for r in rows]

    def last_timer_id(self) -> int:
        return int(self.db.execute("SELECT COALESCE(MAX(id), 0) FROM timers").fetchone()[0])

    def _put(self, write: _Write) -> None:
        with self._wake:
            if len(self._queue) >= BACKLOG:
                self._queue.popleft()
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    logger.warning("history: backlog full, %d writes dropped so far", self.dropped)
            self._queue.append(write)
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_all, name="history-writer", daemon=True)
                self._writer.start()
            self._wake.notify()

    @property
    def waiting(self) -> int:
        """Writes not yet in the database."""
        with self._wake:
            return len(self._queue)  # the write in progress stays at the head until it lands

    def flush(self, timeout: float) -> bool:
        """Wait until every queued write is in the database; False if time ran out."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(min(left, 0.05))
        return True

    # -- the writer thread --------------------------------------------------------

    def _write_all(self) -> None:
        db = self._connect()
        rows: OrderedDict[int, int] = OrderedDict()  # handle -> row id, for the latest turns
        delay, failing = RETRY_S[0], False
        try:
            while True:
                with self._wake:
                    while not self._queue and not self._closing:
                        self._wake.wait()
                    if not self._queue:
                        return
                    write = self._queue[0]
                    self._busy = True
                try:
                    self._apply(db, write, rows)
                except sqlite3.Error as err:
                    with self._wake:
                        self._busy = False
                        closing = self._closing
                    if not failing:
                        failing = True
                        self.on_error(f"cannot write {self.path} ({err}); {self.waiting} writes wait, retrying")
                    if closing:
                        return
                    with self._wake:
                        self._wake.wait(delay)
                    delay = min(delay * 2, RETRY_S[1])
                    continue
                with self._wake:
                    if self._queue and self._queue[0] is write:
                        self._queue.popleft()
                    self._busy = False
                    self._wake.notify_all()
                if failing and not self._queue:
                    logger.info("history: %s is writable again; the waiting turns are stored", self.path)
                    failing, delay = False, RETRY_S[0]
        finally:
            db.close()

    def _apply(self, db: sqlite3.Connection, write: _Write, rows: OrderedDict[int, int]) -> None:
        if write.kind == "timer":
            db.execute("INSERT OR REPLACE INTO timers (id, state, record, updated) VALUES (?, ?, ?, ?)",
                       (write.handle, *write.values))
            db.execute("DELETE FROM timers WHERE state != 'active' AND id <= (SELECT MAX(id) FROM timers) - ?",
                       (TIMERS_KEPT,))
            return
        if write.kind == "begin":
            cursor = db.execute("INSERT INTO turns (at, heard, addressed) VALUES (?, ?, ?)", write.values)
            rows[write.handle] = int(cursor.lastrowid or 0)
            while len(rows) > ROWS_KEPT:
                rows.popitem(last=False)
            db.execute("DELETE FROM turns WHERE id <= (SELECT MAX(id) FROM turns) - ?", (self.retention,))
            return
        row = rows.get(write.handle)
        if row is None:  # its begin was dropped from a full backlog, or is too old
            return
        if write.kind == "discard":
            db.execute("DELETE FROM turns WHERE id=?", (row,))
            rows.pop(write.handle, None)
        elif write.kind == "finish":
            db.execute("UPDATE turns SET reply=?, interrupted=?, model=?, api=?, first_token_ms=?, total_ms=? "
                       "WHERE id=?", (*write.values, row))
        else:
            db.execute("UPDATE turns SET reply=?, interrupted=1 WHERE id=?", (*write.values, row))

    # -- reading, closing -----------------------------------------------------------

    def last(self, count: int) -> list[StoredTurn]:
        rows = self.db.execute(
            "SELECT id, at, heard, addressed, reply, interrupted, model, api, first_token_ms, total_ms "
            "FROM turns ORDER BY id DESC LIMIT ?", (count,)
        ).fetchall()
        return [StoredTurn(r[0], r[1], r[2], bool(r[3]), r[4], bool(r[5]), r[6], r[7], r[8], r[9])
                for r in reversed(rows)]

    def close(self, timeout: float = 3.0) -> None:
        """Write what waits (for up to ``timeout`` s), then close."""
        if not self.flush(timeout):
            logger.error("history: %d writes could not be stored in %s before stopping", self.waiting, self.path)
        with self._wake:
            self._closing = True
            self._wake.notify_all()
        if self._writer is not None:
            self._writer.join(timeout=BUSY_TIMEOUT_S + 1)
        self.db.close()
