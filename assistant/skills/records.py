"""Personal records from the workout log: the heaviest load of an exercise,
the most reps at it, the estimated one-rep max (Epley), the fastest pace for a
distance; a new one noticed when a set is logged ("That's a new best deadlift:
140 kilos."), and the answers to "what's my best deadlift?". Pure logic: the
entries come from the notebook.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from assistant.skills.workouts import Entry, Logged, exercise_key

LB = 0.45359237
TO_KM = {"km": 1.0, "mi": 1.609344, "m": 0.001}


def kilos(entry: Entry) -> float | None:
    if entry.weight is None:
        return None
    return entry.weight * (LB if entry.weight_unit == "lb" else 1.0)


def one_rep_max(kg: float, reps: int) -> float:
    """Epley's estimate: what one rep at most would be, from ``reps`` at ``kg`` (reps 1-12)."""
    return kg if reps <= 1 else kg * (1 + min(reps, 12) / 30)


def pace_s_per_km(entry: Entry) -> float | None:
    if not entry.distance or not entry.duration_s or entry.distance_unit not in TO_KM:
        return None
    return entry.duration_s / (entry.distance * TO_KM[entry.distance_unit])


@dataclass(frozen=True, slots=True)
class Best:
    """An exercise's bests so far (None where the log holds none)."""

    exercise: str
    kg: float | None = None  # the heaviest load
    reps_at_kg: int | None = None  # the most reps at that load
    one_rep_max: float | None = None
    pace: float | None = None  # s per km, the fastest
    reps: int | None = None  # the most reps in one go, without a load


def best(entries: Sequence[Logged], exercise: str) -> Best:
    key = exercise_key(exercise)
    kg = reps_at = orm = pace = reps = None
    for logged in entries:
        entry = logged.entry
        if exercise_key(entry.exercise) != key:
            continue
        load = kilos(entry)
        if load is not None:
            if kg is None or load > kg or (load == kg and (entry.reps or 0) > (reps_at or 0)):
                kg, reps_at = load, entry.reps
            if entry.reps:
                orm = max(orm or 0.0, one_rep_max(load, entry.reps))
        elif entry.reps:
            reps = max(reps or 0, entry.reps)
        if (p := pace_s_per_km(entry)) is not None:
            pace = p if pace is None else min(pace, p)
    return Best(exercise, kg, reps_at, orm, pace, reps)


def new_best(entry: Entry, before: Sequence[Logged], day_start: float = float("inf")) -> str:
    """What ``entry`` beats of the bests ``before`` it, said once ("" when nothing).
    A first day is no record: nothing is said unless the exercise was logged
    before ``day_start`` (the second set of a first session beats only the first)."""
    was = best(before, entry.exercise)
    key = exercise_key(entry.exercise)
    if not any(logged.at < day_start and exercise_key(logged.entry.exercise) == key for logged in before):
        return ""
    name = entry.exercise
    load = kilos(entry)
    if load is not None and was.kg is not None and load > was.kg:
        return f"That's a new best {name}: {_kg(load)}."
    if load is not None and was.kg is not None and load == was.kg and (entry.reps or 0) > (was.reps_at_kg or 0):
        return f"That's a new best {name}: {entry.reps} reps at {_kg(load)}."
    if load is None and entry.reps and was.reps is not None and entry.reps > was.reps:
        return f"That's a new best {name}: {entry.reps} in a row."
    pace = pace_s_per_km(entry)
    if pace is not None and was.pace is not None and pace < was.pace:
        return f"That's your fastest {name} yet: {_pace(pace)} per kilometer."
    return ""


def said(found: Best) -> str:
    """"What's my best deadlift?" from the log."""
    parts = []
    if found.kg is not None:
        reps = f" for {found.reps_at_kg}" if found.reps_at_kg and found.reps_at_kg > 1 else ""
        parts.append(f"{_kg(found.kg)}{reps}")
        if found.one_rep_max and found.reps_at_kg and found.reps_at_kg > 1:
            parts.append(f"an estimated one-rep max of {_kg(found.one_rep_max)}")
    if found.reps is not None:
        parts.append(f"{found.reps} in a row")
    if found.pace is not None:
        parts.append(f"{_pace(found.pace)} per kilometer at your fastest")
    if not parts:
        return f"I have no {found.exercise} in your log."
    return f"Your best {found.exercise}: " + ", ".join(parts) + "."


def _kg(value: float) -> str:
    rounded = round(value * 2) / 2
    return f"{rounded:g} kilos"


def _pace(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"


def progress(found: Sequence[Logged], exercise: str, period: str) -> str:
    """"How has my squat gone this month?": the days it was trained in ``period``
    and how its heaviest load (or most reps) moved from the first day to the last."""
    if not found:
        return f"I have no {exercise} in your log {period}."
    by_day: dict[date, list[Logged]] = {}
    for logged in found:
        by_day.setdefault(datetime.fromtimestamp(logged.at).date(), []).append(logged)
    days = len(by_day)
    trained = f"{exercise} {period}: {days} day{'s' if days != 1 else ''}"
    first, last = (best(list(by_day[day]), exercise) for day in (min(by_day), max(by_day)))
    if days > 1 and first.kg is not None and last.kg is not None and first.kg != last.kg:
        return f"{trained[:1].upper()}{trained[1:]}; your heaviest went from {_kg(first.kg)} to {_kg(last.kg)}."
    if days > 1 and first.reps is not None and last.reps is not None and first.reps != last.reps:
        return f"{trained[:1].upper()}{trained[1:]}; your most in a row went from {first.reps} to {last.reps}."
    top = best(found, exercise)
    at_best = f"; your heaviest was {_kg(top.kg)}" if top.kg is not None else ""
    return f"{trained[:1].upper()}{trained[1:]}{at_best}."
