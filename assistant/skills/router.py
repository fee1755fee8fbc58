"""The skill router: text in, a recognised command with its slots out, or None.
Pure logic.

An utterance is a command only when the whole of it (after a wake word and
politeness) is one: "start a 30 second timer", "four rounds of 30 seconds on
and 15 off", "how much time is left". Questions and remarks that merely contain
a duration ("Is a 30 second plank enough?") match nothing and go to the model.
Numbers come as digits or words ("ninety seconds", "a minute and a half",
"1.5 min", "two and a half minutes").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from assistant.core.spoken import DUR, DUR_OR_NUM, UNIT, normalize, seconds, strip_polite, unit_of

MAX_TIMER_S = 24 * 3600.0
MAX_ROUNDS = 100


@dataclass(frozen=True, slots=True)
class StartTimer:
    """A one-off timer. ``label``: what it is for ("plank"); ``reminder``: what to
    say when it ends ("drink water")."""

    seconds: float
    label: str = ""
    reminder: str = ""


@dataclass(frozen=True, slots=True)
class StartSession:
    """Interval training: ``rounds`` of ``work_s`` on, ``rest_s`` off between them.
    ``name``: intervals, tabata or emom."""

    rounds: int
    work_s: float
    rest_s: float
    name: str = "intervals"


Action = Literal["pause", "resume", "stop", "skip", "remaining"]


@dataclass(frozen=True, slots=True)
class Control:
    """Pause, resume, stop (or cancel), skip the current phase, or ask what is left."""

    action: Action


Command = StartTimer | StartSession | Control


# -- the grammar -----------------------------------------------------------------

_VERB = (r"(?:(?:start|begin|set|set up|run|make|create|give me|put on|do|let's do|let's go|let's start|"
         r"let's|let us do|i want|i want to do|i'd like|i need|time)\s+)?(?:(?:a|an|at|the|my|me a|me an)\s+)?")
# "at": tiny.en hears "start a 10 second timer" as "start at 10 second timer"
_EXERCISE = (r"plank|side plank|wall sit|hold|rest|stretch|hang|dead hang|hollow hold|glute bridge|bridge|"
             r"squat hold|breathe|meditate|recover|cool down|warm up|jog|jump rope|row|bike|cycle|run")
_TARGET = r"(?:\s+(?:the\s+|my\s+|this\s+|that\s+)?(?:timer|timers|session|workout|clock|countdown|intervals?|" \
          r"reminder|it|that))?"

_FOR = r"(?: for (?:the |my )?(?P<label>[a-z ]+))?"  # "a 3 minute timer for the eggs"
_TIMER = [
    re.compile(rf"{_VERB}(?P<d>{DUR}) (?:timer|countdown|count down){_FOR}"),
    re.compile(rf"{_VERB}(?:timer|countdown)(?: for| of| to| at)? (?P<d>{DUR}){_FOR}"),
    re.compile(rf"(?:time me|count down|countdown|count me down|clock me)(?: for| from)? (?P<d>{DUR})"),
    re.compile(rf"(?:(?:let's|let us|i'm going to|i'll|i will|now|time to|going to) )?(?P<label>{_EXERCISE})"
               rf"(?: for| of)? (?P<d>{DUR})(?: (?:go|starting now|now|please))?"),
    re.compile(rf"{_VERB}(?P<d>{DUR}) (?:of )?(?P<label>{_EXERCISE})"),  # "ninety seconds rest", "45 second plank"
]
_REMINDER = [
    re.compile(rf"remind me in (?P<d>{DUR})(?: (?:to|that|about) (?P<what>.+))?"),
    re.compile(rf"remind me (?:to|about) (?P<what>.+?) in (?P<d>{DUR})"),
    re.compile(rf"in (?P<d>{DUR}) remind me (?:to|that|about) (?P<what>.+)"),
]
_ROUNDS = r"(?:rounds?|sets?|intervals?|times|reps)"
_OFF = r"(?:off|rest|break|recovery|of rest|rest in between|rest between(?: sets| rounds| them)?)"
_SESSION = [
    # "in": how tiny.en hears the "and" of "30 seconds on and 15 off"
    re.compile(rf"{_VERB}(?P<n>\d+) {_ROUNDS} of (?P<w>{DUR})(?: on| work| of work)?(?:,| and| in| with)? "
               rf"(?:a |an )?(?P<r>{DUR_OR_NUM})(?: of)? {_OFF}"),
    re.compile(rf"{_VERB}(?P<w>{DUR_OR_NUM}) (?:on|work)(?:,| and| in)? (?P<r>{DUR_OR_NUM}) (?:off|rest)"
               rf"(?:,| for| times| x)? (?P<n>\d+)(?: {_ROUNDS})?"),
    re.compile(rf"{_VERB}(?P<n>\d+) (?:x|times|by) (?P<w>{DUR_OR_NUM})(?: on| work)?(?:,| and)? "
               rf"(?P<r>{DUR_OR_NUM}) (?:off|rest)"),
    re.compile(rf"{_VERB}(?P<n>\d+) (?:rounds?|sets?|intervals?) of (?P<w>{DUR})"),
]
_TABATA = re.compile(rf"{_VERB}(?:(?P<n>\d+) rounds? of )?tabata(?: timer| session| workout| intervals?)?"
                     rf"(?: for (?P<n2>\d+) rounds?)?")
_EMOM = [
    re.compile(rf"{_VERB}(?:emom|e mom|every minute on the minute)(?: timer| session| workout)?(?: for| of)? "
               rf"(?P<d>{DUR})"),
    re.compile(rf"{_VERB}(?P<d>{DUR}) (?:emom|e mom|every minute on the minute)"),
    re.compile(rf"{_VERB}every (?P<e>{DUR}) (?:on the minute )?for (?P<d>{DUR})"),
]
_CONTROL: list[tuple[Action, re.Pattern[str]]] = [
    ("pause", re.compile(rf"(?:pause|freeze){_TARGET}|(?:hold|stop) the clock|hold (?:the|my) timer")),
    ("resume", re.compile(rf"(?:resume|unpause|continue|keep going|carry on|start again){_TARGET}")),
    ("stop", re.compile(rf"(?:stop|cancel|end|kill|clear|abort|finish|never mind){_TARGET}")),
    ("skip", re.compile(r"skip(?: the| this)?(?: rest| break| round| interval| set| phase| it| ahead)?"
                        r"|skip to the next (?:round|interval|set)|next(?: round| interval| set)?")),
    ("remaining", re.compile(
        rf"how (?:much|many)(?: more)? (?:time|seconds|minutes)(?: is| are| do i have| have i got)?"
        rf"(?: left| remaining| to go)(?: on{_TARGET})?|how long(?: is| do i have| have i got)?"
        rf"(?: left| to go| remaining)(?: on{_TARGET})?|(?:what's the )?time (?:left|remaining)|how much longer")),
]


def timer(seconds_: float, label: str = "", reminder: str = "") -> StartTimer | None:
    if not 1 <= seconds_ <= MAX_TIMER_S:
        return None
    return StartTimer(round(seconds_, 3), label.strip(), reminder.strip())


def session(rounds: int, work_s: float, rest_s: float, name: str = "intervals") -> StartSession | None:
    if not (1 <= rounds <= MAX_ROUNDS and 1 <= work_s <= 3600 and 0 <= rest_s <= 3600):
        return None
    return StartSession(rounds, round(work_s, 3), round(rest_s, 3), name)


def route(text: str) -> Command | None:
    """The command ``text`` is, or None (it goes to the model)."""
    said = strip_polite(normalize(text))
    if not said:
        return None
    for action, pattern in _CONTROL:
        if pattern.fullmatch(said):
            return Control(action)
    for pattern in _REMINDER:
        if m := pattern.fullmatch(said):
            return timer(seconds(m["d"]), "reminder", m["what"] or "")
    if m := _TABATA.fullmatch(said):
        return session(int(m["n"] or m["n2"] or 8), 20, 10, "tabata")
    for pattern in _EMOM:
        if m := pattern.fullmatch(said):
            each = seconds(m["e"]) if "e" in m.groupdict() and m["e"] else 60.0
            total = seconds(m["d"])
            return session(max(1, round(total / each)), each, 0, "emom") if total >= each else None
    for pattern in _SESSION:
        if m := pattern.fullmatch(said):
            unit = unit_of(m["w"]) if re.search(UNIT, m["w"]) else unit_of(m.groupdict().get("r") or "")
            work = seconds(m["w"], unit)
            rest = seconds(m["r"], unit) if m.groupdict().get("r") else 0.0
            return session(int(m["n"]), work, rest)
    for pattern in _TIMER:
        if m := pattern.fullmatch(said):
            return timer(seconds(m["d"]), m.groupdict().get("label") or "")
    return None


def is_command(text: str) -> bool:
    return route(text) is not None
