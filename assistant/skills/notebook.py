"""The coach's notebook in SQLite: the workout log, the facts the user asked it
to remember, and the profile from the interview. Same database file as the
history, its own connection.

Unlike the history's turns, these writes are done at once (a few hundred
microseconds on WAL), because the very next utterance may read them: "undo
that", "what did I do today?". They run on the event loop, so a lock held by
another process is waited for 0.2 s at most. Every table is bounded.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from assistant.core.errors import ConfigError, StoreError
from assistant.skills.memory import MAX_FACTS, Fact
from assistant.skills.workouts import Entry, Logged
from assistant.store.history import default_path

SCHEMA = """
CREATE TABLE IF NOT EXISTS workouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,               -- when it was logged, Unix seconds
    entry TEXT NOT NULL,            -- JSON: workouts.Entry
    said TEXT NOT NULL DEFAULT ''   -- the words it was logged from
);
CREATE INDEX IF NOT EXISTS workouts_at ON workouts(at);
CREATE TABLE IF NOT EXISTS facts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    text TEXT NOT NULL              -- in the user's words: "my left knee is sore"
);
CREATE TABLE IF NOT EXISTS plan (
    id INTEGER PRIMARY KEY CHECK (id = 1),  -- one plan: the week the coach leads
    at REAL NOT NULL,
    plan TEXT NOT NULL              -- JSON: training_plan.as_dict
);
CREATE TABLE IF NOT EXISTS lead (
    id INTEGER PRIMARY KEY CHECK (id = 1),  -- the session being led: where it stands
    at REAL NOT NULL,
    lead TEXT NOT NULL              -- JSON: led_session.Lead.as_dict
);
CREATE TABLE IF NOT EXISTS profile (
    key TEXT PRIMARY KEY,           -- an interview question's key, or _position / _offered
    value TEXT NOT NULL,
    at REAL NOT NULL
);
"""
logger = logging.getLogger(__name__)
T = TypeVar("T")

# The notebook runs on the event loop: it waits this long for another process's
# lock, then gives up (the command is refused aloud, the prompt goes without it).
BUSY_S = 0.2
RETRY_S = 5.0  # after a failure to make the tables, how long before trying again
WORKOUTS_KEPT = 50_000  # about 7 years of 20 entries a day
PROFILE_KEYS_KEPT = 32
MAX_TEXT = 400
UNAVAILABLE = "I can't reach my notebook right now. Please try again in a moment."  # said when a StoreError
MAX_PLAN = 20_000  # characters of a stored plan's JSON (seven days of eight exercises take about 4,000)


def _json(text: str, what: str) -> Any:
    """A stored JSON value, or None (with a warning) when it is none: edited by hand."""
    try:
        return json.loads(text)
    except ValueError as err:
        logger.warning("the stored %s is not JSON, so it is not used: %s", what, err)
        return None


def _guarded(method: Callable[..., T]) -> Callable[..., T]:
    """The tables made if they are not yet; sqlite3's errors as StoreError."""

    @functools.wraps(method)
    def guarded(self: Notebook, *args: Any, **kwargs: Any) -> T:
        self._ensure()
        with self._guard():
            return method(self, *args, **kwargs)

    return guarded


class Notebook:
    """Every method raises StoreError when the database cannot be used now (a lock
    held past the busy timeout, say); the tables are made on first use, so a
    database locked at start-up delays them, not the daemon."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path).expanduser() if path else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_S)
        except (OSError, sqlite3.Error) as err:
            raise ConfigError(f"history.path {self.path}: cannot open the notebook: {err}") from err
        self._ready = False
        self._unreadable: set[int] = set()  # workout rows that are no entry, said once
        self._tried = -RETRY_S  # when making the tables last failed (monotonic s)
        try:
            self._ensure()
        except StoreError as err:
            logger.warning("%s; the tables are made when it is free", err)

    def _ensure(self) -> None:
        if self._ready:
            return
        if time.monotonic() - self._tried < RETRY_S:  # do not wait on the lock again so soon
            raise StoreError(f"the notebook in {self.path}: its tables are not made yet (the database was locked)")
        self._tried = time.monotonic()
        with self._guard():
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        self._ready = True

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as err:
            raise StoreError(f"the notebook in {self.path}: {err}") from err

    def close(self) -> None:
        self.db.close()

    # -- the workout log -----------------------------------------------------------

    @_guarded
    def log(self, entry: Entry, said: str = "", at: float | None = None) -> Logged:
        at = time.time() if at is None else at
        with self.db:
            cursor = self.db.execute("INSERT INTO workouts (at, entry, said) VALUES (?, ?, ?)",
                                     (at, json.dumps(dataclasses.asdict(entry)), said[:MAX_TEXT]))
            self._prune()
        assert cursor.lastrowid is not None
        return Logged(cursor.lastrowid, at, entry)

    @_guarded
    def log_many(self, entries: Sequence[tuple[float, Entry, str]]) -> int:
        """Entries at their own times (an import), in one transaction; how many."""
        with self.db:
            self.db.executemany("INSERT INTO workouts (at, entry, said) VALUES (?, ?, ?)",
                                [(at, json.dumps(dataclasses.asdict(entry)), said[:MAX_TEXT])
                                 for at, entry, said in entries])
            self._prune()
        return len(entries)

    def _prune(self) -> None:
        """The log keeps its newest ``WORKOUTS_KEPT`` entries by when they were done
        (an imported history is older than what was logged since)."""
        self.db.execute("DELETE FROM workouts WHERE id IN (SELECT id FROM workouts ORDER BY at DESC, id DESC "
                        "LIMIT -1 OFFSET ?)", (WORKOUTS_KEPT,))

    @_guarded
    def unlog(self, entry_id: int) -> bool:
        with self.db:
            return self.db.execute("DELETE FROM workouts WHERE id = ?", (entry_id,)).rowcount > 0

    @_guarded
    def workouts(self, since: float = 0.0, limit: int = 10_000) -> list[Logged]:
        """Entries done at or after ``since``, oldest first by when they were done (the
        newest ``limit``)."""
        rows = self.db.execute("SELECT id, at, entry FROM workouts WHERE at >= ? ORDER BY at DESC, id DESC LIMIT ?",
                               (since, limit)).fetchall()
        return self._readable(rows)

    @_guarded
    def version(self) -> tuple[int, int]:
        """What changes whenever the log does (an entry logged, or undone): what a
        summary of it may be cached by."""
        newest, count = self.db.execute("SELECT coalesce(max(id), 0), count(*) FROM workouts").fetchone()
        return newest, count

    def _readable(self, rows: list[Any]) -> list[Logged]:
        """The rows as entries, oldest first; a row edited into something that is
        no entry is passed over (and said once in the log), never a failed read."""
        entries = []
        for entry_id, at, text in reversed(rows):
            try:
                entries.append(Logged(entry_id, at, Entry(**json.loads(text))))
            except (ValueError, TypeError) as err:
                if entry_id not in self._unreadable and len(self._unreadable) < 1000:
                    self._unreadable.add(entry_id)
                    logger.warning("workout %d in %s is unreadable, passed over: %s", entry_id, self.path, err)
        return entries

    @_guarded
    def workouts_of(self, exercise: str, limit: int = 5_000) -> list[Logged]:
        """The newest ``limit`` entries of one exercise, under its name or an older
        plural of it ("squats"), oldest first (its records). A row edited into
        something that is not JSON is passed over."""
        names = (exercise, f"{exercise}s", f"{exercise}es")
        rows = self.db.execute("SELECT id, at, entry FROM workouts WHERE json_extract(CASE WHEN json_valid(entry) "
                               "THEN entry END, '$.exercise') IN (?, ?, ?) ORDER BY at DESC, id DESC LIMIT ?",
                               (*names, limit)).fetchall()
        return self._readable(rows)

    @_guarded
    def workout(self, entry_id: int) -> Logged | None:
        rows = self.db.execute("SELECT id, at, entry FROM workouts WHERE id = ?", (entry_id,)).fetchall()
        return next(iter(self._readable(rows)), None)

    @_guarded
    def said(self, entry_id: int) -> str:
        row = self.db.execute("SELECT said FROM workouts WHERE id = ?", (entry_id,)).fetchone()
        return row[0] if row else ""

    # -- facts ------------------------------------------------------------------------

    @_guarded
    def remember(self, text: str) -> Fact:
        at = time.time()
        with self.db:
            cursor = self.db.execute("INSERT INTO facts (at, text) VALUES (?, ?)", (at, text[:MAX_TEXT]))
            self.db.execute("DELETE FROM facts WHERE id NOT IN (SELECT id FROM facts ORDER BY id DESC LIMIT ?)",
                            (MAX_FACTS,))
        assert cursor.lastrowid is not None
        return Fact(cursor.lastrowid, at, text[:MAX_TEXT])

    @_guarded
    def forget(self, fact_id: int | None) -> int:
        """Remove one fact, or all when ``fact_id`` is None; returns how many went."""
        with self.db:
            if fact_id is None:
                return self.db.execute("DELETE FROM facts").rowcount
            return self.db.execute("DELETE FROM facts WHERE id = ?", (fact_id,)).rowcount

    @_guarded
    def facts(self) -> list[Fact]:
        rows = self.db.execute("SELECT id, at, text FROM facts ORDER BY id").fetchall()
        return [Fact(*row) for row in rows]

    # -- the profile --------------------------------------------------------------------

    @_guarded
    def profile(self) -> dict[str, str]:
        """Every stored key, the interview's own (``_position``, ``_offered``) included."""
        return dict(self.db.execute("SELECT key, value FROM profile ORDER BY key").fetchall())

    @_guarded
    def set_profile(self, values: dict[str, str]) -> None:
        now = time.time()
        with self.db:
            for key, value in values.items():
                self.db.execute("INSERT INTO profile (key, value, at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE "
                                "SET value = excluded.value, at = excluded.at", (key, value[:MAX_TEXT], now))
            self.db.execute("DELETE FROM profile WHERE key NOT IN (SELECT key FROM profile ORDER BY at DESC LIMIT ?)",
                            (PROFILE_KEYS_KEPT,))

    @_guarded
    def clear_profile(self, keys: tuple[str, ...]) -> None:
        with self.db:
            self.db.executemany("DELETE FROM profile WHERE key = ?", [(k,) for k in keys])

    # -- the plan ------------------------------------------------------------------------

    @_guarded
    def plan(self) -> Any:
        """The stored plan as its JSON holds it (``training_plan.from_dict`` checks
        it), or None."""
        row = self.db.execute("SELECT plan FROM plan WHERE id = 1").fetchone()
        return _json(row[0], "plan") if row else None

    @_guarded
    def set_plan(self, plan: dict[str, Any]) -> None:
        self._store_one("plan", plan, "a plan")

    @_guarded
    def lead(self) -> Any:
        """Where the led session stood when stored, as its JSON holds it, or None."""
        row = self.db.execute("SELECT lead FROM lead WHERE id = 1").fetchone()
        return _json(row[0], "led session") if row else None

    @_guarded
    def set_lead(self, lead: dict[str, Any] | None) -> None:
        """Store where the led session stands (None: no session is led)."""
        if lead is None:
            with self.db:
                self.db.execute("DELETE FROM lead")
            return
        self._store_one("lead", lead, "a led session")

    def _store_one(self, table: str, value: dict[str, Any], what: str) -> None:
        """``value`` as the one row of ``table`` (plan, lead), as JSON of ``MAX_PLAN`` characters at most."""
        text = json.dumps(value)
        if len(text) > MAX_PLAN:
            raise StoreError(f"{what} of {len(text)} characters: at most {MAX_PLAN}")
        with self.db:
            self.db.execute(f"INSERT INTO {table} (id, at, {table}) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE "
                            f"SET at = excluded.at, {table} = excluded.{table}", (time.time(), text))
