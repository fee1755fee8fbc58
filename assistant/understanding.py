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

from dataclasses import dataclass

from . import memory, router, workouts
from .interview import START
from .interview import plain as said_plainly


@dataclass(frozen=True, slots=True)
class StartInterview:
    """"Set up my coach": the coach-creator interview, from where it stopped."""


Command = router.Command | StartInterview | workouts.Command | memory.Command

TIMER_COMMANDS = (router.StartTimer, router.StartSession, router.Control)


def understand(text: str) -> Command | None:
    """The command ``text`` is, or None (the model answers), asking the skills'
    grammars in the order their words overlap least."""
    if (command := router.route(text)) is not None:
        return command
    if START.fullmatch(said_plainly(text)):
        return StartInterview()
    if (logged := workouts.parse(text)) is not None:
        return logged
    return memory.parse(text)


def skill(command: Command) -> str:
    """The skill that carries ``command`` out: timers, interview, workouts or memory."""
    if isinstance(command, TIMER_COMMANDS):
        return "timers"
    if isinstance(command, StartInterview):
        return "interview"
    if isinstance(command, memory.Remember | memory.Forget | memory.Recall):
        return "memory"
    return "workouts"
