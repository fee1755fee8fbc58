"""The week in one answer ("How was my week?"): the days trained against the
plan's, the sets per exercise, the records set, the streak of weeks with
training. Pure logic: the log's entries and the plan come from the notebook.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from assistant.skills import records
from assistant.skills.training_plan import TrainingPlan
from assistant.skills.workout_replies import bounds, plural
from assistant.skills.workouts import Logged, exercise_key

MAX_EXERCISES = 4  # said by name, the most trained first
MAX_STREAK_WEEKS = 26  # as far back as the review reads (``planning.REVIEW_DAYS``)


def _monday(at: float) -> datetime:
    """The start of the week ``at`` falls in, as the log's questions count weeks."""
    return datetime.fromtimestamp(bounds("this week", at)[0])


def review(entries: Sequence[Logged], plan: TrainingPlan | None, now: float) -> str:
    """This week (Monday to now) from ``entries`` (the log, oldest first, this
    week's and enough before it for the records and the streak) and ``plan``."""
    monday = _monday(now).timestamp()
    week = [e for e in entries if monday <= e.at <= now]
    days = len({datetime.fromtimestamp(e.at).date() for e in week})
    today = datetime.fromtimestamp(now).weekday()
    planned = len([day for day, _ in plan.days if day <= today]) if plan else None
    if not week:
        due = f" Your plan had {planned} session{'s' if planned != 1 else ''} by today." if planned else ""
        return f"Nothing is logged this week yet.{due}"
    against = f" of the {planned} your plan had by today" if planned else ""
    sets, times = Counter[str](), Counter[str]()
    for logged in week:
        if logged.entry.sets:
            sets[logged.entry.exercise] += logged.entry.sets
        else:  # "20 push-ups": the reps; a run, a plank: how many times
            times[logged.entry.exercise] += logged.entry.reps or 1
    counted = [(n, f"{n} set{'s' if n != 1 else ''} of {plural(name, 2)}") for name, n in sets.items()]
    counted += [(n, f"{n} {plural(name, n)}") for name, n in times.items()]
    top = ", ".join(text for _, text in sorted(counted, key=lambda pair: -pair[0])[:MAX_EXERCISES])
    best = dict.fromkeys(_new_bests(entries, monday, now))
    bests = f" New bests: {', '.join(best)}." if best else ""
    streak = _streak(entries, now)
    weeks = "" if streak < 2 else f" That's {streak} weeks in a row." if streak < MAX_STREAK_WEEKS else \
        f" That's {MAX_STREAK_WEEKS} weeks in a row or more."
    return f"You trained on {days} day{'s' if days != 1 else ''}{against}: {top}.{bests}{weeks}"


def _new_bests(entries: Sequence[Logged], monday: float, now: float) -> list[str]:
    """The exercises this week's entries set a record in, each compared with the
    same exercise's entries before it (one pass: the log is grouped first)."""
    before: dict[str, list[Logged]] = {}
    found = []
    for logged in entries:
        key = exercise_key(logged.entry.exercise)
        earlier = before.setdefault(key, [])
        if monday <= logged.at <= now and records.new_best(logged.entry, earlier, monday):
            found.append(logged.entry.exercise)
        earlier.append(logged)
    return found


def _streak(entries: Sequence[Logged], now: float) -> int:
    """Weeks in a row, this one included, with something logged."""
    weeks = {_monday(e.at).date() for e in entries if e.at <= now}
    monday = _monday(now).date()
    count = 0
    while monday in weeks and count < MAX_STREAK_WEEKS:
        count += 1
        monday -= timedelta(days=7)
    return count
