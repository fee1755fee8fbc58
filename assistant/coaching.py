"""The coaching skills: the workout log, the facts the user asked the coach to
keep, and the coach-creator interview, on the skill router (``LLMService.skill``).

``answer`` carries out what an addressed utterance asks of them and returns the
reply, or None for the model. During the interview every utterance is an answer
(``interviewing`` comes first). Questions about the log are answered from the
notebook, never by the model; the model gets the profile, the facts and a
summary of recent training in its system prompt (``profile``, ``notes``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from . import memory, workouts
from .events import Bus, MemoryUpdated, SpeechDetected, WorkoutLogged
from .interview import KEYS, OFFER, START, Interview
from .interview import plain as said_plainly
from .notebook import Notebook
from .timing import Running
from .workouts import Entry

logger = logging.getLogger(__name__)

UNDO_WITHIN_S = 600.0  # "undo that" removes what was stored this long ago at most
POSITION, OFFERED = "_position", "_offered"


def session_entry(running: Running) -> Entry:
    """A finished timer or session as a log entry ("log that")."""
    plan = running.plan
    if plan.kind in ("timer", "reminder"):
        return Entry(plan.label if plan.label and plan.label != "reminder" else "timed exercise",
                     duration_s=plan.total_s)
    return Entry(plan.kind, sets=plan.rounds, duration_s=plan.work_s)


class Coaching:
    def __init__(self, bus: Bus, notebook: Notebook, *, last_session: Callable[[], Running | None] = lambda: None,
                 clock: Callable[[], float] = time.time):
        self.bus = bus
        self.notebook = notebook
        self.last_session = last_session
        self.clock = clock
        self.interview: Interview | None = None
        self._stored: tuple[str, int, float] | None = None  # (workout | fact, id, when): what "undo that" removes
        self._logged_session: int | None = None  # the timer id "log that" stored last

    # -- the router's side ---------------------------------------------------------

    def interviewing(self, event: SpeechDetected) -> tuple[str, str] | None:
        """During the interview, every utterance is an answer (or skip, repeat, ...)."""
        if self.interview is None:
            return None
        return "interview", self.hear(event.text, event.utterance_id)

    def hear(self, text: str, turn_id: int | None = None) -> str:
        """One answer to the interview running; it is stored before the reply."""
        assert self.interview is not None
        reply = self.interview.hear(text)
        self._save_interview(turn_id)
        if self.interview.done or self.interview.stopped:
            self.interview = None
        return reply

    def answer(self, event: SpeechDetected) -> tuple[str, str] | None:
        if START.fullmatch(said_plainly(event.text)):
            return "interview", self.start_interview()
        command = workouts.parse(event.text)
        if command is not None:
            reply = self._workouts(command, event)
            if reply is not None:
                return "workouts", reply
        fact = memory.parse(event.text)
        if fact is not None:
            return "memory", self._memory(fact, event.utterance_id)
        return None

    # -- the workout log -------------------------------------------------------------

    def _workouts(self, command: workouts.Command, event: SpeechDetected) -> str | None:
        if isinstance(command, workouts.Query):
            since = workouts.bounds(command.period, self.clock())[0]
            return workouts.answer(command, self.notebook.workouts(since), self.clock())
        if isinstance(command, workouts.Undo):
            return self._undo(event.utterance_id)
        if isinstance(command, workouts.LogLast):
            running = self.last_session()
            if running is None or running.id == self._logged_session:
                return "There's no finished timer to log."
            self._logged_session = running.id
            return self._log(session_entry(running), event)
        return self._log(command.entry, event)

    def _log(self, entry: Entry, event: SpeechDetected) -> str:
        logged = self.notebook.log(entry, event.text, self.clock())
        self._stored = ("workout", logged.id, self.clock())
        reply = workouts.confirmation(entry)
        self.bus.emit(WorkoutLogged(logged.id, "logged", dataclasses.asdict(entry), reply, event.utterance_id))
        logger.info("workouts: logged %s", workouts.describe(entry))
        return reply

    def _undo(self, turn_id: int) -> str:
        stored = self._stored
        self._stored = None
        if stored is None:
            return "There's nothing to undo."
        if self.clock() - stored[2] > UNDO_WITHIN_S:
            return "That was too long ago to undo. Use assistant log and assistant memory to see what is stored."
        kind, item_id, _ = stored
        if kind == "fact":
            self.notebook.forget(item_id)
            self.bus.emit(MemoryUpdated("fact", "forgotten", item_id, "", turn_id))
            return "Okay, I've forgotten that."
        entry = next((e for e in self.notebook.workouts(stored[2] - 1) if e.id == item_id), None)
        if entry is None or not self.notebook.unlog(item_id):
            return "That entry is already gone."
        reply = f"Removed {workouts.describe(entry.entry)}."
        self.bus.emit(WorkoutLogged(item_id, "removed", dataclasses.asdict(entry.entry), reply, turn_id))
        return reply

    # -- memory ------------------------------------------------------------------------

    def _memory(self, command: memory.Command, turn_id: int) -> str:
        if isinstance(command, memory.Recall):
            return self.recall()
        if isinstance(command, memory.Forget):
            if not command.what:
                count = self.notebook.forget(None)
                self.bus.emit(MemoryUpdated("fact", "cleared", 0, "", turn_id))
                return f"Done. I've forgotten {count} {'thing' if count == 1 else 'things'} you told me."
            fact = memory.match(command.what, self.notebook.facts())
            if fact is None:
                return f"I don't have anything about {memory.spoken(command.what)}."
            self.notebook.forget(fact.id)
            self.bus.emit(MemoryUpdated("fact", "forgotten", fact.id, fact.text, turn_id))
            return f"Okay, I've forgotten that {memory.spoken(fact.text)}."
        same = next((f for f in self.notebook.facts() if f.text == command.fact), None)
        if same is not None:
            return f"I already know that {memory.spoken(command.fact)}."
        fact = self.notebook.remember(command.fact)
        self._stored = ("fact", fact.id, self.clock())
        self.bus.emit(MemoryUpdated("fact", "added", fact.id, fact.text, turn_id))
        return f"Got it. I'll remember that {memory.spoken(fact.text)}."

    def recall(self) -> str:
        facts = self.notebook.facts()
        profile = self.profile()
        parts = [memory.spoken(f.text) for f in facts[-8:]]
        if profile.get("goal"):
            parts.append(f"your main goal: {profile['goal']}")
        if not parts:
            return "Nothing yet. Tell me, for example: remember that my left knee is sore."
        name = f"{profile['name']}, " if profile.get("name") else ""
        more = f" And {len(facts) - 8} more." if len(facts) > 8 else ""
        return f"{name}I know that " + "; ".join(parts) + "." + more

    # -- the interview -------------------------------------------------------------------

    def start_interview(self) -> str:
        stored = self.notebook.profile()
        answers = {k: stored[k] for k in KEYS if k in stored}
        position = int(stored.get(POSITION, "0"))
        if position >= len(KEYS):  # done before: a new interview, answers kept until replaced
            position = 0
        self.interview = Interview(answers, position)
        self.notebook.set_profile({OFFERED: "1"})
        return self.interview.opening()

    def _save_interview(self, turn_id: int | None) -> None:
        interview = self.interview
        assert interview is not None
        before = self.notebook.profile()
        self.notebook.set_profile({**interview.answers, POSITION: str(interview.position)})
        for key, value in interview.answers.items():
            if before.get(key) != value:
                self.bus.emit(MemoryUpdated("profile", "answered", 0, f"{key}: {value}", turn_id))
        if interview.done:
            self.bus.emit(MemoryUpdated("profile", "completed", 0, "", turn_id))

    def offer(self) -> str | None:
        """The offer of the interview, once, to a user with no profile."""
        stored = self.notebook.profile()
        if OFFERED in stored or any(k in stored for k in KEYS):
            return None
        self.notebook.set_profile({OFFERED: "1"})
        return OFFER

    # -- what the model is told -------------------------------------------------------------

    def profile(self) -> dict[str, str]:
        stored = self.notebook.profile()
        return {k: stored[k] for k in KEYS if stored.get(k)}

    def notes(self) -> str:
        now = self.clock()
        parts = [memory.prompt(self.notebook.facts()),
                 workouts.summary(self.notebook.workouts(now - workouts.SUMMARY_DAYS * 86400), now)]
        return "\n".join(p for p in parts if p)
