"""The workout log as the common workout apps export and import it: Strong's CSV
(Hevy and others read it too), one row per set. A day's entries are one workout
(its date the first entry's time, its duration to the last one's); loads in
kilograms and distances in kilometres, or pounds and miles (as the app is set:
Strong's own export has no unit column); the words the user said in the notes.

Read back (``assistant log --import``), each row is an entry of one set (a run
or a plank of none), as a session led by the coach logs them, spread over the
workout's duration: the file written again is the file read. Pure logic: the
entries come from, and go to, the notebook.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from assistant.skills.records import LB, TO_KM, distance_km, kilos
from assistant.skills.templates import exercises
from assistant.skills.workouts import Entry, Logged

COLUMNS = ("Date", "Workout Name", "Duration", "Exercise Name", "Set Order", "Weight", "Reps", "Distance",
           "Seconds", "Notes", "Workout Notes", "RPE")
NEEDED = ("Date", "Exercise Name")
WORKOUT_NAME = "Coach"
DATE = "%Y-%m-%d %H:%M:%S"
MAX_ROWS = 200_000  # a file read back: more sets than decades of training


class BadCsv(ValueError):
    """A file that is not a workout export; the message names the row and column."""


def written(entries: Sequence[Logged], said: dict[int, str], out: IO[str], imperial: bool = False) -> None:
    """``entries`` (oldest first) as rows; ``said``: the words each was logged from;
    ``imperial``: loads in pounds and distances in miles, as the app is set."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for day in _days(entries):
        start, end = day[0].at, day[-1].at
        order: dict[str, int] = {}
        for logged in day:
            entry = logged.entry
            for _ in range(max(1, entry.sets or 1)):
                order[entry.exercise] = order.get(entry.exercise, 0) + 1
                writer.writerow(_row(entry, start, end, order[entry.exercise], said.get(logged.id, ""), imperial))


def _days(entries: Sequence[Logged]) -> Iterator[list[Logged]]:
    day: list[Logged] = []
    for logged in entries:
        if day and datetime.fromtimestamp(logged.at).date() != datetime.fromtimestamp(day[0].at).date():
            yield day
            day = []
        day.append(logged)
    if day:
        yield day


def _row(entry: Entry, start: float, end: float, set_no: int, said: str, imperial: bool) -> dict[str, str]:
    load = kilos(entry)
    km = distance_km(entry)
    if imperial:
        load = load / LB if load is not None else None
        km = km / TO_KM["mi"] if km is not None else None
    return {"Date": datetime.fromtimestamp(start).strftime(DATE), "Workout Name": WORKOUT_NAME,
            "Duration": _duration(end - start), "Exercise Name": entry.exercise, "Set Order": str(set_no),
            "Weight": _number(load), "Reps": str(entry.reps or 0), "Distance": _number(km),
            "Seconds": _number(entry.duration_s), "Notes": said, "Workout Notes": "", "RPE": ""}


def _number(value: float | None) -> str:
    return "0" if not value else f"{round(value, 3):g}"


def _duration(seconds: float) -> str:
    """Strong's form: "1h 5m", "45m", "0m"."""
    minutes = int(seconds // 60)
    return f"{minutes // 60}h {minutes % 60}m" if minutes >= 60 else f"{minutes}m"


def _seconds(duration: str) -> float:
    parts = re.fullmatch(r"\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*", duration or "")
    if parts is None:
        return 0.0
    hours, minutes, seconds = (int(p or 0) for p in parts.groups())
    return hours * 3600 + minutes * 60 + seconds


@dataclass(frozen=True, slots=True)
class Read:
    at: float
    entry: Entry
    said: str


def read(source: Iterable[str], where: str, imperial: bool = False) -> list[Read]:
    """The entries in a Strong-style export (``where``: its name, for the errors),
    oldest first. Loads are in kilograms and distances in kilometres (``imperial``:
    pounds and miles) unless a Weight Unit or Distance Unit column says otherwise."""
    reader = csv.DictReader(source)
    missing = [column for column in NEEDED if column not in (reader.fieldnames or ())]
    if missing:
        raise BadCsv(f"{where}: no {' or '.join(missing)} column: not a workout export")
    workouts: dict[tuple[str, str], list[tuple[Entry, str]]] = {}
    durations: dict[tuple[str, str], float] = {}
    for number, row in enumerate(reader, start=2):
        if number > MAX_ROWS:
            raise BadCsv(f"{where}: more than {MAX_ROWS} rows")
        key = (row.get("Date") or "", row.get("Workout Name") or "")
        durations.setdefault(key, _seconds(row.get("Duration") or ""))
        entry = _entry(row, f"{where}, row {number}", imperial)
        if entry is not None:
            workouts.setdefault(key, []).append((entry, (row.get("Notes") or "")[:500]))
    found = []
    for key, sets in workouts.items():
        start = _date(key[0], where)
        step = durations[key] / max(1, len(sets) - 1)
        found += [Read(start + i * step, entry, said) for i, (entry, said) in enumerate(sets)]
    return sorted(found, key=lambda r: r.at)


def _date(text: str, where: str) -> float:
    for form in (DATE, "%Y-%m-%d %H:%M", "%Y-%m-%d %I:%M:%S %p", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.replace("\u202f", " ").strip(), form).timestamp()
        except ValueError:
            continue
    raise BadCsv(f"{where}: Date {text!r} is not a date (YYYY-MM-DD HH:MM:SS)")


def _entry(row: dict[str, str], where: str, imperial: bool) -> Entry | None:
    """One set as an entry of one set; None for a row without an exercise."""
    raw = (row.get("Exercise Name") or "").strip()
    if not raw:
        return None
    name = exercises().get(re.sub(r"\s*\(.*\)\s*$", "", raw).lower(), raw.lower())[:60]

    def number(column: str) -> float | None:
        text = (row.get(column) or "").strip().replace(",", ".")
        try:
            value = float(text) if text else 0.0
        except ValueError:
            raise BadCsv(f"{where}: {column} {text!r} is not a number") from None
        if not 0 <= value < 100_000:
            raise BadCsv(f"{where}: {column} {text!r} is out of bounds")
        return value or None

    weight, reps, km, seconds = number("Weight"), number("Reps"), number("Distance"), number("Seconds")
    said_weight, said_distance = ((row.get(c) or "").strip().lower() for c in ("Weight Unit", "Distance Unit"))
    pounds = said_weight in ("lb", "lbs") if said_weight else imperial
    miles = said_distance in ("mi", "miles") if said_distance else imperial
    return Entry(name, 1 if reps or weight else None, int(reps) if reps else None, weight,
                 ("lb" if pounds else "kg") if weight else "", km, ("mi" if miles else "km") if km else "", seconds)
