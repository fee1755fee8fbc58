"""What an addressed utterance asks of the coach's skills, decided in one place:
a timer or an interval session (``router``), the coach-creator interview, the
workout log (``workouts``) or the facts the coach keeps (``memory``); or None,
and the model answers. Pure logic: text in, a typed command out. The skills
carry out the command they are given and never read the text again.

A command is a whole utterance. A question is never one, even when it holds a
command's words: in "How many squats should I do to get stronger?" the
exercise's place holds a question's words ("squats should i do to get
stronger", ``workouts.QUESTION_WORDS``), so it is no query of the log; "I just
did 20 push-ups, what next?" neither logs the push-ups nor is half a command:
the model answers it whole (the user can say "log 20 push-ups" on its own).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Literal

import jellyfish
import yaml
from hassil import Intents, RecognizeResult, SlotList, TextSlotList, recognize_best

from assistant.core import spoken
from assistant.skills import memory, router, workouts
from assistant.skills.interview import START
from assistant.skills.interview import plain as said_plainly


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


Command = router.Command | StartInterview | workouts.Command | memory.Command | AskBack

TIMER_COMMANDS = (router.StartTimer, router.StartSession, router.Control)


def understand(text: str) -> Command | None:
    """The command ``text`` is, or None (the model answers)."""
    return explain(text)[0]


@lru_cache(maxsize=64)  # a turn asks twice (stt's missed, then the skill); commands are frozen, periods symbolic
def explain(text: str) -> tuple[Command | None, str]:
    """The command ``text`` is, or None, and why: the sentence templates first
    (ours, then Home Assistant's timer sentences), then the same with misheard
    words replaced by the template words they sound like, then the skills'
    older grammars in the order their words overlap least."""
    command, why = from_templates(text)
    if why:
        return command, why
    command, why = sounding_alike(text)
    if why:
        return command, why
    if (command := router.route(text)) is not None:
        return command, "grammar: router"
    if START.fullmatch(said_plainly(text)):
        return StartInterview(), "grammar: interview"
    if (logged := workouts.parse(text)) is not None and (named := _named(logged)) is not None:
        return named, "grammar: workouts"
    if (kept := memory.parse(text)) is not None:
        return kept, "grammar: memory"
    return None, "no template or grammar matched: the model answers"


def _named(command: workouts.Command) -> workouts.Command | None:
    """The older grammar's exercise by its one name in the exercise list ("squats"
    -> "squat"), so the log keeps one name for one exercise; None when the list
    has no such exercise: the grammar took in other words ("squats right", "that's
    not right", "calories in a banana"), and the model answers."""
    if isinstance(command, workouts.LogEntry):
        if (name := exercises().get(command.entry.exercise.lower())) is None:
            return None
        return workouts.LogEntry(dataclasses.replace(command.entry, exercise=name))
    if isinstance(command, workouts.Query) and command.exercise:
        if (name := exercises().get(command.exercise.lower())) is None:
            return None
        return dataclasses.replace(command, exercise=name)
    return command


def skill(command: Command) -> str:
    """The skill that carries ``command`` out: timers, interview, workouts or memory."""
    if isinstance(command, TIMER_COMMANDS) or (isinstance(command, AskBack) and command.wants == "duration"):
        return "timers"
    if isinstance(command, StartInterview):
        return "interview"
    if isinstance(command, memory.Remember | memory.Forget | memory.Recall):
        return "memory"
    return "workouts"


# -- the sentence templates (hassil) ---------------------------------------------------

# A duration's unit, any of the router's but "m" (metres in "ran 400 m"); the longest first.
_UNIT = "|".join(sorted((unit for unit in spoken.UNIT_S if unit != "m"), key=len, reverse=True))
_PART = re.compile(rf"(\d+(?:\.\d+)?) ?({_UNIT})\b")
_DURATION = re.compile(rf"\b{_PART.pattern}(?:(?:,| and)? {_PART.pattern})*")
# Home Assistant's timer intents that are ours too; its others (lights, areas, commands run
# later) are not the coach's.
_HA_TIMERS: dict[str, router.Action | Literal["start"]] = {
    "HassStartTimer": "start", "HassCancelTimer": "stop", "HassCancelAllTimers": "stop", "HassPauseTimer": "pause",
    "HassUnpauseTimer": "resume", "HassTimerStatus": "remaining"}



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
    return _prepared(spoken.normalize(text), polite)


def _prepared(said: str, polite: bool) -> str:
    """``prepare`` on text ``spoken.normalize`` gave."""
    if polite:
        said = re.sub(rf"^(?:you|to) (?={_ASKED_OF_YOU})", "", spoken.strip_polite(said))  # "please you make ..."
    said = re.sub(r"\b(\d+) point (\d+)\b", r"\1.\2", said)  # "five point two k"
    said = _DURATION.sub(_seconds, said)
    said = re.sub(r"\ban? (mile|kilometer|kilometre|km|k)\b", r"1 \1", said)  # "swam a mile"
    return re.sub(r"\b(\d+) ?x ?(\d+)\b", r"\1 x \2", said)  # "3x10"


@cache
def _sentences(name: str) -> Any:
    """A file of ``assistant/skills/sentences``, read once; callers copy what they change."""
    return yaml.safe_load(resources.files(__package__).joinpath("sentences", name).read_text())


@cache
def unit_words(name: str) -> dict[str, tuple[str, ...]]:
    """The words the templates take for each unit of a list of en.yaml
    ("weight_unit": {"kg": ("kg", "kgs", "kilo", ...), "lb": (...)})."""
    values = _sentences("en.yaml")["lists"][name]["values"]
    return {str(v["out"]): tuple(v["in"].strip("()").split("|")) for v in values}


@cache
def exercises() -> dict[str, str]:
    """Every name an exercise goes by ("squatted", "dead lifts", "rdls") -> its
    canonical name ("squat", "deadlift", "romanian deadlift")."""
    names = {}
    for canonical, aliases in _sentences("exercises.yaml")["exercises"].items():
        names[canonical] = canonical
        names.update((alias, canonical) for alias in aliases or ())
    return names


@cache
def _ours() -> Intents:
    data = _sentences("en.yaml")
    values = [{"in": alias, "out": canonical} for alias, canonical in exercises().items()]
    return Intents.from_dict({**data, "lists": {**data["lists"], "exercise": {"values": values}}})


@cache
def _home_assistant() -> tuple[Intents, dict[str, SlotList]]:
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


def warm() -> None:
    """Load and compile the templates now (the first match otherwise takes a few hundred ms)."""
    from_templates("set a timer for 5 minutes")
    intents, lists = _home_assistant()
    recognize_best("set a timer for 5 minutes", intents, slot_lists=lists)
    sounding_alike("paws the timer")  # the words' sounds


def from_templates(text: str) -> tuple[Command | None, str]:
    """The command the sentence templates make of ``text`` and the template that
    matched; (None, "") when none did. A template whose slots make no command
    (a 100,000-hour timer, a name holding a number) says so: (None, why)."""
    if len(text) > 300:
        return None, ""
    normal = spoken.normalize(text)
    for polite in (False, True):
        said = _prepared(normal, polite)
        if said and (result := recognize_best(said, _ours())) is not None:
            return _explained(_command(result.intent.name, _slots(result)), "template", result, text)
    intents, lists = _home_assistant()
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
                      r"(?:(?:can|could|would|will) you|you can)\b")


def _asked_not_told(command: Command, text: str) -> str:
    """Why a template's command is not one after all ("" when it is): a question
    mark makes "90 seconds?" a question unless it asks for something ("Can you
    set a timer?") or about something ("How long is left?"); one does not ask the
    coach to have trained ("Would you run 5k?")."""
    request = bool(_REQUEST.match(text.lower()))
    if isinstance(command, workouts.LogEntry) and request:
        return "a request that the coach train is a question"
    asking = isinstance(command, workouts.Query | memory.Recall) or command == router.Control("remaining")
    if "?" in text and not request and not asking:
        return "it is said as a question"
    return ""


# what an exercise is counted in, when it is not sets and reps, and what is asked when it is missing
_COUNTED_IN = {**dict.fromkeys(("run", "walk", "hike", "bike ride", "swim", "row"), "distance"),
               **dict.fromkeys(("plank", "side plank", "wall sit", "dead hang", "hollow hold", "stretching", "yoga",
                                "meditation"), "time")}
_ASK_FOR = {"distance": "How far, or for how long?", "time": "For how long?", "": "How many sets and reps?"}
_NUMBERISH = re.compile(r"\d|\bminus\b|\bnegative\b")
_QUERIES: dict[str, Any] = {"QueryCount": "count", "QueryDistance": "distance", "QueryLast": "last"}


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
        return AskBack(_ASK_FOR[_COUNTED_IN.get(name, "")], "amount", name)
    if intent == "LogLast":
        return workouts.LogLast()
    if intent == "Undo":
        return workouts.Undo()
    if intent == "Query":
        return workouts.Query("list", slots.get("period", "today"))
    if intent in _QUERIES:
        return workouts.Query(_QUERIES[intent], slots.get("period", "all"), str(slots.get("exercise", "")))
    if intent == "Recall":
        return memory.Recall()
    if intent == "Remember":
        return memory.remember(_trimmed(slots["fact"]))
    if intent == "Forget":
        return memory.forget(_trimmed(slots["what"]))
    if intent == "ForgetAll":
        return memory.Forget("")
    if intent == "StartInterview":
        return StartInterview()
    raise ValueError(f"sentences/en.yaml: no command for the intent {intent!r}")


def _from_home_assistant(result: RecognizeResult) -> Command | None:
    action = _HA_TIMERS[result.intent.name]
    if action != "start":
        return router.Control(action)
    slots = _slots(result)
    total = sum(float(slots.get(unit, 0)) * spoken.UNIT_S[unit] for unit in ("hours", "minutes", "seconds"))
    return router.timer(total, str(slots.get("name", "")))


# -- heard wrong: words the templates know by their sound ---------------------------------

SOUNDS_LIKE = 0.85  # how alike (0-1: spelling and sound, Jaro-Winkler) a word must be to one the templates use
MAX_WORDS = 10  # longer utterances are no command misheard
MAX_MISSED_WORDS = 16  # longer transcripts are not heard again as a command
# what a word's sound never decides: what deletes or keeps the user's data, or reads it out
_NOT_BY_SOUND = (memory.Remember, memory.Forget, memory.Recall, workouts.Undo, workouts.Query, workouts.LogLast,
                 StartInterview)
# words no misheard command word becomes: "almost" is no "also", "dad" no "did", "plates" no "please"
_FUNCTION_WORDS = frozenset((
    "the", "and", "for", "with", "from", "that", "this", "then", "than", "also", "did", "does", "done", "doing", "have",
    "has", "had", "was", "were", "are", "will", "would", "can", "could", "should", "just", "please", "some", "any",
    "all", "you", "your", "yours", "our", "they", "them", "their", "there", "here", "what", "when", "why", "how", "who",
    "which", "not", "now", "too", "very", "really", "like", "okay", "yeah", "yes", "coach", "couch"))


def missed(text: str) -> bool:
    """``text`` may be a command misheard: no command, and no question, not long."""
    return 0 < len(text.split()) <= MAX_MISSED_WORDS and not spoken.asks(text) and understand(text) is None


MAX_UNKNOWN = 2  # words the templates do not know, at most: more is no command misheard
CANDIDATES = 3  # words tried for each unknown one
TRIES = 3  # template runs at most


@cache
def vocabulary() -> dict[tuple[str, int], list[tuple[str, str]]]:
    """The words the templates and the exercise list are made of, with their
    sound (metaphone), by first letter and length: a misheard word keeps its
    first sound ("paws" "pause", "timber" "timer", "lug" "log"), and looking
    among those alone keeps a new word's first look at about a millisecond."""
    data = _sentences("en.yaml")
    texts = [sentence for intent in data["intents"].values() for block in intent["data"]
             for sentence in block["sentences"]]
    texts += [str(rule) for rule in data["expansion_rules"].values()]
    texts += [str(value.get("in", "")) if isinstance(value, dict) else str(value)
              for spec in data["lists"].values() for value in spec.get("values", ())]
    texts += list(exercises())
    texts += [" ".join(spoken.UNIT_WORDS)]  # said before prepare turns them into seconds: "2 men" is "2 min"
    words = {w for text in texts for w in re.findall(r"[a-z']+", text.lower()) if len(w) >= 3}
    words -= _FUNCTION_WORDS | set(spoken.NUMBER_WORDS)  # known, but no misheard word becomes one
    by_length: dict[tuple[str, int], list[tuple[str, str]]] = {}
    for word in sorted(words):
        by_length.setdefault((word[0], len(word)), []).append((word, jellyfish.metaphone(word)))
    return by_length


@cache
def _known() -> frozenset[str]:
    words = frozenset(word for words in vocabulary().values() for word, _ in words)
    return words | _FUNCTION_WORDS | set(spoken.NUMBER_WORDS)


@lru_cache(maxsize=4096)  # every unknown word heard, for weeks: bounded
def sounds_like(word: str) -> tuple[tuple[str, float], ...]:
    """The template words ``word`` sounds most like, best first, with how alike
    ("paws" -> "pause", "deadless" -> "deadlift", "timber" -> "timer"); () when
    none is close."""
    sound = jellyfish.metaphone(word)
    alike = []
    for length in range(len(word) - 2, len(word) + 3):
        for known, known_sound in vocabulary().get((word[0], length), ()):
            score = (jellyfish.jaro_winkler_similarity(word, known)
                     + jellyfish.jaro_winkler_similarity(sound, known_sound)) / 2
            if score >= SOUNDS_LIKE and not _inflected(word, known):
                alike.append((known, score))
    return tuple(sorted(alike, key=lambda pair: -pair[1])[:CANDIDATES])


def _inflected(word: str, known: str) -> bool:
    """``word`` is ``known`` with an ending, or ``known`` is its stem with another
    ("rested" "rest", "deleted" "delete", "skipping" "skip"), or a tense of it
    ("forgot" "forget"): a real word the user said, not a mishearing."""
    stem = re.sub(r"(?:ed|d|ing|es|s)$", "", word)
    return (word.startswith(known) or (len(stem) >= 3 and known.startswith(stem))
            or _PAST.get(word) == known)


_PAST = {"forgot": "forget", "forgotten": "forget", "kept": "keep", "stood": "stand", "said": "say", "told": "tell"}


def sounding_alike(text: str) -> tuple[Command | None, str]:
    """The templates again, the words they do not know replaced by words they
    use that sound alike: how tiny.en mishears commands ("Deadless 120 for 5",
    "paws the timer", "start a tabatha") matched without a list of its misses.
    The likeliest replacements are tried first, at most ``TRIES`` of them.
    (None, "") when no word was unknown or still nothing matched."""
    words = prepare(text, polite=True).split()
    if not words or len(words) > MAX_WORDS or spoken.asks(text):
        return None, ""
    unknown = [i for i, w in enumerate(words) if len(w) >= 3 and w.isalpha() and w not in _known()]
    if any(words[i].endswith(("ed", "ing")) for i in unknown):  # "I skipped 5k", "planning": said, not misheard
        return None, ""
    if not unknown or len(unknown) > MAX_UNKNOWN:  # a question or a remark: words no command has
        return None, ""
    options = [sounds_like(words[i]) for i in unknown]
    if not all(options):
        return None, ""
    tries = sorted(itertools.product(*options), key=lambda combo: -sum(score for _, score in combo))[:TRIES]
    for combo in tries:
        heard = list(words)
        for index, (alike, _) in zip(unknown, combo, strict=True):
            heard[index] = alike
        command, why = from_templates(" ".join(heard))
        if command is not None and not isinstance(command, _NOT_BY_SOUND):
            swapped = ", ".join(f"{words[i]!r} as {alike!r}" for i, (alike, _) in zip(unknown, combo, strict=True))
            return command, f"heard {swapped}; {why}"
    return None, ""


# -- ask back: the next utterance fills the question -------------------------------------


def fill(asked: AskBack, text: str) -> Command | None:
    """The command ``text`` completes after ``asked`` ("two minutes" after "For how
    long?", "three sets of ten at sixty" after "log squats"), or None: the
    answer does not fit, and the utterance is handled as usual."""
    if "?" in text or re.match(r"\W*(?:at|with)\b", text.lower()) or re.search(r"\d:\d", text):
        return None  # "10?": a question back; "at 60": a weight without the count; "10:99": no amount
    if asked.wants == "duration":
        command = from_templates(f"set a timer for {text}")[0]
        return command if isinstance(command, router.StartTimer) else None
    counted_in = _COUNTED_IN.get(asked.exercise, "")
    bare = re.fullmatch(r"\W*(\d+(?:\.\d+)?)\W*", spoken.normalize(text))
    if bare and counted_in == "time":  # "90" after "log my plank": seconds
        text = f"{bare[1]} seconds"
    for said in (f"log {text} {asked.exercise}", f"log {asked.exercise} {text}", f"log {asked.exercise} for {text}",
                 f"log {text} of {asked.exercise}"):
        command = from_templates(said)[0]
        if (isinstance(command, workouts.LogEntry) and command.entry.exercise == asked.exercise
                and _counted_as_asked(command.entry, counted_in)):
            return command
    return None


def _counted_as_asked(entry: workouts.Entry, counted_in: str) -> bool:
    """The answer gives what was asked: a distance or a time for a run, a time for a
    plank, sets or reps (and maybe a weight) for the rest; no distance of squats."""
    if counted_in == "time":
        return entry.duration_s is not None and entry.reps is None and entry.distance is None
    if counted_in == "distance":
        return (entry.distance is not None or entry.duration_s is not None) and entry.reps is None
    return (entry.reps is not None or entry.sets is not None) and entry.distance is None


class Dialogue:
    """Understanding across utterances: a question asked back (``AskBack``) holds
    for the next utterance only, which fills it or is handled as usual."""

    def __init__(self) -> None:
        self.asked: AskBack | None = None

    def understand(self, text: str) -> Command | None:
        asked, self.asked = self.asked, None
        command = fill(asked, text) if asked is not None else None  # "two minutes" answers "For how long?"
        if command is None:
            command = understand(text)
        if isinstance(command, AskBack):
            self.asked = command
        return command
