"""What the coach has stored, for the person at the terminal: ``assistant
history``, ``timers``, ``log``, ``memory``, ``profile``, ``plan``, and the typed interview
of ``assistant onboard --text``. These read the database the daemon writes, and
may run while it does."""

from __future__ import annotations

import csv
import dataclasses
import json
import stat
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO

from assistant.core.config import Settings
from assistant.core.errors import ConfigError, InputError
from assistant.skills import log_csv, records
from assistant.skills.interview import KEYS, QUESTIONS
from assistant.skills.notebook import WORKOUTS_KEPT, Notebook
from assistant.skills.workout_replies import describe
from assistant.skills.workouts import Entry
from assistant.store.history import HistoryStore

MAX_IMPORT_BYTES = 64 * 2**20  # a CSV export of years of training is a few MiB


def history(last: int, as_json: bool, settings: Settings) -> int:
    if last < 1:
        raise ConfigError("history: --last must be at least 1")
    store = HistoryStore(settings.history.path, settings.history.retention_turns)
    turns = store.last(last)
    store.close()
    if as_json:
        print(json.dumps([dataclasses.asdict(t) for t in turns], indent=2))
        return 0
    for t in turns:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t.at))
        if not t.addressed:
            print(f"{when}  (overheard) {t.heard}")
            continue
        mark = " [interrupted]" if t.interrupted else ""
        print(f"{when}  you: {t.heard}\n{' ' * 21}coach: {t.reply or '-'}{mark}")
    return 0


def timers(as_json: bool, settings: Settings) -> int:
    from assistant.skills.timing import Running

    store = HistoryStore(settings.history.path, settings.history.retention_turns)
    try:
        stored = store.timers()
    finally:
        store.close()
    now = time.time()
    active = [Running.from_record(timer_id, record) for timer_id, record in stored]
    active = [r for r in active if r.paused_at is not None or r.ends_at() > now]
    if as_json:
        print(json.dumps([{"id": r.id, "kind": r.plan.kind, "what": r.describe(), "ends_at": r.ends_at(),
                           "paused": r.paused_at is not None, "left": r.remaining(now)} for r in active], indent=2))
    elif not active:
        print("no active timers")
    for r in [] if as_json else active:
        print(f"{r.id:>4}  {r.describe()}: {r.remaining(now)}")
    return 0


def since_date(text: str | None) -> float:
    """--since: YYYY-MM-DD, today or yesterday (local midnight), as Unix seconds."""
    if text is None:
        return 0.0
    today = date.today()
    named = {"today": today, "yesterday": today - timedelta(days=1)}
    try:
        day = named.get(text) or date.fromisoformat(text)
    except ValueError:
        raise InputError(f"log: --since {text!r}: not a date (YYYY-MM-DD, today or yesterday)") from None
    return datetime(day.year, day.month, day.day).timestamp()


def log(since: str | None, fmt: str, imperial: bool, settings: Settings) -> int:
    start = since_date(since)
    notebook = Notebook(settings.history.path)
    try:
        entries = notebook.workouts(start, limit=log_csv.MAX_ROWS)
        said = {e.id: notebook.said(e.id) for e in entries}
    finally:
        notebook.close()
    if fmt == "json":
        print(json.dumps([{"id": e.id, "at": e.at, "date": datetime.fromtimestamp(e.at).isoformat(timespec="seconds"),
                           **dataclasses.asdict(e.entry), "said": said[e.id]} for e in entries], indent=2))
    elif fmt == "csv":
        log_csv.written(entries, said, sys.stdout, imperial)
    elif not entries:
        print("nothing logged" + (f" since {since}" if since else ""))
    else:
        for e in entries:
            print(f"{e.id:>5}  {datetime.fromtimestamp(e.at):%Y-%m-%d %H:%M}  {describe(e.entry)}")
    return 0


def import_log(path: Path, imperial: bool, settings: Settings) -> int:
    """``assistant log --import FILE``: a workout app's CSV export (``log_csv``) into
    the log. A set the log already holds on the same day (same exercise, reps, load,
    distance and time) is passed over, however the entries hold their sets: a file
    imported twice, or the log's own export, adds nothing."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise InputError(f"log --import {path}: not a file")
        if path.stat().st_size > MAX_IMPORT_BYTES:
            raise InputError(f"log --import {path}: larger than {MAX_IMPORT_BYTES // 2**20} MiB")
        with path.open(newline="", encoding="utf-8-sig") as source:
            found = log_csv.read(source, str(path), imperial)
    except OSError as err:
        raise InputError(f"log --import {path}: {err.strerror or err}") from None
    except (log_csv.BadCsv, UnicodeDecodeError, csv.Error) as err:
        raise InputError(f"log --import {err if isinstance(err, log_csv.BadCsv) else f'{path}: {err}'}") from None
    notebook = Notebook(settings.history.path)
    try:
        held = notebook.workouts(limit=WORKOUTS_KEPT)
        count = Counter(key for logged in held for key in [_set_key(logged.at, logged.entry)]
                        for _ in range(max(1, logged.entry.sets or 1)))
        new = []
        for r in found:
            key = _set_key(r.at, r.entry)
            if count[key] > 0:
                count[key] -= 1
            else:
                new.append(r)
        if len(held) + len(new) > WORKOUTS_KEPT:
            raise InputError(f"log --import {path}: {len(new)} sets would take the log past the {WORKOUTS_KEPT} "
                             f"entries it keeps (it holds {len(held)})")
        notebook.log_many([(r.at, r.entry, r.said) for r in new])
    finally:
        notebook.close()
    print(f"imported {len(new)} set{'s' if len(new) != 1 else ''} from {path}"
          + (f" ({len(found) - len(new)} already in the log)" if len(found) > len(new) else ""))
    return 0


def _set_key(at: float, entry: Entry) -> tuple[object, ...]:
    """One set as an import compares it: the day, the exercise and its numbers."""
    load, km = records.kilos(entry), records.distance_km(entry)
    return (datetime.fromtimestamp(at).date(), entry.exercise, entry.reps, None if load is None else round(load, 1),
            None if km is None else round(km, 2), None if not entry.duration_s else round(entry.duration_s))


def memory(action: list[str], as_json: bool, settings: Settings) -> int:
    notebook = Notebook(settings.history.path)
    try:
        if action:
            if len(action) != 2 or action[0] != "forget" or not action[1].isdigit():
                raise InputError(f"memory: {' '.join(action)!r}: use 'assistant memory forget ID' (ID from the list)")
            if not notebook.forget(int(action[1])):
                raise InputError(f"memory forget {action[1]}: no fact with that id")
            print(f"forgot fact {action[1]}")
            return 0
        facts = notebook.facts()
    finally:
        notebook.close()
    if as_json:
        print(json.dumps([dataclasses.asdict(f) for f in facts], indent=2))
    elif not facts:
        print("nothing remembered yet")
    for f in [] if as_json else facts:
        print(f"{f.id:>4}  {datetime.fromtimestamp(f.at):%Y-%m-%d %H:%M}  {f.text}")
    return 0


def profile(as_json: bool, settings: Settings) -> int:
    from assistant.skills.coaching import POSITION

    notebook = Notebook(settings.history.path)
    try:
        stored = notebook.profile()
    finally:
        notebook.close()
    answers = {k: stored[k] for k in KEYS if stored.get(k)}
    answered = min(int(stored.get(POSITION, "0")), len(KEYS))
    if as_json:
        print(json.dumps({"profile": answers, "questions_done": answered, "complete": answered == len(KEYS)},
                         indent=2))
        return 0
    if not answers and not answered:
        print("no profile yet: run 'assistant onboard'")
        return 0
    for q in QUESTIONS:
        print(f"{q.label:>28}: {answers.get(q.key, '-')}")
    if answered < len(KEYS):
        print(f"\ninterview: {answered} of {len(KEYS)} questions done; 'assistant onboard' goes on from there")
    return 0


def plan(as_json: bool, settings: Settings) -> int:
    from assistant.skills import training_plan
    from assistant.skills.planning import NO_PLAN

    notebook = Notebook(settings.history.path)
    try:
        stored = notebook.plan()
    finally:
        notebook.close()
    try:
        week = training_plan.from_dict(stored) if stored is not None else None
    except training_plan.BadPlan as err:  # one that no longer checks: the coach does not use it
        raise InputError(f"plan: the stored plan in {notebook.path} is not used: {err}; "
                         "say 'make me a plan' to the coach for a new one") from None
    if as_json:
        print(json.dumps({"plan": training_plan.as_dict(week) if week else None}, indent=2))
        return 0
    if week is None:
        print(NO_PLAN.replace("Say: make me a plan", "Say 'make me a plan' to the coach, or run 'assistant onboard'"))
        return 0
    print(f"{week.level} {week.kind} plan ({week.source})")
    for day, session in week.days:
        print(f"\n{training_plan.WEEKDAYS[day].capitalize()}: {session.name}")
        for target in session.targets:
            print(f"  - {training_plan.say_target(target)}")
    if week.left_out:
        print(f"\nleft out for your limits: {', '.join(week.left_out)}")
    return 0


def onboard_text(settings: Settings, stdin: IO[str] = sys.stdin) -> int:
    """The interview typed: questions on stdout, one answer per line on stdin.
    Every answer is stored as it is given; an interrupted interview resumes."""
    from assistant.core.bus import Bus
    from assistant.skills.coaching import Coaching

    notebook = Notebook(settings.history.path)
    try:
        coaching = Coaching(Bus(), notebook)
        print(coaching.start_interview(), flush=True)
        while coaching.interview is not None:
            line = stdin.readline()
            if not line:
                print("\n(stopped: your answers so far are saved; run assistant onboard to go on)", flush=True)
                return 0
            print(coaching.hear(line.strip()), flush=True)
    finally:
        notebook.close()
    return 0
