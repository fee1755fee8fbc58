"""What an addressed utterance asks of the coach's skills, decided in one place:
a timer or an interval session (``router``), the coach-creator interview, the
workout log (``workouts``) or the facts the coach keeps (``memory``); or None,
and the model answers. Pure logic: text in, a typed command out. The skills
carry out the command they are given and never read the text again.

The layer asks, in order: the sentence templates (``templates``), the same
with misheard words replaced by sound (``by_sound``), then the skills' older
grammars. A command is a whole utterance. A question is never one, even when it holds a
command's words: in "How many squats should I do to get stronger?" the
exercise's place holds a question's words ("squats should i do to get
stronger", ``workouts.QUESTION_WORDS``), so it is no query of the log; "I just
did 20 push-ups, what next?" neither logs the push-ups nor is half a command:
the model answers it whole (the user can say "log 20 push-ups" on its own).
"""

from __future__ import annotations

import dataclasses
import re
from functools import lru_cache

from assistant.core import spoken
from assistant.skills import by_sound, led_session, memory, router, templates, workouts
from assistant.skills.by_sound import sounding_alike
from assistant.skills.interview import START
from assistant.skills.interview import plain as said_plainly
from assistant.skills.templates import (
    COUNTED_IN,
    TIMER_COMMANDS,
    AskBack,
    Command,
    MakePlan,
    ReviewWeek,
    ShowPlan,
    StartInterview,
    StartWorkout,
    exercises,
    from_templates,
)


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
    """The skill that carries ``command`` out: timers, interview, plan, session (a
    led one), workouts or memory."""
    if isinstance(command, TIMER_COMMANDS) or (isinstance(command, AskBack) and command.wants == "duration"):
        return "timers"
    if isinstance(command, StartInterview):
        return "interview"
    if isinstance(command, MakePlan | ShowPlan | ReviewWeek):
        return "plan"
    if isinstance(command, StartWorkout):
        return "session"
    if isinstance(command, memory.Remember | memory.Forget | memory.Recall):
        return "memory"
    return "workouts"


def warm() -> None:
    """Load and compile the templates and the words' sounds now (the first match
    otherwise takes a few hundred ms)."""
    templates.warm()
    by_sound.warm()


MAX_MISSED_WORDS = 16  # longer transcripts are not heard again as a command


def missed(text: str) -> bool:
    """``text`` may be a command misheard: no command, and no question, not long,
    and nothing a led session takes ("Done, eight." is said to the set)."""
    return 0 < len(text.split()) <= MAX_MISSED_WORDS and not spoken.asks(text) and understand(text) is None \
        and led_session.heard(text) is None



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
    counted_in = COUNTED_IN.get(asked.exercise, "")
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
