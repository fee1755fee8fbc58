"""The week in one answer ("How was my week?"): the days trained against the
plan's, the sets per exercise, the records set, the streak of weeks with
training. Pure logic: the log's entries and the plan come from the notebook.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from assistant.skills import records
from assistant.skills.training_plan import WEEKDAYS, TrainingPlan
from assistant.skills.workout_replies import bounds, plural
from assistant.skills.workouts import Logged, exercise_key

MAX_EXERCISES = 4  # said by name, the most trained first
MAX_STREAK_WEEKS = 26  # as far back as the review reads (``planning.REVIEW_DAYS``)


def monday(at: float) -> float:
    """The start of the week ``at`` falls in, as the log's questions count weeks."""
    return bounds("this week", at)[0]


def review(entries: Sequence[Logged], plan: TrainingPlan | None, now: float) -> str:
    """This week (Monday to now) from ``entries`` (the log, oldest first, this
    week's and enough before it for the records and the streak) and ``plan``."""
    start = monday(now)
    week = [e for e in entries if start <= e.at <= now]
    days = len({datetime.fromtimestamp(e.at).date() for e in week})
    today = datetime.fromtimestamp(now).weekday()
    planned = len([day for day, _ in plan.days if day <= today]) if plan else None
    if not week:
        due = f" Your plan had {planned} session{'s' if planned != 1 else ''} by today." if planned else ""
        return f"Nothing is logged this week yet.{due}"
    against = f" of the {planned} your plan had by today" if planned else ""
    if plan is not None:  # the days by the plan's sessions: "Monday legs, Wednesday pull"
        trained = sorted({datetime.fromtimestamp(e.at).weekday() for e in week})
        against += " (" + ", ".join(
            f"{WEEKDAYS[day].capitalize()}{' ' + session.name if (session := plan.on(day)) else ''}"
            for day in trained) + ")"
    sets, times = Counter[str](), Counter[str]()
    for logged in week:
        if logged.entry.sets:
            sets[logged.entry.exercise] += logged.entry.sets
        else:  # "20 push-ups": the reps; a run, a plank: how many times
            times[logged.entry.exercise] += logged.entry.reps or 1
    counted = [(n, f"{n} set{'s' if n != 1 else ''} of {plural(name, 2)}") for name, n in sets.items()]
    counted += [(n, f"{n} {plural(name, n)}") for name, n in times.items()]
    top = ", ".join(text for _, text in sorted(counted, key=lambda pair: -pair[0])[:MAX_EXERCISES])
    best = dict.fromkeys(_new_bests(entries, start, now))
    bests = f" New bests: {', '.join(best)}." if best else ""
    streak = _streak(entries, now)
    weeks = "" if streak < 2 else f" That's {streak} weeks in a row." if streak < MAX_STREAK_WEEKS else \
        f" That's {MAX_STREAK_WEEKS} weeks in a row or more."
    return f"You trained on {days} day{'s' if days != 1 else ''}{against}: {top}.{bests}{weeks}"


def _new_bests(entries: Sequence[Logged], start: float, now: float) -> list[str]:
    """The exercises this week's entries set a record in, each compared with the
    same exercise's entries before it (one pass, the bests kept as it goes)."""
    bests: dict[str, records.Best] = {}
    before_week: set[str] = set()  # logged before the day of the entry at hand
    found = []
    for logged in entries:
        key = exercise_key(logged.entry.exercise)
        was = bests.get(key) or records.Best(logged.entry.exercise)
        if start <= logged.at <= now and records.beaten(logged.entry, was, key in before_week):
            found.append(logged.entry.exercise)
        bests[key] = records.counted(was, logged.entry)
        if logged.at < start:
            before_week.add(key)
    return found


def _streak(entries: Sequence[Logged], now: float) -> int:
    """Weeks in a row, this one included, with something logged."""
    weeks = {date.fromtimestamp(monday(e.at)) for e in entries if e.at <= now}
    week = date.fromtimestamp(monday(now))
    count = 0
    while week in weeks and count < MAX_STREAK_WEEKS:
        count += 1
        week -= timedelta(days=7)
    return count
