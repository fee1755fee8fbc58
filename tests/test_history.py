"""The history store never stands between the user and the answer: writes are
queued, applied by one thread, retried while another process holds the lock."""

import sqlite3
import threading
import time

from assistant.store.history import HistoryStore


def hold_exclusive(path, seconds) -> threading.Event:
    """Another connection (as another process would) holds BEGIN EXCLUSIVE."""
    taken = threading.Event()

    def hold():
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("BEGIN EXCLUSIVE")
        taken.set()
        time.sleep(seconds)
        db.execute("COMMIT")
        db.close()

    threading.Thread(target=hold, daemon=True).start()
    assert taken.wait(5)
    return taken


def test_writes_return_at_once_while_the_database_is_locked_and_land_afterwards(tmp_path):
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path, 100)
    errors = []
    store.on_error = errors.append
    hold_exclusive(path, 3.0)
    started = time.monotonic()
    row = store.begin("how far should I run today?")
    store.finish(row, "Try five easy kilometres.", False, "m", "openai", 120.0, 900.0)
    second = store.begin("and tomorrow?")
    store.cut(second, "Rest")
    # queued, not written: the database stays locked for 3 s, and a write would have waited for it
    assert time.monotonic() - started < 1.0
    assert not store.flush(1.0) and store.waiting == 4
    assert store.flush(15.0)
    assert len(errors) == 1 and "locked" in errors[0] and str(path) in errors[0]
    turns = store.last(10)
    assert [(t.heard, t.reply, t.interrupted) for t in turns] == [
        ("how far should I run today?", "Try five easy kilometres.", False), ("and tomorrow?", "Rest", True)]
    store.close()


def test_close_writes_what_waits_and_text_that_sqlite_cannot_encode_is_cleaned(tmp_path):
    store = HistoryStore(tmp_path / "h.sqlite3", 3)
    for i in range(5):
        store.finish(store.begin(f"question {i} \ud800"), f"answer {i}", False)
    store.close()
    reopened = HistoryStore(tmp_path / "h.sqlite3", 3)
    turns = reopened.last(10)
    assert [t.heard for t in turns] == [f"question {i} ?" for i in (2, 3, 4)]  # retention: 3
    assert [t.reply for t in turns] == ["answer 2", "answer 3", "answer 4"]
    reopened.close()
