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

from assistant.skills.timing import spoken_duration
from assistant.skills.workouts import Entry, Logged, exercise_key

LB = 0.45359237
TO_KM = {"km": 1.0, "mi": 1.609344, "m": 0.001}
MAX_ESTIMATE_REPS = 12  # Epley's estimate is said as a record from sets of at most this many reps
ESTIMATE_STEP_KG = 0.5  # and only when it beats the best estimate by this much (it is said to the half)
SAME_DISTANCE = 0.1  # two distances within 10 % of the longer are the same for a pace record
MAX_DISTANCES = 64  # the distances an exercise's paces are kept for; past it, the nearest is replaced


def kilos(entry: Entry) -> float | None:
    """The load in kilos, to compare (a load without its unit counts as kilos); None without one."""
    if not entry.weight:
        return None
    return entry.weight * (LB if entry.weight_unit == "lb" else 1.0)


def load_said(entry: Entry) -> str:
    """The load as it was logged: "140 kilos", "225 pounds", "300" (no unit said)."""
    unit = {"kg": " kilos", "lb": " pounds"}.get(entry.weight_unit, "")
    return f"{entry.weight or 0:g}{unit}"


def one_rep_max(kg: float, reps: int) -> float:
    """Epley's estimate: what one rep at most would be, from ``reps`` at ``kg`` (reps 1-12)."""
    return kg if reps <= 1 else kg * (1 + min(reps, 12) / 30)


def distance_km(entry: Entry) -> float | None:
    """The distance in kilometres, to compare; None without one (or without its unit)."""
    return entry.distance * TO_KM[entry.distance_unit] if entry.distance and entry.distance_unit in TO_KM else None


def pace_s_per_km(entry: Entry) -> float | None:
    km = distance_km(entry)
    return entry.duration_s / km if km is not None and entry.duration_s else None


@dataclass(frozen=True, slots=True)
class Best:
    """An exercise's bests so far (None where the log holds none)."""

    exercise: str
    kg: float | None = None  # the heaviest load
    reps_at_kg: int | None = None  # the most reps at that load
    heaviest: str = ""  # that load as it was logged (``load_said``)
    unit: str = ""  # the unit it was logged in: kg, lb or "" (not said)
    one_rep_max: float | None = None
    pace: float | None = None  # s per km, the fastest
    reps: int | None = None  # the most reps in one go, without a load
    seconds: float | None = None  # the longest, without a distance (a plank)
    km: float | None = None  # the farthest
    # the fastest pace for each distance run (km, s per km): a record is the same distance's,
    # within ``SAME_DISTANCE`` (a fast kilometre is no record against a 10k)
    paces: tuple[tuple[float, float], ...] = ()


def best(entries: Sequence[Logged], exercise: str) -> Best:
    key = exercise_key(exercise)
    found = Best(exercise)
    for logged in entries:
        if exercise_key(logged.entry.exercise) == key:
            found = counted(found, logged.entry)
    return found


def counted(found: Best, entry: Entry) -> Best:
    """``found`` with ``entry`` (of the same exercise) counted in."""
    kg, reps_at, heaviest, unit = found.kg, found.reps_at_kg, found.heaviest, found.unit
    orm, pace, reps, seconds, km = found.one_rep_max, found.pace, found.reps, found.seconds, found.km
    load = kilos(entry)
    if (distance := distance_km(entry)) is not None:
        km = max(km or 0.0, distance)
    elif entry.duration_s and not entry.reps:
        seconds = max(seconds or 0.0, entry.duration_s)
    if load is not None:
        if kg is None or load > kg or (load == kg and (entry.reps or 0) > (reps_at or 0)):
            kg, reps_at, heaviest, unit = load, entry.reps, load_said(entry), entry.weight_unit
        if entry.reps:
            orm = max(orm or 0.0, one_rep_max(load, entry.reps))
    elif entry.reps:
        reps = max(reps or 0, entry.reps)
    paces = found.paces
    if (p := pace_s_per_km(entry)) is not None and distance is not None:
        pace = p if pace is None else min(pace, p)
        paces = _with_pace(paces, distance, p)
    return Best(found.exercise, kg, reps_at, heaviest, unit, orm, pace, reps, seconds, km, paces)


def _same_distance(paces: tuple[tuple[float, float], ...], km: float) -> int | None:
    """The index of the distance in ``paces`` that ``km`` is the same as, if any."""
    near = min(range(len(paces)), key=lambda i: abs(paces[i][0] - km), default=None)
    if near is None or abs(paces[near][0] - km) > SAME_DISTANCE * max(km, paces[near][0]):
        return None
    return near


def _with_pace(paces: tuple[tuple[float, float], ...], km: float, pace: float) -> tuple[tuple[float, float], ...]:
    at = _same_distance(paces, km)
    if at is None and len(paces) >= MAX_DISTANCES:
        at = min(range(len(paces)), key=lambda i: abs(paces[i][0] - km))
    if at is None:
        return (*paces, (km, pace))
    if pace < paces[at][1]:
        return (*paces[:at], (paces[at][0], pace), *paces[at + 1:])
    return paces


def new_best(entry: Entry, before: Sequence[Logged], day_start: float = float("inf")) -> str:
    """What ``entry`` beats of the bests ``before`` it, said once ("" when nothing).
    A first day is no record: nothing is said unless the exercise was logged
    before ``day_start`` (the second set of a first session beats only the first)."""
    key = exercise_key(entry.exercise)
    logged_before = any(logged.at < day_start and exercise_key(logged.entry.exercise) == key for logged in before)
    return beaten(entry, best(before, entry.exercise), logged_before)


def beaten(entry: Entry, was: Best, logged_before: bool) -> str:
    """``new_best`` from the bests so far (``was``); ``logged_before``: the exercise
    was logged before the day ``entry`` is of."""
    if not logged_before:
        return ""
    name = entry.exercise
    load = kilos(entry)
    if load is not None and was.kg is not None and load > was.kg:
        return f"That's a new best {name}: {load_said(entry)}."
    if load is not None and was.kg is not None and load == was.kg and (entry.reps or 0) > (was.reps_at_kg or 0):
        return f"That's a new best {name}: {entry.reps} reps at {load_said(entry)}."
    if load is not None and entry.reps and 1 < entry.reps <= MAX_ESTIMATE_REPS and was.one_rep_max is not None \
            and (estimate := one_rep_max(load, entry.reps)) >= was.one_rep_max + ESTIMATE_STEP_KG:
        return (f"That's a new best {name}: {entry.reps} reps at {load_said(entry)}, an estimated one-rep max of "
                f"{_in_unit(estimate, entry.weight_unit)}.")
    if load is None and entry.reps and was.reps is not None and entry.reps > was.reps:
        return f"That's a new best {name}: {entry.reps} in a row."
    pace, km = pace_s_per_km(entry), distance_km(entry)
    same = _same_distance(was.paces, km) if pace is not None and km is not None else None
    if pace is not None and same is not None and pace < was.paces[same][1]:
        return f"That's your fastest {name} over {km:.3g} kilometers yet: {_pace(pace)} per kilometer."
    return ""


def said(found: Best) -> str:
    """"What's my best deadlift?" from the log."""
    parts = []
    if found.kg is not None:
        reps = f" for {found.reps_at_kg}" if found.reps_at_kg and found.reps_at_kg > 1 else ""
        parts.append(f"{found.heaviest}{reps}")
        if found.one_rep_max and found.reps_at_kg and found.reps_at_kg > 1:
            parts.append(f"an estimated one-rep max of {_in_unit(found.one_rep_max, found.unit)}")
    if found.reps is not None:
        parts.append(f"{found.reps} in a row")
    if found.pace is not None:
        parts.append(f"{_pace(found.pace)} per kilometer at your fastest")
    if found.km is not None:
        parts.append(f"{found.km:.3g} kilometers at your farthest")
    if found.seconds is not None:
        parts.append(f"{spoken_duration(found.seconds)} at your longest")
    if not parts:
        return f"I have no {found.exercise} in your log."
    return f"Your best {found.exercise}: " + ", ".join(parts) + "."


def _in_unit(kg: float, unit: str) -> str:
    """Kilos said in ``unit`` (kg, lb, or "" when none was said), to the half."""
    value = kg / (LB if unit == "lb" else 1.0)
    return f"{round(value * 2) / 2:g}{ {'kg': ' kilos', 'lb': ' pounds'}.get(unit, '')}"


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
