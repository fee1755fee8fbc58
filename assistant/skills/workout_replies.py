"""What the workout log says back: an entry in words, its confirmation, the
answer to a question about the log, and the week's summary for the model's
prompt. Pure logic; the language of the log itself is ``workouts``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from assistant.skills import records
from assistant.skills.timing import spoken_duration
from assistant.skills.workouts import SPOKEN_UNITS, Entry, Logged, Period, Query, exercise_key

SUMMARY_DAYS = 7
SUMMARY_ENTRIES = 12  # at most this many entries in the model's context


def _num(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def _unit(value: float, unit: str) -> str:
    one, many = SPOKEN_UNITS[unit]
    return f"{_num(value)} {one if value == 1 else many}"


def describe(entry: Entry) -> str:
    """"squats: 3 sets of 10 at 60 kilos", "20 push-ups", "run: 5 kilometers in 27 minutes"."""
    weight = ""
    if entry.weight is not None:
        weight = f" at {_unit(entry.weight, entry.weight_unit) if entry.weight_unit else _num(entry.weight)}"
    if entry.sets is not None and entry.reps is None and entry.duration_s:  # an interval session
        rounds = "round" if entry.sets == 1 else "rounds"
        return f"{entry.exercise}: {entry.sets} {rounds} of {spoken_duration(entry.duration_s)}"
    if entry.sets is not None:
        reps = f" of {entry.reps}" if entry.reps is not None else ""
        name = entry.exercise if entry.exercise.endswith("ss") else plural(entry.exercise, entry.reps or 2)
        return f"{name}: {entry.sets} {'set' if entry.sets == 1 else 'sets'}{reps}{weight}"
    if entry.reps is not None:
        time_ = f" in {spoken_duration(entry.duration_s)}" if entry.duration_s else ""
        return f"{entry.reps} {plural(entry.exercise, entry.reps)}{weight}{time_}"
    if entry.distance is not None:
        time_ = f" in {spoken_duration(entry.duration_s)}" if entry.duration_s else ""
        return f"{entry.exercise}: {_unit(entry.distance, entry.distance_unit)}{time_}"
    if entry.duration_s is not None:
        return f"{entry.exercise}: {spoken_duration(entry.duration_s)}"
    return entry.exercise


def confirmation(entry: Entry) -> str:
    return f"Logged {describe(entry)}."


def bounds(period: Period, now: float) -> tuple[float, float]:
    """[start, end) of ``period`` in Unix seconds, in local time."""
    today = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today - timedelta(days=today.weekday())
    start, end = {
        "today": (today, today + timedelta(days=1)),
        "yesterday": (today - timedelta(days=1), today),
        "this week": (monday, monday + timedelta(days=7)),
        "last week": (monday - timedelta(days=7), monday),
        "this month": (today.replace(day=1), today + timedelta(days=1)),
        "all": (datetime(1970, 1, 2), today + timedelta(days=1)),
    }[period]
    return start.timestamp(), end.timestamp()


def _when(at: float, now: float) -> str:
    day = datetime.fromtimestamp(at).date()
    today = datetime.fromtimestamp(now).date()
    if day == today:
        return "today"
    if day == today - timedelta(days=1):
        return "yesterday"
    if (today - day).days < 7:
        return f"on {day.strftime('%A')}"
    return f"on {day.strftime('%B')} {day.day}"


def _total(entry: Entry) -> int:
    return (entry.sets or 1) * (entry.reps or 0) if entry.reps is not None else 0


def answer(query: Query, entries: Sequence[Logged], now: float) -> str:
    """The reply to ``query`` from the stored ``entries`` (any order), never invented."""
    start, end = bounds(query.period, now)
    period = "" if query.period == "all" else f" {query.period}"
    found = sorted((e for e in entries if start <= e.at < end), key=lambda e: e.at)
    if query.exercise:
        key = exercise_key(query.exercise)
        found = [e for e in found if exercise_key(e.entry.exercise) == key]
    if query.kind == "list":
        if not found:
            return f"Nothing is logged{period}."
        return f"{period.strip().capitalize() or 'So far'} you logged " + "; ".join(
            describe(e.entry) for e in found) + "."
    if query.kind == "best":
        return records.said(records.best(found, query.exercise))
    if query.kind == "progress":
        return records.progress(found, query.exercise, period.strip() or "so far")
    if query.kind == "last":
        if not found:
            return f"I have no {query.exercise} in your log."
        last = found[-1]
        name, colon, detail = describe(last.entry).partition(": ")  # "squats: 3 sets of 5" -> "3 sets of 5"
        detail = detail if colon else name
        return f"Your last entry for {query.exercise} was {_when(last.at, now)}: {detail}."
    if query.kind == "distance":
        units = {e.entry.distance_unit for e in found if e.entry.distance}
        if not found or len(units) != 1:
            return f"I have no {query.exercise} distances logged{period}." if not units else \
                "Your distances are logged in different units: " + "; ".join(describe(e.entry) for e in found) + "."
        total = sum(e.entry.distance or 0 for e in found)
        return f"{_unit(total, units.pop())}{period}, in {len(found)} {plural(query.exercise, len(found))}."
    # count: repetitions when the entries have them, else how many times
    if not found:
        return f"No {query.exercise} logged{period}."
    reps = sum(_total(e.entry) for e in found)
    if reps:
        return f"{reps} {plural(query.exercise, reps)}{period}."
    return f"{len(found)} {plural(query.exercise, len(found))}{period}."


def plural(name: str, count: float) -> str:
    """"push-up" -> "push-ups", "bench press" -> "bench presses"; a name already
    plural ("squats", stored before the exercise list) stays."""
    if count == 1 or (name.endswith("s") and not name.endswith("ss")):
        return name
    return name + "es" if name.endswith(("sh", "ch", "x", "ss")) else name + "s"


def summary(entries: Iterable[Logged], now: float) -> str:
    """Recent training for the model's context: the last ``SUMMARY_DAYS`` days, at
    most ``SUMMARY_ENTRIES`` entries, newest kept; "" when there is none."""
    since = now - SUMMARY_DAYS * 86400
    recent = sorted((e for e in entries if since < e.at <= now), key=lambda e: e.at)[-SUMMARY_ENTRIES:]
    if not recent:
        return ""
    days: dict[str, list[str]] = {}
    for e in recent:
        days.setdefault(_when(e.at, now), []).append(describe(e.entry))
    return "Training the user logged in the last week: " + "; ".join(
        f"{day}: {', '.join(items)}" for day, items in days.items()) + "."
