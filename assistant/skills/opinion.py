"""The model's second opinion on an utterance that looks like a command but that
no template matched ("Wadded 225 pounds for three", "give me ninety on the
clock between these"): a server model (Ollama or OpenAI-compatible, never the
embedded one) picks a tool, a timer or the log, and fills its slots through a
JSON schema. Its choice counts only when the words heard carry every slot:
each number the utterance holds is used, and only those; the exercise is one of
the list's, said or sounding alike; a unit or a label the utterance does not
say is dropped. Anything else is no command, and the model answers the
utterance as usual. Pure logic: text and the model's JSON in, a command out.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from typing import Any, Protocol

from assistant.core import spoken
from assistant.core.config import LlmConfig
from assistant.core.errors import ConfigError, LlmError
from assistant.skills import by_sound, router, templates, understanding, workouts

MAX_WORDS = understanding.MAX_MISSED_WORDS  # longer utterances are no command a template missed
MAX_TOKENS = 80  # the longest choice the schema allows, with room

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tool": {"enum": ["start_timer", "log_workout", "none"]},
        "seconds": {"type": "number"},
        "label": {"type": "string"},
        "exercise": {"type": "string"},
        "sets": {"type": "integer"},
        "reps": {"type": "integer"},
        "weight": {"type": "number"},
        "weight_unit": {"enum": ["kg", "lb", ""]},
        "distance": {"type": "number"},
        "distance_unit": {"enum": ["km", "mi", "m", ""]},
        "duration_seconds": {"type": "number"},
    },
    "required": ["tool"],
}

INSTRUCTIONS = (
    "You sort what a person said to their fitness coach, as a speech recognizer heard it: some words may be "
    "misheard. Answer with one JSON object. A timer they ask for is start_timer with its length in seconds; "
    "exercise they report having done is log_workout with only the numbers they said; a question, a remark "
    "or anything else is none. Examples:\n"
    'set a timer for 90 seconds -> {"tool": "start_timer", "seconds": 90}\n'
    'two minutes rest -> {"tool": "start_timer", "seconds": 120, "label": "rest"}\n'
    'did 3 sets of 10 squats at 60 kilos -> {"tool": "log_workout", "exercise": "squat", "sets": 3, "reps": 10, '
    '"weight": 60, "weight_unit": "kg"}\n'
    'ran 5 km -> {"tool": "log_workout", "exercise": "run", "distance": 5, "distance_unit": "km"}\n'
    'how many squats should I do -> {"tool": "none"}'
)

_TIMER_WORDS = frozenset(("timer", "clock", "countdown", "seconds", "rest", "break", "rounds", "round"))
# a timer is asked for by one of these; "nice, those 30 seconds went fast" asks for none
_TIMER_ASKED = frozenset(("timer", "clock", "countdown", "count", "rest", "break", "recovery", "time"))
# about someone else, another time, what could be, or how something is ("I ran 5k today is not very
# beginner", whisper's "..., is that good for a beginner?"): no workout of the user's to log, no timer
_NOT_THE_USERS = re.compile(
    r"\b(?:my (?:\w+ )?(?:friends?|dog|wife|husband|partner|brother|sister|mom|mum|mother|dad|father|son|"
    r"daughter|kids?|girlfriend|boyfriend|buddy|mate|coach|trainer|neighbou?r|colleague)|he|she|they|his|her|their|someone|"
    r"somebody|everyone|people|guy|girl|man|woman|ago|last (?:summer|winter|spring|fall|autumn|year)|used to|"
    r"could|can|can't|would|will|going to|gonna|want|wanna|plan|planning|might|says|said|"
    r"if|is|are|isn't|aren't|not|was|were|had to|lol)\b")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class Structured(Protocol):
    cfg: LlmConfig

    async def structured(self, messages: list[dict[str, str]], schema: dict, max_tokens: int = 200,
                         servers_only: bool = False) -> str: ...


async def ask(llm: Structured, text: str) -> tuple[templates.Command | None, str]:
    """The command a server model reads ``text`` as, when the words carry it, and
    why; (None, "") when ``text`` does not look like a command or the opinion is
    off (``llm.second_opinion_s`` 0). No server answering in time is (None, why)."""
    wait = llm.cfg.second_opinion_s
    if not wait or not looks_like_command(text):
        return None, ""
    try:
        async with asyncio.timeout(wait):
            reply = await llm.structured(messages(text), SCHEMA, max_tokens=MAX_TOKENS, servers_only=True)
    except (LlmError, ConfigError) as err:
        return None, f"no server model gave one: {err}"
    except TimeoutError:
        return None, f"no server model gave one in {wait:g} s"
    return accept(text, reply)


def messages(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": text}]


def looks_like_command(text: str) -> bool:
    """A number with a timer word or an exercise (said, or sounding like one), not
    asked, not about someone else or another time: what a template may have
    missed. Questions never go to the opinion."""
    said = templates.prepare(text, polite=True)
    words = said.split()
    if not words or len(words) > MAX_WORDS or spoken.asks(text) or not _NUMBER.search(said) \
            or _NOT_THE_USERS.search(said):
        return False
    return bool(_TIMER_WORDS.intersection(words)) or any(_exercise_heard(name, said) for name in _named_in(words))


def _named_in(words: list[str]) -> set[str]:
    """The exercises whose names, or words sounding like them, are among ``words``."""
    names = templates.exercises()
    found = {names[w] for w in words if w in names}
    found |= {names[f"{a} {b}"] for a, b in itertools.pairwise(words) if f"{a} {b}" in names}
    for word in words:
        if len(word) >= 3 and word.isalpha():
            found |= {names[alike] for alike, _ in by_sound.sounds_like(word) if alike in names}
    return found


def _exercise_heard(name: str, said: str) -> bool:
    """``name`` (canonical) is said in ``said``, by one of its names or a word that
    sounds like one."""
    words = said.split()
    aliases = [alias for alias, canonical in templates.exercises().items() if canonical == name]
    if any(re.search(rf"\b{re.escape(alias)}\b", said) for alias in aliases):
        return True
    single = {alias for alias in aliases if " " not in alias}
    return any(alike in single for word in words if len(word) >= 3 and word.isalpha()
               for alike, _ in by_sound.sounds_like(word))


def accept(text: str, reply: str) -> tuple[templates.Command | None, str]:
    """The command the model's ``reply`` (JSON following ``SCHEMA``) makes of
    ``text``, when the words heard carry it; else (None, why)."""
    try:
        chosen = json.loads(reply)
    except json.JSONDecodeError:
        return None, "the model's reply is no JSON"
    if not isinstance(chosen, dict):
        return None, "the model's reply is no JSON object"
    said = templates.prepare(text, polite=True)
    heard = sorted(float(n) for n in _NUMBER.findall(said))
    tool = chosen.get("tool")
    if tool == "start_timer":
        command: templates.Command | None = _timer(chosen, said) if _TIMER_ASKED.intersection(said.split()) \
            else None
        used = [chosen.get("seconds")]
    elif tool == "log_workout":
        command, used = _entry(chosen, said)
    else:
        return None, "the model chose no tool"
    numbers = sorted(float(n) for n in used if isinstance(n, int | float) and not isinstance(n, bool) and n)
    if command is None:
        return None, f"the model's {tool} makes no command of these words: {reply}"
    if numbers != heard:
        return None, f"the model's numbers {numbers} are not the ones heard {heard}: {reply}"
    return command, f"the model's second opinion: {tool} {reply}"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None


def _timer(chosen: dict[str, Any], said: str) -> router.StartTimer | None:
    seconds = _number(chosen.get("seconds"))
    label = str(chosen.get("label") or "").lower().strip()
    if label and not re.search(rf"\b{re.escape(label)}\b", said):
        label = ""  # a name the user did not say
    return router.timer(seconds, label) if seconds else None


def _entry(chosen: dict[str, Any], said: str) -> tuple[workouts.LogEntry | None, list[Any]]:
    name = templates.exercises().get(str(chosen.get("exercise") or "").lower().strip())
    if name is None or not _exercise_heard(name, said):
        return None, []
    words = said.split()
    weight_unit = str(chosen.get("weight_unit") or "")
    if not any(w in words for w in templates.unit_words("weight_unit").get(weight_unit, ())):
        weight_unit = ""
    distance_unit = str(chosen.get("distance_unit") or "")
    distance = _number(chosen.get("distance"))
    if distance is not None and not any(w in words for w in templates.unit_words("distance_unit").get(
            distance_unit, ())):
        return None, []  # a distance without its unit is no distance heard
    sets, reps, weight = (_number(chosen.get(k)) for k in ("sets", "reps", "weight"))
    duration = _number(chosen.get("duration_seconds"))
    if sets is not None and sets != int(sets) or reps is not None and reps != int(reps):
        return None, []
    entry = workouts.checked(workouts.Entry(
        name, int(sets) if sets else None, int(reps) if reps else None, weight, weight_unit if weight else "",
        distance, distance_unit if distance else "", duration))
    if entry is None or (entry.sets, entry.reps, entry.distance, entry.duration_s) == (None,) * 4:
        return None, []
    return workouts.LogEntry(entry), [sets, reps, weight, distance, duration]
