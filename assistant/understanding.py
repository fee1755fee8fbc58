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

import itertools
import re
import dataclasses
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
import jellyfish
from hassil import Intents, RecognizeResult, SlotList, TextSlotList, recognize_best

from . import memory, router, workouts
from .interview import START
from .interview import plain as said_plainly


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
    if (logged := workouts.parse(text)) is not None:
        return _named(logged), "grammar: workouts"
    if (kept := memory.parse(text)) is not None:
        return kept, "grammar: memory"
    return None, "no template or grammar matched: the model answers"


def _named(command: workouts.Command) -> workouts.Command:
    """The older grammar's exercise by its one name in the exercise list, when it
    is there ("squats" -> "squat"), so the log keeps one name for one exercise."""
    if isinstance(command, workouts.LogEntry):
        name = exercises().get(command.entry.exercise.lower(), command.entry.exercise)
        return workouts.LogEntry(dataclasses.replace(command.entry, exercise=name))
    if isinstance(command, workouts.Query) and command.exercise:
        return dataclasses.replace(command, exercise=exercises().get(command.exercise.lower(), command.exercise))
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

# A duration said with a word unit; not "m" (metres in "ran 400 m").
_DURATION = re.compile(r"\b\d+(?:\.\d+)? ?(?:seconds?|secs?|s|minutes?|mins?|hours?|hrs?|h)\b"
                       r"(?:(?:,| and)? \d+(?:\.\d+)? ?(?:seconds?|secs?|s|minutes?|mins?|hours?|hrs?|h)\b)*")
# Home Assistant's timer intents that are ours too; its others (lights, areas, commands run
# later) are not the coach's.
_HA_TIMERS = {"HassStartTimer": "start", "HassCancelTimer": "stop", "HassCancelAllTimers": "stop",
              "HassPauseTimer": "pause", "HassUnpauseTimer": "resume", "HassTimerStatus": "remaining"}


def prepare(text: str, polite: bool = False) -> str:
    """What the templates see: ``router.normalize`` (lower case, digits), every
    duration as "<total> seconds"; with ``polite`` also the politeness and
    fillers at either end gone ("okay coach, can you ...", "hold on, ...")."""
    said = router.normalize(text)
    if polite:
        said = re.sub(r"^(?:you|to) (?=\w)", "", router.strip_polite(said))  # "please you make ...", "please to stop"
    said = _DURATION.sub(lambda m: f"{round(router.seconds(m[0]))} seconds", said)
    said = re.sub(r"\ban? (mile|kilometer|kilometre|km|k)\b", r"1 \1", said)  # "swam a mile"
    return re.sub(r"\b(\d+) ?x ?(\d+)\b", r"\1 x \2", said)  # "3x10"


def _sentences(name: str) -> Any:
    return yaml.safe_load(resources.files(__package__).joinpath("sentences", name).read_text())


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
    data["lists"]["exercise"] = {"values": values}
    return Intents.from_dict(data)


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
    lists: dict[str, SlotList] = {name: TextSlotList(name=name, values=[]) for name in ("area", "floor", "name")}
    return Intents.from_dict({**data, "intents": intents}), lists


def warm() -> None:
    """Load and compile the templates now (the first match otherwise takes a few hundred ms)."""
    from_templates("set a timer for 5 minutes")
    recognize_best("set a timer for 5 minutes", _home_assistant()[0], slot_lists=_home_assistant()[1])


def from_templates(text: str) -> tuple[Command | None, str]:
    """The command the sentence templates make of ``text`` and the template that
    matched; (None, "") when none did. A template whose slots make no command
    (a 100,000-hour timer, a name holding a number) says so: (None, why)."""
    if len(text) > 300:
        return None, ""
    for polite in (False, True):
        said = prepare(text, polite)
        if said and (result := recognize_best(said, _ours())) is not None:
            return _explained(_command(result.intent.name, _slots(result)), "template", result)
    intents, lists = _home_assistant()
    plain = router.strip_polite(router.normalize(text))
    if (result := recognize_best(plain, intents, slot_lists=lists)) is not None:
        return _explained(_from_home_assistant(result), "home-assistant-intents", result)
    return None, ""


def _explained(command: Command | None, source: str, result: RecognizeResult) -> tuple[Command | None, str]:
    sentence = result.intent_sentence.text if result.intent_sentence is not None else "?"
    why = f"{source}: {result.intent.name} {sentence!r}"
    return command, why if command is not None else f"{why}, but its slots make no command"


# what an exercise is counted in, when it is not sets and reps
_AMOUNT = {**dict.fromkeys(("run", "walk", "hike", "bike ride", "swim", "row"), "How far, or for how long?"),
           **dict.fromkeys(("plank", "side plank", "wall sit", "dead hang", "hollow hold", "stretching", "yoga",
                            "meditation"), "For how long?")}
_NUMBERISH = re.compile(r"\d|\bminus\b|\bnegative\b")
_QUERIES: dict[str, Any] = {"QueryCount": "count", "QueryDistance": "distance", "QueryLast": "last"}


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _slots(result: RecognizeResult) -> dict[str, Any]:
    return {name: entity.value for name, entity in result.entities.items()}


def _command(intent: str, slots: dict[str, Any]) -> Command | None:
    if intent == "StartTimer":
        label, reminder = str(slots.get("label", "")), str(slots.get("reminder", ""))
        if _NUMBERISH.search(f"{label} {reminder}"):
            return None  # "a timer for minus 5 minutes", "for 1e9 seconds": a name took in the number's start
        return router.timer(float(slots["seconds"]), label, reminder)
    if intent == "StartSession":
        return router.session(int(slots["rounds"]), float(slots["work"]), float(slots.get("rest", 0)),
                              str(slots.get("name", "intervals")))
    if intent == "Tabata":
        return router.session(int(slots.get("rounds", 8)), 20, 10, "tabata")
    if intent == "Emom":
        rounds = slots.get("rounds") or (float(slots["seconds"]) / 60 if "seconds" in slots else slots["minutes"])
        return router.session(max(1, round(float(rounds))), 60, 0, "emom")
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
        return AskBack(_AMOUNT.get(name, "How many sets and reps?"), "amount", name)
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
        return memory.remember(slots["fact"])
    if intent == "Forget":
        return memory.forget(slots["what"])
    if intent == "ForgetAll":
        return memory.Forget("")
    if intent == "StartInterview":
        return StartInterview()
    raise ValueError(f"sentences/en.yaml: no command for the intent {intent!r}")


def _from_home_assistant(result: RecognizeResult) -> Command | None:
    action = _HA_TIMERS[result.intent.name]
    if action != "start":
        return router.Control(action)  # type: ignore[arg-type]
    slots = _slots(result)
    total = sum(float(slots.get(unit, 0)) * scale for unit, scale in (("hours", 3600), ("minutes", 60), ("seconds", 1)))
    return router.timer(total, str(slots.get("name", "")))


# -- heard wrong: words the templates know by their sound ---------------------------------

SOUNDS_LIKE = 0.85  # how alike (0-1: spelling and sound, Jaro-Winkler) a word must be to one the templates use
MAX_WORDS = 16  # longer utterances are no command misheard
# a question as whisper writes it: a question mark, a question's first word or words ("was that", "should")
_ASKING = re.compile(r"\?|^\W*(?:what|how|why|when|where|who|which|is|are|was|were|do|does|did|can|could|should|"
                     r"would|will|am)\b|\b(?:should|is that|was that|is it|enough)\b")
MAX_UNKNOWN = 2  # words the templates do not know, at most: more is no command misheard
CANDIDATES = 3  # words tried for each unknown one
TRIES = 4  # template runs at most


@cache
def vocabulary() -> dict[int, list[tuple[str, str]]]:
    """The words the templates and the exercise list are made of, with their
    sound (metaphone), by length."""
    data = _sentences("en.yaml")
    texts = [sentence for intent in data["intents"].values() for block in intent["data"]
             for sentence in block["sentences"]]
    texts += [str(rule) for rule in data["expansion_rules"].values()]
    texts += [str(value.get("in", "")) if isinstance(value, dict) else str(value)
              for spec in data["lists"].values() for value in spec.get("values", ())]
    texts += list(exercises())
    texts += [" ".join(router.UNIT_WORDS)]  # said before prepare turns them into seconds: "2 men" is "2 min"
    words = {w for text in texts for w in re.findall(r"[a-z']+", text.lower()) if len(w) >= 3}
    by_length: dict[int, list[tuple[str, str]]] = {}
    for word in sorted(words):
        by_length.setdefault(len(word), []).append((word, jellyfish.metaphone(word)))
    return by_length


@cache
def _known() -> frozenset[str]:
    return frozenset(word for words in vocabulary().values() for word, _ in words)


@cache
def sounds_like(word: str) -> tuple[tuple[str, float], ...]:
    """The template words ``word`` sounds most like, best first, with how alike
    ("paws" -> "pause", "deadless" -> "deadlift", "timber" -> "timer"); () when
    none is close."""
    sound = jellyfish.metaphone(word)
    alike = []
    for length in range(len(word) - 2, len(word) + 3):
        for known, known_sound in vocabulary().get(length, ()):
            score = (jellyfish.jaro_winkler_similarity(word, known)
                     + jellyfish.jaro_winkler_similarity(sound, known_sound)) / 2
            if score >= SOUNDS_LIKE:
                alike.append((known, score))
    return tuple(sorted(alike, key=lambda pair: -pair[1])[:CANDIDATES])


def sounding_alike(text: str) -> tuple[Command | None, str]:
    """The templates again, the words they do not know replaced by words they
    use that sound alike: how tiny.en mishears commands ("Deadless 120 for 5",
    "paws the timer", "start a tabatha") matched without a list of its misses.
    The likeliest replacements are tried first, at most ``TRIES`` of them.
    (None, "") when no word was unknown or still nothing matched."""
    words = prepare(text, polite=True).split()
    if not words or len(words) > MAX_WORDS or _ASKING.search(text.lower()):
        return None, ""
    unknown = [i for i, w in enumerate(words) if len(w) >= 3 and w.isalpha() and w not in _known()]
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
        if command is not None:
            swapped = ", ".join(f"{words[i]!r} as {alike!r}" for i, (alike, _) in zip(unknown, combo, strict=True))
            return command, f"heard {swapped}; {why}"
    return None, ""


# -- ask back: the next utterance fills the question -------------------------------------


def fill(asked: AskBack, text: str) -> Command | None:
    """The command ``text`` completes after ``asked`` ("two minutes" after "For how
    long?", "three sets of ten at sixty" after "log squats"), or None: the
    answer does not fit, and the utterance is handled as usual."""
    if asked.wants == "duration":
        command = from_templates(f"set a timer for {text}")[0]
        return command if isinstance(command, router.StartTimer) else None
    for said in (f"log {text} {asked.exercise}", f"log {asked.exercise} {text}", f"log {asked.exercise} for {text}",
                 f"log {text} of {asked.exercise}"):
        command = from_templates(said)[0]
        if isinstance(command, workouts.LogEntry) and command.entry.exercise == asked.exercise:
            return command
    return None


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
