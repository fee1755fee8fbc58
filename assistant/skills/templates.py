"""The sentence templates (hassil): ours in ``sentences/en.yaml`` with the
exercise list in ``sentences/exercises.yaml``, then Home Assistant's timer
sentences (``home-assistant-intents``). Text in, a typed command out, and the
template that matched. The commands every skill receives are defined here."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from hassil import Intents, RecognizeResult, SlotList, TextSlotList, recognize_best

from assistant.core import spoken
from assistant.skills import memory, router, workouts


@dataclass(frozen=True, slots=True)
class StartInterview:
    """"Set up my coach": the coach-creator interview, from where it stopped."""


@dataclass(frozen=True, slots=True)
class AskBack:
    """A command without what it needs ("log squats", "start a timer"): one short
    ``question``, and the next utterance may fill it (``fill``). ``wants``: a
    duration (a timer) or an amount (sets and reps, a distance or a time)."""

    question: str
    wants: Literal["duration", "amount"]
    exercise: str = ""


@dataclass(frozen=True, slots=True)
class MakePlan:
    """"Make me a plan", "change my plan": a week built from the interview's answers."""


@dataclass(frozen=True, slots=True)
class ShowPlan:
    """"What's my workout today?": the plan's session ``when`` (today, tomorrow,
    the next one) or the whole week."""

    when: Literal["today", "tomorrow", "next", "week"] = "today"


@dataclass(frozen=True, slots=True)
class ReviewWeek:
    """"How was my week?": the days trained against the plan, sets, records, streak."""


@dataclass(frozen=True, slots=True)
class StartWorkout:
    """"Start today's workout": the plan's session for today, led set by set."""


Command = (router.Command | StartInterview | workouts.Command | memory.Command | AskBack | MakePlan | ShowPlan
           | ReviewWeek | StartWorkout)

TIMER_COMMANDS = (router.StartTimer, router.StartSession, router.Control)


# A duration's unit, any of the router's but "m" (metres in "ran 400 m"); the longest first.
_UNIT = "|".join(sorted((unit for unit in spoken.UNIT_S if unit != "m"), key=len, reverse=True))
_PART = re.compile(rf"(\d+(?:\.\d+)?) ?({_UNIT})\b")
_DURATION = re.compile(rf"\b{_PART.pattern}(?:(?:,| and)? {_PART.pattern})*")
# Home Assistant's timer intents that are ours too; its others (lights, areas, commands run
# later) are not the coach's.
_HA_TIMERS: dict[str, router.Action | Literal["start"]] = {
    "HassStartTimer": "start", "HassCancelTimer": "stop", "HassCancelAllTimers": "stop", "HassPauseTimer": "pause",
    "HassUnpauseTimer": "resume", "HassTimerStatus": "remaining"}



# A clock time whose colon whisper lost ("2:30" written "230", "0:45" as "0.45" or "0 45", "3:00" as "3 0 0"),
# where only a duration can be: after "timer", before "timer", "work", "rest" or a timed exercise. Written
# whole, from 2:01 on only: "120" is as often "a hundred and twenty" (seconds) as "one twenty".
_CLOCK = r"(?:([2-9])([0-5][1-9]|[1-5]0)|([1-9]) ([0-5]\d)|0 ?\.? ?([0-5]\d)|([1-9]) 0 0)"
_LOST_COLON = re.compile(rf"\b(?:(?<=timer )(?:for )?{_CLOCK}(?! ?(?:\.\d|\d|{_UNIT})\b)"
                         rf"|(?<!at ){_CLOCK}(?= (?:timer|work|rest|plank|wall sit|dead hang|hold)\b))")


_TWO = re.compile(rf"\b(?:to|too|do) (?=(?:{_UNIT}) (?:timer|rest|break|countdown|plank)\b)")
_FREE = re.compile(r"\bfree (?=(?:sets?|rounds?|reps?|quarters?|minutes?|seconds?|hours?|times)\b)", re.IGNORECASE)


def _clock(match: re.Match[str]) -> str:
    """``_LOST_COLON``'s match as "<total> seconds" ("for 230" -> "for 150 seconds")."""
    groups = [g or "" for g in match.groups()]  # the two _CLOCKs' six groups each: m ss | m ss | ss | m
    minutes = next((groups[i] for i in (0, 2, 5, 6, 8, 11) if groups[i]), "0")
    seconds = next((groups[i] for i in (1, 3, 4, 7, 9, 10) if groups[i]), "0")
    lead = "for " if match[0].startswith("for ") else ""
    return f"{lead}{int(minutes) * 60 + int(seconds)} seconds"


def _seconds(match: re.Match[str]) -> str:
    """A duration as "<total> seconds" when its parts go hours, minutes, seconds
    ("1 minute 30 seconds"); otherwise each part alone ("2 minutes 2 minutes")."""
    parts = [(float(n), spoken.UNIT_S[u]) for n, u in _PART.findall(match[0])]
    if all(a[1] > b[1] for a, b in itertools.pairwise(parts)):
        return f"{round(sum(n * unit for n, unit in parts))} seconds"
    return " ".join(f"{round(n * unit)} seconds" for n, unit in parts)


# what a non-native "you" or "to" may come before: "please you make a timer", "please to stop the timer"
_ASKED_OF_YOU = r"(?:make|set|start|stop|pause|resume|give|log|put|do|time|skip|cancel|remind|count|remember)\b"


def prepare(text: str, polite: bool = False) -> str:
    """What the templates see: ``spoken.normalize`` (lower case, digits), every
    duration as "<total> seconds"; with ``polite`` also the politeness and
    fillers at either end gone ("okay coach, can you ...", "hold on, ...")."""
    return _prepared(_normal(text), polite)


def _normal(text: str) -> str:
    """``spoken.normalize``, "free" misheard for "three" first ("free quarters of an hour", "free sets of 10")."""
    return spoken.normalize(_FREE.sub("three ", text))


def _prepared(said: str, polite: bool) -> str:
    """``prepare`` on text ``spoken.normalize`` gave."""
    if polite:
        said = re.sub(rf"^(?:you|to) (?={_ASKED_OF_YOU})", "", spoken.strip_polite(said))  # "please you make ..."
    said = re.sub(r"\b(\d+) point (\d+)\b", r"\1.\2", said)  # "five point two k"
    said = re.sub(r"\b(that|this|the|my|a|today's) work out\b", r"\1 workout", said)  # a noun, written apart
    said = _LOST_COLON.sub(_clock, said)
    said = _TWO.sub("2 ", said)  # "please do minute timer"
    said = _DURATION.sub(_seconds, said)
    said = re.sub(r"\ban? (mile|kilometer|kilometre|km|k)\b", r"1 \1", said)  # "swam a mile"
    return re.sub(r"\b(\d+) ?x ?(\d+)\b", r"\1 x \2", said)  # "3x10"


@cache
def sentence_file(name: str) -> Any:
    """A file of ``assistant/skills/sentences``, read once; callers copy what they change."""
    return yaml.safe_load(resources.files(__package__).joinpath("sentences", name).read_text())


@cache
def unit_words(name: str) -> dict[str, tuple[str, ...]]:
    """The words the templates take for each unit of a list of en.yaml
    ("weight_unit": {"kg": ("kg", "kgs", "kilo", ...), "lb": (...)})."""
    values = sentence_file("en.yaml")["lists"][name]["values"]
    return {str(v["out"]): tuple(v["in"].strip("()").split("|")) for v in values}


@cache
def exercises() -> dict[str, str]:
    """Every name an exercise goes by ("squatted", "dead lifts", "rdls") -> its
    canonical name ("squat", "deadlift", "romanian deadlift")."""
    names = {}
    for canonical, aliases in sentence_file("exercises.yaml")["exercises"].items():
        names[canonical] = canonical
        names.update((alias, canonical) for alias in aliases or ())
    return names


@cache
def _ours() -> Intents:
    data = sentence_file("en.yaml")
    values = [{"in": alias, "out": canonical} for alias, canonical in exercises().items()]
    return Intents.from_dict({**data, "lists": {**data["lists"], "exercise": {"values": values}}})


@cache
def home_assistant() -> tuple[Intents, dict[str, SlotList]]:
    """Home Assistant's English timer sentences, without the blocks that name an
    area or run a command later ("turn off the lights in 5 minutes")."""
    from home_assistant_intents import get_intents

    data = get_intents("en")
    if data is None:
        raise RuntimeError("home-assistant-intents has no English sentences")
    intents = {}
    for name in _HA_TIMERS:
        blocks = [b for b in data["intents"][name]["data"]
                  if not str(b.get("metadata", {}).get("slot_combination", "")).startswith(("command", "area"))]
        intents[name] = {"data": blocks}
    # no areas, floors or names; and no timer named by any words ("stop complaining about the timer")
    lists: dict[str, SlotList] = {name: TextSlotList(name=name, values=[])
                                  for name in ("area", "floor", "name", "timer_name")}
    return Intents.from_dict({**data, "intents": intents}), lists


def from_templates(text: str) -> tuple[Command | None, str]:
    """The command the sentence templates make of ``text`` and the template that
    matched; (None, "") when none did. A template whose slots make no command
    (a 100,000-hour timer, a name holding a number) says so: (None, why)."""
    if len(text) > 300:
        return None, ""
    normal = _normal(text)
    for polite in (False, True):
        said = _prepared(normal, polite)
        if said and (result := recognize_best(said, _ours())) is not None:
            return _explained(_command(result.intent.name, _slots(result)), "template", result, text)
    intents, lists = home_assistant()
    plain = spoken.strip_polite(normal)
    if (result := recognize_best(plain, intents, slot_lists=lists)) is not None:
        return _explained(_from_home_assistant(result), "home-assistant-intents", result, text)
    return None, ""


def _explained(command: Command | None, source: str, result: RecognizeResult,
               text: str) -> tuple[Command | None, str]:
    sentence = result.intent_sentence.text if result.intent_sentence is not None else "?"
    why = f"{source}: {result.intent.name} {sentence!r}"
    if command is not None and (reason := _asked_not_told(command, text)):
        return None, f"{why}, but {reason}"
    return command, why if command is not None else f"{why}, but its slots make no command"


# "Can you / could you / would you ...": a request of the coach, or a question about the user ("would you run 5k?")
_REQUEST = re.compile(r"^\W*(?:(?:ok(?:ay)?|hey|so|and)\W+)*(?:(?:hey\W+)?coach\W+)?"
                      r"(?:(?:can|could|would|will) you|you can|(?:can|could|shall) we)\b")


def _asked_not_told(command: Command, text: str) -> str:
    """Why a template's command is not one after all ("" when it is): a question
    mark makes "90 seconds?" a question unless it asks for something ("Can you
    set a timer?") or about something ("How long is left?"); one does not ask the
    coach to have trained ("Would you run 5k?")."""
    request = bool(_REQUEST.match(text.lower()))
    if isinstance(command, workouts.LogEntry) and request:
        return "a request that the coach train is a question"
    asking = isinstance(command, workouts.Query | memory.Recall | ShowPlan | ReviewWeek) \
        or command == router.Control("remaining")
    if "?" in text and not request and not asking:
        return "it is said as a question"
    return ""


# what an exercise is counted in, when it is not sets and reps, and what is asked when it is missing
COUNTED_IN = {**dict.fromkeys(("run", "walk", "hike", "bike ride", "swim", "row"), "distance"),
               **dict.fromkeys(("plank", "side plank", "wall sit", "dead hang", "hollow hold", "stretching", "yoga",
                                "meditation"), "time")}
_ASK_FOR = {"distance": "How far, or for how long?", "time": "For how long?", "": "How many sets and reps?"}
_NUMBERISH = re.compile(r"\d|\bminus\b|\bnegative\b")
_QUERIES: dict[str, Any] = {"QueryCount": "count", "QueryDistance": "distance", "QueryLast": "last",
                             "QueryBest": "best", "QueryProgress": "progress"}


def _trimmed(text: Any) -> str:
    """A wildcard's words without the politeness it took in: "drink water please"."""
    return re.sub(r"(?:^|\s+)(?:please|now|thanks|thank you|coach)$", "", str(text).strip()).strip()


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _slots(result: RecognizeResult) -> dict[str, Any]:
    return {name: entity.value for name, entity in result.entities.items()}


def _command(intent: str, slots: dict[str, Any]) -> Command | None:
    if intent == "StartTimer":
        label, reminder = _trimmed(slots.get("label", "")), _trimmed(slots.get("reminder", ""))
        if _NUMBERISH.search(label) or _NUMBERISH.match(reminder) or memory.asks(reminder):
            return None  # "a timer for minus 5 minutes", "for 1e9 seconds": a name took in the number's start
        return router.timer(float(slots["seconds"]), label, reminder)
    if intent == "StartSession":
        return router.session(int(slots["rounds"]), float(slots["work"]), float(slots.get("rest", 0)),
                              str(slots.get("name", "intervals")))
    if intent == "Tabata":  # a round is 30 s: "an 8 minute tabata" is 16 rounds
        rounds = slots.get("rounds") or (float(slots["seconds"]) / 30 if "seconds" in slots else 8)
        return router.session(round(float(rounds)), 20, 10, "tabata")
    if intent == "Emom":  # a round is a minute: "EMOM for 90 seconds" is no EMOM
        rounds = slots.get("rounds") or (float(slots["seconds"]) / 60 if "seconds" in slots else slots["minutes"])
        return router.session(int(rounds), 60, 0, "emom") if float(rounds) == int(rounds) else None
    if intent == "Control":
        return router.Control(slots["action"])
    if intent == "LogEntry":
        entry = workouts.checked(workouts.Entry(
            str(slots["exercise"]), _int(slots.get("sets")), _int(slots.get("reps")), _float(slots.get("weight")),
            str(slots.get("weight_unit", "")), _float(slots.get("distance")), str(slots.get("distance_unit", "")),
            _float(slots.get("seconds"))))
        return workouts.LogEntry(entry) if entry is not None else None
    if intent == "AskTimer":
        return AskBack("For how long?", "duration")
    if intent == "AskLog":
        name = str(slots["exercise"])
        return AskBack(_ASK_FOR[COUNTED_IN.get(name, "")], "amount", name)
    if intent == "LogLast":
        return workouts.LogLast()
    if intent == "Undo":
        return workouts.Undo()
    if intent == "Query":
        return workouts.Query("list", slots.get("period", "today"))
    if intent in _QUERIES:
        return workouts.Query(_QUERIES[intent], slots.get("period", "all"), str(slots.get("exercise", "")))
    if intent == "Recall":
        about = _trimmed(slots.get("about", "")).strip(" ?.!")
        if about.lower() in ("it", "that", "this", "them"):
            return None  # "what did I tell you about that?": the conversation's, the model's
        return memory.Recall("" if about.lower() in ("me", "myself") else about)
    if intent == "Remember":
        return memory.remember(_trimmed(slots["fact"]))
    if intent == "Forget":
        return memory.forget(_trimmed(slots["what"]))
    if intent == "ForgetAll":
        return memory.Forget("")
    if intent == "StartInterview":
        return StartInterview()
    if intent == "MakePlan":
        return MakePlan()
    if intent == "ShowPlan":
        return ShowPlan(slots.get("when", "today"))
    if intent == "StartWorkout":
        return StartWorkout()
    if intent == "ReviewWeek":
        return ReviewWeek()
    raise ValueError(f"sentences/en.yaml: no command for the intent {intent!r}")


def _from_home_assistant(result: RecognizeResult) -> Command | None:
    action = _HA_TIMERS[result.intent.name]
    if action != "start":
        return router.Control(action)
    slots = _slots(result)
    total = sum(float(slots.get(unit, 0)) * spoken.UNIT_S[unit] for unit in ("hours", "minutes", "seconds"))
    return router.timer(total, str(slots.get("name", "")))




def warm() -> None:
    """Load and compile the templates now (the first match otherwise takes a few hundred ms)."""
    from_templates("set a timer for 5 minutes")
    intents, lists = home_assistant()
    recognize_best("set a timer for 5 minutes", intents, slot_lists=lists)
