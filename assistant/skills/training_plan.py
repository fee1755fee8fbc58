"""A week of training from the interview's answers: the training days from the
schedule, sessions chosen for the goal and the level, exercises the user's
limits allow, loads from the log. Built from templates (strength, running,
general fitness, mobility), stored with the notebook, said on "what's my
workout today?". Pure logic.

A plan is plain data (``as_dict``, ``from_dict``): the notebook stores it as
JSON and ``assistant plan --json`` prints it; ``checked`` refuses one that is
not a plan of ours (unknown exercises, more than seven days, numbers out of
bounds), so a stored plan, or one proposed by a model, is never trusted as it
comes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from assistant.core import spoken
from assistant.llm.grounding import body_parts
from assistant.skills.limits import INSTEAD
from assistant.skills.templates import exercises
from assistant.skills.timing import spoken_duration
from assistant.skills.workout_replies import plural

Kind = Literal["strength", "running", "fitness", "mobility"]
Level = Literal["beginner", "experienced"]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_DAYS = 3
DEFAULT_MINUTES = 45
SPREAD = {1: (2,), 2: (0, 3), 3: (0, 2, 4), 4: (0, 1, 3, 4), 5: (0, 1, 2, 3, 4), 6: (0, 1, 2, 3, 4, 5),
          7: (0, 1, 2, 3, 4, 5, 6)}  # days apart as far as the count allows, Monday first
MAX_TARGETS = 8  # exercises in a session, at most
LONG_RUN_SHARE = 0.6  # a plan's longest run toward a race: at most this share of its distance
MAX_SETS, MAX_REPS, MAX_SECONDS, MAX_KM, MAX_KG, MAX_REST_S = 10, 50, 3 * 3600, 100.0, 500.0, 600


@dataclass(frozen=True, slots=True)
class Target:
    """One exercise of a session: ``sets`` of ``reps``, of ``seconds`` each, or
    one bout of ``km``; ``load_kg`` from the log (None: bodyweight, or a load
    the user picks); ``rest_s`` between sets."""

    exercise: str
    sets: int = 1
    reps: int | None = None
    seconds: int | None = None
    km: float | None = None
    load_kg: float | None = None
    rest_s: int = 0
    missed: int = 0  # sessions running whose sets fell short of it (``progression``)


@dataclass(frozen=True, slots=True)
class Session:
    name: str
    targets: tuple[Target, ...]


@dataclass(frozen=True, slots=True)
class TrainingPlan:
    """A week: ``days`` as (weekday, session), Monday 0, in week order. ``left_out``:
    what the user's limits ruled out ("jumping jack (knee)")."""

    kind: Kind
    level: Level
    days: tuple[tuple[int, Session], ...]
    source: str = "template"
    left_out: tuple[str, ...] = ()

    def on(self, weekday: int) -> Session | None:
        return next((session for day, session in self.days if day == weekday), None)

    def next_after(self, weekday: int) -> tuple[int, Session] | None:
        """The first training day after ``weekday``, this week or next."""
        later = [(day, session) for day, session in self.days if day > weekday] or list(self.days)
        return later[0] if later else None


def _t(exercise: str, sets: int = 1, reps: int | None = None, seconds: int | None = None, km: float | None = None,
       rest_s: int = 0) -> Target:
    return Target(exercise, sets, reps, seconds, km, None, rest_s)


# Sessions by kind and level, in the order a week takes them (A, B, A, ...). Beginners get
# fewer sets, simpler lifts and longer rests; every name is one of the exercise list's.
_SESSIONS: dict[tuple[Kind, Level], tuple[Session, ...]] = {
    ("strength", "beginner"): (
        Session("full body A", (_t("goblet squat", 3, 10, rest_s=90), _t("push-up", 3, 8, rest_s=90),
                                _t("dumbbell row", 3, 10, rest_s=90), _t("glute bridge", 3, 12, rest_s=60),
                                _t("plank", 3, seconds=30, rest_s=45))),
        Session("full body B", (_t("romanian deadlift", 3, 10, rest_s=90), _t("overhead press", 3, 8, rest_s=90),
                                _t("lat pulldown", 3, 10, rest_s=90), _t("lunge", 3, 8, rest_s=60),
                                _t("side plank", 2, seconds=20, rest_s=45))),
    ),
    ("strength", "experienced"): (
        Session("strength A", (_t("squat", 4, 5, rest_s=180), _t("bench press", 4, 5, rest_s=180),
                               _t("barbell row", 4, 6, rest_s=120), _t("plank", 3, seconds=45, rest_s=60),
                               _t("calf raise", 3, 12, rest_s=60))),
        Session("strength B", (_t("deadlift", 3, 5, rest_s=180), _t("overhead press", 4, 5, rest_s=150),
                               _t("pull-up", 4, 6, rest_s=120), _t("split squat", 3, 8, rest_s=90),
                               _t("hanging leg raise", 3, 10, rest_s=60))),
    ),
    # running: the first as many as the days, the long run last in the week
    ("running", "beginner"): (
        Session("run-walk intervals", (_t("run", 8, seconds=60, rest_s=90),)),
        Session("long easy run", (_t("run", 1, km=3.0),)),
        Session("easy run", (_t("run", 1, seconds=20 * 60),)),
        Session("strength for runners", (_t("goblet squat", 3, 10, rest_s=60), _t("glute bridge", 3, 12, rest_s=60),
                                         _t("calf raise", 3, 15, rest_s=45), _t("plank", 3, seconds=30, rest_s=45))),
    ),
    ("running", "experienced"): (
        Session("easy run", (_t("run", 1, seconds=40 * 60),)),
        Session("long run", (_t("run", 1, km=12.0),)),
        Session("intervals", (_t("run", 6, seconds=180, rest_s=120),)),
        Session("tempo run", (_t("run", 1, seconds=25 * 60),)),
    ),
    ("fitness", "beginner"): (
        Session("circuit", (_t("goblet squat", 3, 12, rest_s=60), _t("push-up", 3, 8, rest_s=60),
                            _t("dumbbell row", 3, 12, rest_s=60), _t("plank", 3, seconds=30, rest_s=45),
                            _t("jumping jack", 3, seconds=30, rest_s=45))),
        Session("cardio", (_t("walk", 1, seconds=30 * 60),)),
    ),
    ("fitness", "experienced"): (
        Session("circuit", (_t("squat", 4, 10, rest_s=60), _t("push-up", 4, 15, rest_s=60),
                            _t("kettlebell swing", 4, 15, rest_s=60), _t("burpee", 3, 10, rest_s=60),
                            _t("plank", 3, seconds=60, rest_s=45))),
        Session("cardio", (_t("run", 1, seconds=30 * 60),)),
    ),
    ("mobility", "beginner"): (
        Session("mobility", (_t("hip flexor stretch", 2, seconds=45, rest_s=15),
                             _t("hamstring stretch", 2, seconds=45, rest_s=15), _t("child's pose", 2, seconds=45),
                             _t("bird dog", 2, 10, rest_s=30), _t("glute bridge", 2, 12, rest_s=30),
                             _t("dead bug", 2, 10, rest_s=30))),
    ),
}
_SESSIONS[("mobility", "experienced")] = _SESSIONS[("mobility", "beginner")]

def kind_of(goal: str) -> Kind:
    """The plan a goal asks for: "run a 10k by June" running, "get stronger" strength."""
    text = goal.lower()
    if re.search(r"\b(?:run|running|runner|jog|race|marathon|\d+ ?(?:k|km|kilomet\w*|miles?)\b)", text):
        return "running"
    if re.search(r"\b(?:strong|strength|muscle|lift|bench|squat|deadlift|bulk|powerlift|pull-?ups?)", text):
        return "strength"
    if re.search(r"\b(?:mobil|flexib|stretch|yoga|stiff|posture|supple)", text):
        return "mobility"
    return "fitness"


def level_of(level: str) -> Level:
    """Experienced only when the answer says so ("three years of lifting", "I
    train five times a week"); a plan too easy costs less than one too hard."""
    text = spoken.normalize(level)
    if re.search(r"\b(?:never|new|beginner|just start|not much|rarely|haven't|don't|out of shape|couch|nothing)",
                 text):
        return "beginner"
    if re.search(r"\b(?:years?|advanced|intermediate|experienced|compete|competitive|every day|daily)\b", text):
        return "experienced"
    if (m := re.search(r"\b(\d+) (?:times|days|sessions)\b", text)) and int(m[1]) >= 3:
        return "experienced"
    return "beginner"


def days_of(schedule: str) -> tuple[int, ...]:
    """The training days a schedule answer names ("Mondays and Thursdays"), or as
    many as it counts ("three days a week", "4x"), spread out; three otherwise."""
    text = spoken.normalize(schedule).replace("twice", "2 times").replace("once", "1 time")
    named = tuple(i for i, day in enumerate(WEEKDAYS) if re.search(rf"\b{day[:3]}(?:{day[3:]})?s?\b", text))
    if named:
        return named
    if re.search(r"\b(?:every day|daily|7 days)\b", text):
        return SPREAD[7]
    if re.search(r"\bweekends?\b", text):
        return (5, 6)
    if m := re.search(r"\b(\d+)(?: ?(?:days?|times?|sessions?|x)\b)", text):
        return SPREAD[min(7, max(1, int(m[1])))]
    return SPREAD[DEFAULT_DAYS]


def minutes_of(schedule: str) -> int:
    """Minutes a session may take ("45 minutes", "an hour"); 45 when unsaid."""
    text = spoken.normalize(schedule)
    if m := re.search(r"\b(\d+(?:\.\d+)?) ?(hours?|hrs?|h)\b", text):
        return round(float(m[1]) * 60)
    if m := re.search(r"\b(\d+) ?(?:minutes?|mins?)\b", text):
        return int(m[1])
    return DEFAULT_MINUTES


def exercises_in(minutes: int) -> int:
    """How many exercises a session of ``minutes`` holds."""
    return 3 if minutes <= 30 else 4 if minutes <= 45 else 6


def distance_of(goal: str) -> float | None:
    """The race a running goal names, in km ("a 10k" 10, "half marathon" 21.1)."""
    text = spoken.normalize(goal)
    if "half marathon" in text:
        return 21.1
    if "marathon" in text:
        return 42.2
    if m := re.search(r"\b(\d+(?:\.\d+)?) ?(?:k|km|kilomet\w*)\b", text):
        return float(m[1])
    if m := re.search(r"\b(\d+(?:\.\d+)?) ?miles?\b", text):
        return round(float(m[1]) * 1.609, 1)
    return None


def build(answers: Mapping[str, str], loads: Mapping[str, float] | None = None) -> TrainingPlan:
    """The week the interview's ``answers`` ask for; ``loads``: the last load in kg
    the log holds for an exercise, the target to start from."""
    kind, level = kind_of(answers.get("goal", "")), level_of(answers.get("level", ""))
    days, minutes = days_of(answers.get("schedule", "")), minutes_of(answers.get("schedule", ""))
    per_session = exercises_in(minutes)
    parts = body_parts(answers.get("limits", ""))
    race = distance_of(answers.get("goal", "")) if kind == "running" else None
    sessions: list[Session] = []
    left_out: list[str] = []
    templates = _SESSIONS[(kind, level)]
    if kind == "running":
        templates = tuple(sorted(templates[:len(days)], key=lambda session: "long" in session.name))
    for session in templates:
        targets: list[Target] = []
        for target in session.targets[:per_session]:
            kept = _allowed(target, parts, left_out)
            if kept is not None and kept.exercise not in (t.exercise for t in targets):
                if race is not None and kept.km is not None:  # the long run: at most 60 % of the race
                    kept = Target(kept.exercise, 1, km=round(min(kept.km, race * LONG_RUN_SHARE), 1))
                load = (loads or {}).get(kept.exercise)
                targets.append(Target(kept.exercise, kept.sets, kept.reps, kept.seconds, kept.km, load, kept.rest_s))
        if targets:
            sessions.append(Session(session.name, tuple(targets)))
    if not sessions:  # every exercise ruled out: mobility, which each limit allows
        sessions = list(_SESSIONS[("mobility", level)])
    plan_days = tuple((day, sessions[i % len(sessions)]) for i, day in enumerate(days))
    return TrainingPlan(kind, level, plan_days, "template", tuple(dict.fromkeys(left_out)))


def with_loads(plan: TrainingPlan, loads: Mapping[str, float], source: str) -> TrainingPlan:
    """``plan`` with each target's load the log's last (``loads``), or none."""
    days = tuple((day, Session(session.name, tuple(
        Target(t.exercise, t.sets, t.reps, t.seconds, t.km, loads.get(t.exercise), t.rest_s) for t in session.targets)))
        for day, session in plan.days)
    return TrainingPlan(plan.kind, plan.level, days, source, plan.left_out)


def _allowed(target: Target, parts: frozenset[str], left_out: list[str]) -> Target | None:
    for part in sorted(parts):
        if target.exercise in INSTEAD.get(part, {}):
            instead = INSTEAD[part][target.exercise]
            left_out.append(f"{target.exercise} ({part})")
            if instead is None:
                return None
            target = Target(instead, target.sets, target.reps, target.seconds, target.km, None, target.rest_s)
    return target


# -- said aloud ---------------------------------------------------------------------------------


def say_target(target: Target) -> str:
    """"goblet squats, 3 sets of 10 at 16 kilos", "plank, 3 sets of 30 seconds", "run, 3 kilometers"."""
    name = target.exercise
    load = f" at {target.load_kg:g} kilos" if target.load_kg else ""
    if target.km is not None:
        return f"{name}, {target.km:g} kilometers"
    if target.sets == 1 and target.seconds:
        return f"{name}, {spoken_duration(target.seconds)}"
    each = f"{target.reps}" if target.reps else spoken_duration(target.seconds or 0)
    rest = f", {spoken_duration(target.rest_s)} rest" if target.sets > 1 and target.exercise == "run" else ""
    return f"{plural(name, 2) if target.reps else name}, {target.sets} sets of {each}{load}{rest}"


def say_session(session: Session) -> str:
    return f"{session.name[:1].upper()}{session.name[1:]}: " + "; ".join(say_target(t) for t in session.targets) + "."


def say_week(plan: TrainingPlan) -> str:
    days = ", ".join(f"{WEEKDAYS[day].capitalize()} {session.name}" for day, session in plan.days)
    return f"{len(plan.days)} days this week: {days}."


def created(plan: TrainingPlan) -> str:
    """What the coach says when it has made the plan."""
    left = f" For your limits I left out {', '.join(plan.left_out)}." if plan.left_out else ""
    return (f"Your plan is ready, {plan.level} {plan.kind}. {say_week(plan)}{left} "
            "Ask me: what's my workout today?")


# -- as data -------------------------------------------------------------------------------------


def as_dict(plan: TrainingPlan) -> dict[str, Any]:
    return {"kind": plan.kind, "level": plan.level, "source": plan.source, "left_out": list(plan.left_out),
            "days": [{"day": WEEKDAYS[day], **session_dict(session)} for day, session in plan.days]}


def session_dict(session: Session) -> dict[str, Any]:
    return {"session": session.name,
            "targets": [{k: v for k, v in _fields(t).items() if v is not None and (k != "missed" or v)}
                        for t in session.targets]}


def _fields(target: Target) -> dict[str, Any]:
    return {name: getattr(target, name) for name in Target.__slots__}


class BadPlan(ValueError):
    """A plan that is not one of ours; the message names what is wrong."""


def from_dict(data: Any) -> TrainingPlan:
    """The plan ``data`` holds, checked (``BadPlan`` says what is wrong)."""
    if not isinstance(data, dict) or not isinstance(data.get("days"), list):
        raise BadPlan("not a plan: no list of days")
    if not 1 <= len(data["days"]) <= 7:
        raise BadPlan(f"{len(data['days'])} training days: a week has 1 to 7")
    kind, level = data.get("kind", "fitness"), data.get("level", "beginner")
    if kind not in ("strength", "running", "fitness", "mobility") or level not in ("beginner", "experienced"):
        raise BadPlan(f"unknown kind or level: {kind!r}, {level!r}")
    days: list[tuple[int, Session]] = []
    for raw in data["days"]:
        if not isinstance(raw, dict) or str(raw.get("day", "")).lower() not in WEEKDAYS:
            raise BadPlan(f"not a weekday: {raw.get('day') if isinstance(raw, dict) else raw!r}")
        day = WEEKDAYS.index(str(raw["day"]).lower())
        if any(day == seen for seen, _ in days):
            raise BadPlan(f"{WEEKDAYS[day]} twice")
        days.append((day, session_from(raw, WEEKDAYS[day])))
    left_out = data.get("left_out") or []
    if not isinstance(left_out, list):
        raise BadPlan(f"left_out is no list: {left_out!r}")
    return TrainingPlan(kind, level, tuple(sorted(days, key=lambda pair: pair[0])), str(data.get("source", ""))[:20],
                        tuple(str(x)[:60] for x in left_out[:20]))


def session_from(raw: Any, where: str = "a session") -> Session:
    """The session ``raw`` holds (``session_dict``'s form), checked."""
    targets = raw.get("targets") if isinstance(raw, dict) else None
    if not isinstance(targets, list) or not 1 <= len(targets) <= MAX_TARGETS:
        raise BadPlan(f"{where}: 1 to {MAX_TARGETS} exercises")
    return Session(str(raw.get("session", "session"))[:40], tuple(_target(t) for t in targets))


def _target(raw: Any) -> Target:
    if not isinstance(raw, dict):
        raise BadPlan(f"not an exercise: {raw!r}")
    name = exercises().get(str(raw.get("exercise", "")).lower())
    if name is None:
        raise BadPlan(f"unknown exercise: {raw.get('exercise')!r}")

    def number(key: str, top: float, whole: bool = True) -> Any:
        value = raw.get(key)
        if value is None:
            return None
        low = 0 if key in ("rest_s", "missed") else 1 if whole else 1e-9  # no rest is a rest; no reps are none
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= top \
                or (whole and value != int(value)):
            raise BadPlan(f"{name}: {key} {value!r} is out of bounds")
        return int(value) if whole else float(value)

    target = Target(name, number("sets", MAX_SETS) or 1, number("reps", MAX_REPS), number("seconds", MAX_SECONDS),
                    number("km", MAX_KM, whole=False), number("load_kg", MAX_KG, whole=False),
                    number("rest_s", MAX_REST_S) or 0, number("missed", 10) or 0)
    if target.reps is None and target.seconds is None and target.km is None:
        raise BadPlan(f"{name}: no reps, time or distance")
    return target
