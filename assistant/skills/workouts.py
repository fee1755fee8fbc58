"""The workout log's language: what is logged ("log three sets of ten squats at
sixty kilos", "ran 5k in 27 minutes"), what is asked of it ("what did I do
yesterday?", "how many push-ups this week?", "when did I last run?"). Pure
logic: text in, typed commands out; how entries are said back is
``workout_replies``.

Like the timer grammar (``router``), a phrase counts only when it is the whole
utterance, so a question that mentions squats still goes to the model. The
parser takes the near-misses tiny.en makes on these phrases: "log" heard as
"walk" or "lock", "at" heard as "and".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from assistant.core.spoken import DUR, seconds, strip_polite
from assistant.core.spoken import normalize as _normalize

MAX_REPS = 10_000
MAX_SETS = 100
MAX_WEIGHT = 1_000.0
MAX_DISTANCE = 1_000.0  # km or miles (a thousand times that in metres)


@dataclass(frozen=True, slots=True)
class Entry:
    """One logged exercise. ``reps`` per set; ``weight_unit`` kg or lb;
    ``distance_unit`` km, mi or m; ``duration_s`` in seconds."""

    exercise: str
    sets: int | None = None
    reps: int | None = None
    weight: float | None = None
    weight_unit: str = ""
    distance: float | None = None
    distance_unit: str = ""
    duration_s: float | None = None


@dataclass(frozen=True, slots=True)
class Logged:
    """An entry as stored: ``at`` in Unix seconds."""

    id: int
    at: float
    entry: Entry


@dataclass(frozen=True, slots=True)
class LogEntry:
    entry: Entry


@dataclass(frozen=True, slots=True)
class LogLast:
    """"Log that": the timer or session that finished last."""


@dataclass(frozen=True, slots=True)
class Undo:
    """"Undo that": the last thing stored in this run goes."""


Period = Literal["today", "yesterday", "this week", "last week", "this month", "all"]


QueryKind = Literal["list", "count", "distance", "last", "best", "progress"]


@dataclass(frozen=True, slots=True)
class Query:
    """``kind``: list (what did I do), count (how many), distance (how far), last
    (when did I last), best (a personal record) or progress (how it has gone)."""

    kind: QueryKind
    period: Period = "all"
    exercise: str = ""


Command = LogEntry | LogLast | Undo | Query


# -- words -------------------------------------------------------------------------

_WEIGHT_UNITS = {"kg": "kg", "kgs": "kg", "kilo": "kg", "kilos": "kg", "kilogram": "kg", "kilograms": "kg",
                 "kilogrammes": "kg", "k": "kg", "kils": "kg", "kilo's": "kg", "lb": "lb", "lbs": "lb", "pound": "lb",
                 "pounds": "lb"}
_DISTANCE_UNITS = {"km": "km", "k": "km", "kms": "km", "kilometer": "km", "kilometers": "km", "kilometre": "km",
                   "kilometres": "km", "mile": "mi", "miles": "mi", "mi": "mi", "m": "m", "meter": "m",
                   "meters": "m", "metre": "m", "metres": "m"}
SPOKEN_UNITS = {"kg": ("kilo", "kilos"), "lb": ("pound", "pounds"), "km": ("kilometer", "kilometers"),
                 "mi": ("mile", "miles"), "m": ("meter", "meters")}
# The activity a verb names: "ran 5k", "cycled for an hour".
_VERB_ACTIVITY = {"ran": "run", "run": "run", "jogged": "run", "jog": "run", "walked": "walk", "hiked": "hike",
                  "cycled": "bike ride", "biked": "bike ride", "rode": "bike ride", "swam": "swim",
                  "rowed": "row"}
_SAME = {"running": "run", "runs": "run", "jog": "run", "jogging": "run", "jogs": "run", "ran": "run",
         "bike": "bike ride", "bike rides": "bike ride", "ride": "bike ride", "rides": "bike ride",
         "cycling": "bike ride", "cycle": "bike ride", "bike riding": "bike ride", "biking": "bike ride",
         "walking": "walk", "walks": "walk", "swimming": "swim", "swims": "swim", "rowing": "row",
         "hiking": "hike", "hikes": "hike"}
_MISHEARD = {"quats": "squats", "quat": "squats", "did lift": "deadlifts", "did lifts": "deadlifts",
             "dead lift": "deadlifts", "dead lifts": "deadlifts", "bench": "bench press"}
_HYPHENATED = re.compile(r"\b(push|pull|sit|chin|step|press|pike|knee) ups?\b")
_NOT_EXERCISE = {"at", "and", "with", "in", "for", "of", "on", "to", "sets", "set", "reps", "rep", "minutes",
                 "minute", "seconds", "hours", "what", "how", "when", "why", "should", "can", "is", "it", "that",
                 "timer", "i", "you", "me", "my", "the", "a", "times", "today", "yesterday", "week", "kilos",
                 "kg", "pounds", "lbs", "please", "too", "more", "less", "hour", "second", "sec", "secs",
                 "min", "mins", "km", "k", "miles", "mile", "meters", "m"}
_NOUN_LEAD = re.compile(r"^(?:a|an|some|my|the|another|of)\s+")
# Words no exercise name holds: a slot with one of them took in a question or a remark ("how many push-ups
# should I be able to do at my age", "3 sets of bench, is that enough", "20 push-ups, what next"); not "did",
# which is how tiny.en hears the "dead" of "deadlifts".
QUESTION_WORDS = frozenset({"should", "could", "would", "can", "is", "are", "was", "were", "enough", "what", "how",
                            "why", "when", "where", "which", "who", "next", "do", "does", "able", "i", "you",
                            "me", "age", "better", "stronger", "about", "if", "or", "that", "this", "it", "too"})


def said(text: str) -> str:
    """``spoken.normalize`` plus what logging needs: "a hundred", "3x10", "1 point 5"."""
    text = re.sub(r"\ba hundred\b", "one hundred", text.lower())
    text = strip_polite(_normalize(text))
    text = re.sub(r"(?<=[a-z])(?=\d)", " ", text)  # "wog3 sets": how whisper sometimes joins them
    text = re.sub(r"\b(\d+) ?x ?(\d+)\b", r"\1 x \2", text)
    text = re.sub(r"\b(\d+) point (\d+)\b", r"\1.\2", text)
    return re.sub(r"\b(\d+) and (\d+)\b(?= (?:reps|push|squats|sit|pull))", lambda m: str(int(m[1]) + int(m[2])),
                  text)


def exercise_name(words: str) -> str:
    """How an exercise is stored and said: "push ups" -> "push-ups", "ran" -> "run"."""
    words = _NOUN_LEAD.sub("", words.strip())
    words = _SAME.get(words, _MISHEARD.get(words, words))
    return _HYPHENATED.sub(lambda m: m[0].replace(" ", "-"), words)


def exercise_key(name: str) -> str:
    """What makes two names the same exercise: "Push-ups", "pushups", "push up"."""
    name = _SAME.get(name.lower().strip(), name.lower().strip())
    key = re.sub(r"[^a-z]", "", name)
    return key[:-1] if key.endswith("s") and not key.endswith("ss") and len(key) > 3 else key


def _number(text: str | None) -> float | None:
    return float(text) if text else None


# -- the grammar --------------------------------------------------------------------

# How tiny.en heard "log" in our runs: walk, lock, lug, plug, wog, wag (two beams); "add": at.
_LOG = r"(?:log|logged|walk|lock|lug|plug|wog|wag|blog|record|add|at|track|note|save|put down|write down|enter)"
_DONE = (r"(?:i've (?:just )?done|i (?:just |also )?(?:did|have done|finished|completed|managed|got through|had)|"
         r"i just|just did|just finished|did|done|finished|completed)")
_LEAD = rf"(?:(?:{_LOG}|{_DONE})(?: that)? )?(?:(?:a|an|another|my) )?"
_NUM = r"\d+(?:\.\d+)?"
_EX = r"(?P<ex>[a-z][a-z']*(?: [a-z][a-z']*){0,3}?)"
_WEIGHT = (rf"(?:,? (?:at|and|with|using|@|of) (?P<w>{_NUM})(?: ?(?P<wu>kg|kgs|kilos?|kils|kilo's|kilograms?|"
           rf"kilogrammes|pounds?|lbs?|k)\b)?)?")
_DURATION = r"(?P<d>\d+(?:\.\d+)? ?(?:seconds?|secs?|minutes?|mins?|hours?|hrs?)\b(?:(?:,| and)? \d+(?:\.\d+)? ?" \
            r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?)\b)*)"
_IN_TIME = rf"(?: in (?P<t>{DUR}))?"
_DIST_UNIT = r"(?P<du>km|kms|k|kilomet(?:er|re)s?|miles?|mi|m|met(?:er|re)s?)"
_MOVE = r"(?P<verb>ran|run|jogged|walked|hiked|cycled|biked|rode|swam|rowed)"
_ACTIVITY = r"(?P<act>run|jog|walk|hike|ride|bike ride|bike|cycle|swim|row)"

_SETS = [
    # "and": how tiny.en heard "of" in "5 sets of 5 deadlifts"
    re.compile(rf"{_LEAD}(?P<s>\d+) (?:sets?|rounds?) (?:of|and) (?P<r>\d+)(?: reps?)?(?: of)? {_EX}{_WEIGHT}"),
    re.compile(rf"{_LEAD}(?P<s>\d+) (?:x|by|times) (?P<r>\d+)(?: reps?)?(?: of)? {_EX}{_WEIGHT}"),
    re.compile(rf"{_LEAD}{_EX},? (?P<s>\d+) (?:x|by|sets of|times) (?P<r>\d+)(?: reps?)?{_WEIGHT}"),
    re.compile(rf"{_LEAD}(?P<s>\d+) sets? of {_EX}{_WEIGHT}"),
]
_REPS = [
    re.compile(rf"{_LEAD}(?P<r>\d+)(?: reps?(?: of)?)? {_EX}{_WEIGHT}(?: in (?P<d>{DUR}))?"),
    re.compile(rf"{_LEAD}{_EX},? (?P<r>\d+) reps?{_WEIGHT}"),
    # "deadlift 140 for 3 reps", "bench 80 kilos for 5"
    re.compile(rf"{_LEAD}{_EX},? (?:at )?(?P<w>{_NUM})(?: ?(?P<wu>kg|kgs|kilos?|kilograms?|pounds?|lbs?))? "
               rf"(?:for|x|times) (?P<r>\d+)(?: reps?)?"),
]
# when it was done, if today: the entry is stored now all the same ("I ran 3 miles this morning")
_TODAY = re.compile(r",? (?:this morning|this afternoon|this evening|tonight|today|earlier(?: today)?|just now)$")
_DISTANCE = [
    re.compile(rf"(?:(?:{_LOG}|{_DONE}) )?(?:i (?:just )?)?{_MOVE} (?:a |an )?(?P<n>{_NUM}) ?{_DIST_UNIT}"
               rf"(?: {_ACTIVITY})?{_IN_TIME}"),
    re.compile(rf"{_LEAD}(?P<n>{_NUM}) ?{_DIST_UNIT}(?: {_ACTIVITY})?{_IN_TIME}"),
    re.compile(rf"{_LEAD}{_ACTIVITY} of (?P<n>{_NUM}) ?{_DIST_UNIT}{_IN_TIME}"),
]
_TIMED = [
    re.compile(rf"{_LEAD}{_DURATION} (?:of )?{_EX}"),
    re.compile(rf"(?:(?:{_LOG}|{_DONE}) )(?:(?:a|an|some|my) )?{_EX} (?:for|of) {_DURATION}"),
    re.compile(rf"(?:i (?:just )?)?{_MOVE} for {_DURATION}"),
    re.compile(rf"(?:i (?:just )?)?(?P<ex>planked|stretched|meditated|swam|rowed|walked|ran|cycled|jogged) "
               rf"for {_DURATION}"),
]
_LOG_LAST = re.compile(rf"{_LOG} (?:that|it|this|the (?:last )?(?:session|workout|timer|intervals?|one))"
                       rf"(?: session| workout| one)?(?: please)?")
_UNDO = re.compile(r"(?:undo|and do|on do|delete|remove|scratch|unlog|take back|drop)(?: that| it| this| the last "
                   r"(?:one|entry|log|"
                   r"workout|thing)| last entry| my last (?:entry|log))?(?: please)?|that's wrong|that was wrong"
                   r"|take (?:that|it) back")

_PERIOD = r"(?P<p>today|yesterday|this week|last week|this month|this past week|in total|so far|ever|all time)"
_QUERIES: list[tuple[QueryKind, re.Pattern[str]]] = [
    ("list", re.compile(rf"what (?:did i do|have i done|did i log|have i logged|did i train|workouts? did i do|"
                        rf"exercise did i do|training did i do)(?: for (?:exercise|training))? {_PERIOD}")),
    ("list", re.compile(rf"(?:what's|what is|show me|read me|tell me)(?: in)? my (?:log|workout log|training log|"
                        rf"workouts?|training)(?: for)? {_PERIOD}")),
    ("list", re.compile(r"what's in my (?:log|workout log|training log)")),
    ("distance", re.compile(rf"how (?:far|many (?:kilometers|kilometres|km|miles|k)) (?:did i|have i) "
                            rf"(?P<ex>run|ran|walk|walked|cycle|cycled|ride|ridden|rode|swim|swum|swam|row|rowed|hike"
                            rf"|hiked)(?: {_PERIOD})?")),
    ("count", re.compile(rf"how many (?P<ex>[a-z][a-z ]*?)(?: (?:did i do|have i done|did i log|have i logged|"
                         rf"have i|did i))?(?: {_PERIOD})?")),
    ("last", re.compile(r"when (?:did i|have i) last (?:do |go for |go on |have )?(?:a |an |my |some )?"
                        r"(?P<ex>[a-z][a-z ]*)")),
    ("last", re.compile(r"when was my last (?P<ex>[a-z][a-z ]*)")),
    ("last", re.compile(r"when did i (?:do |go for |go on )?(?:a |an |my |some )?(?P<ex>[a-z][a-z ]*?) last")),
]
_PERIODS: dict[str, Period] = {"today": "today", "yesterday": "yesterday", "this week": "this week",
                               "last week": "last week", "this month": "this month", "this past week": "this week",
                               "in total": "all", "so far": "all", "ever": "all", "all time": "all"}


def _fine(ex: str) -> bool:
    words = ex.split()
    return (bool(words) and words[0] not in _NOT_EXERCISE and words[-1] not in _NOT_EXERCISE
            and QUESTION_WORDS.isdisjoint(words))


def _weight(m: re.Match[str]) -> tuple[float | None, str]:
    weight = _number(m.groupdict().get("w"))
    unit = _WEIGHT_UNITS.get(m.groupdict().get("wu") or "", "")
    return weight, unit


def checked(entry: Entry) -> Entry | None:
    ok = (
        (entry.sets is None or 1 <= entry.sets <= MAX_SETS)
        and (entry.reps is None or 1 <= entry.reps <= MAX_REPS)
        and (entry.weight is None or 0 < entry.weight <= MAX_WEIGHT)
        and (entry.distance is None or 0 < entry.distance <= MAX_DISTANCE * (1000 if entry.distance_unit == "m" else 1))
        and (entry.duration_s is None or 1 <= entry.duration_s <= 24 * 3600)
    )
    return entry if ok else None


def parse(text: str) -> Command | None:
    """What ``text`` asks of the workout log, or None."""
    s = said(text)
    if not s:
        return None
    if _UNDO.fullmatch(s) or _UNDO.fullmatch(_normalize(text).strip()):  # "and do that": "and" is a filler
        return Undo()
    if _LOG_LAST.fullmatch(s):
        return LogLast()
    if query := _query(s):
        return query
    entry = _entry(s)
    return LogEntry(entry) if entry is not None else None


def _entry(s: str) -> Entry | None:
    s = _TODAY.sub("", s)
    for pattern in _DISTANCE:
        if m := pattern.fullmatch(s):
            activity = m.groupdict().get("act") or _VERB_ACTIVITY.get(m.groupdict().get("verb") or "", "run")
            unit = _DISTANCE_UNITS[m["du"]]
            time_s = seconds(m["t"]) if m["t"] else None
            return checked(Entry(exercise_name(activity), distance=float(m["n"]), distance_unit=unit,
                                  duration_s=time_s))
    for pattern in _SETS:
        if (m := pattern.fullmatch(s)) and _fine(m["ex"]):
            weight, unit = _weight(m)
            reps = int(m["r"]) if m.groupdict().get("r") else None
            return checked(Entry(exercise_name(m["ex"]), int(m["s"]), reps, weight, unit))
    for pattern in _REPS:
        if (m := pattern.fullmatch(s)) and _fine(m["ex"]):
            weight, unit = _weight(m)
            duration = seconds(m["d"]) if m.groupdict().get("d") else None
            return checked(Entry(exercise_name(m["ex"]), None, int(m["r"]), weight, unit, duration_s=duration))
    for pattern in _TIMED:
        if m := pattern.fullmatch(s):
            name = m.groupdict().get("ex") or m.groupdict().get("verb") or ""
            name = _VERB_ACTIVITY.get(name, {"planked": "plank", "stretched": "stretching",
                                             "meditated": "meditation"}.get(name, name))
            if _fine(name):
                return checked(Entry(exercise_name(name), duration_s=seconds(m["d"])))
    return None


def _query(s: str) -> Query | None:
    for kind, pattern in _QUERIES:
        if m := pattern.fullmatch(s):
            period = _PERIODS[m["p"]] if m.groupdict().get("p") else ("today" if kind == "list" else "all")
            exercise = m.groupdict().get("ex") or ""
            if kind in ("count", "last") and not _fine(exercise):
                return None
            if kind == "count" and exercise.split()[-1] in ("times", "days", "hours", "minutes", "seconds"):
                return None
            name = _VERB_ACTIVITY.get(exercise, exercise)
            return Query(kind, period, exercise_name(name) if name else "")
    return None


# -- said back -----------------------------------------------------------------------
