"""The coaching skills: the workout log, the facts the user asked the coach to
keep, and the coach-creator interview, on the skill router (``LLMService.skill``).

``answer`` carries out what an addressed utterance asks of them and returns the
reply, or None for the model. During the interview every utterance is an answer
(``interviewing`` comes first). Questions about the log are answered from the
notebook, never by the model; the model gets the profile, the facts and a
summary of recent training in its system prompt (``profile``, ``notes``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from assistant.core.bus import Bus
from assistant.core.errors import StoreError
from assistant.core.events import (
    MemoryUpdated,
    SpeechDetected,
    WorkoutLogged,
)
from assistant.llm.prompt import Prompter
from assistant.llm.service import SkillReply
from assistant.skills import memory, records, workout_replies, workouts
from assistant.skills.interview import KEYS, OFFER, Interview, load_names
from assistant.skills.interview import render as render_profile
from assistant.skills.notebook import UNAVAILABLE, Notebook
from assistant.skills.opinion import Structured
from assistant.skills.planning import Planner
from assistant.skills.timing import Running
from assistant.skills.understanding import Command, MakePlan, ReviewWeek, ShowPlan, StartInterview
from assistant.skills.workouts import Entry

logger = logging.getLogger(__name__)
_T = TypeVar("_T", str, list[str])
# the interview's answers as the coach says them back ("your main goal: a 5k by June")
_TOLD = {"goal": "your main goal", "level": "where you are now", "schedule": "your schedule",
         "limits": "your injuries or limits", "style": "how you like to be coached"}

UNDO_WITHIN_S = 600.0  # "undo that" removes what was stored this long ago at most
POSITION, OFFERED = "_position", "_offered"
NOT_STORED = "I couldn't store your plan just now. Say make me a plan in a moment."


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
        self.planner = Planner(notebook, clock)
        # A server model to propose the plan (``Planner.propose``), asked as it is needed
        # (a reloaded config may add or drop the servers); None: the template's plan.
        self.proposer: Callable[[], Structured | None] = lambda: None
        self._stored: tuple[str, int, float] | None = None  # (workout | fact, id, when): what "undo that" removes
        self._logged_session: int | None = None  # the timer id "log that" stored last
        self._failing: set[str] = set()  # command, prompt: the notebook failed them (said once until it works)

    # -- the router's side ---------------------------------------------------------

    def interviewing(self, event: SpeechDetected) -> SkillReply | None:
        """During the interview, every utterance is an answer (or skip, repeat, ...);
        the last one's reply waits for the plan a server model proposes."""
        if self.interview is None:
            return None
        reply, done = self._hear(event.text, event.utterance_id)
        if not done:
            return "interview", reply
        made = self._plan_for(event.utterance_id)  # stored now: a plan whatever the model does
        if (llm := self.proposer()) is None or made == NOT_STORED:
            return "interview", f"{reply} {made}"
        return "interview", lambda: self._proposed(llm, f"{reply} {made}", f"{reply} ")

    def hear(self, text: str, turn_id: int | None = None) -> str:
        """One answer to the interview running (typed: the plan is the template's)."""
        reply, done = self._hear(text, turn_id)
        return f"{reply} {self._plan_for(turn_id)}" if done else reply

    def _hear(self, text: str, turn_id: int | None) -> tuple[str, bool]:
        """The reply to one answer, stored before it, and whether that completed the interview."""
        assert self.interview is not None
        reply = self.interview.hear(text)
        try:
            self._save_interview(turn_id)
        except StoreError as err:  # kept in memory; the next answer stores them all
            self.failed(err, turn_id)
        done = self.interview.done
        if done or self.interview.stopped:
            self.interview = None
        return reply, done

    def _plan_for(self, turn_id: int | None) -> str:
        """The plan the interview's answers ask for, made as it completes."""
        try:
            return self.planner.make(self.profile())
        except StoreError as err:
            self.failed(err, turn_id)
            return NOT_STORED

    async def _proposed(self, llm: Structured, made: str, before: str = "") -> str:
        """``before`` and what the coach says of the plan a server model proposes in
        place of the template's just stored (``Planner.propose``); ``made`` (the
        template's reply) when that fails. The proposal goes on if the reply is cut
        (the user spoke): a plan better than the template's is still kept."""
        try:
            return before + await asyncio.shield(self.planner.propose(llm, self.profile()))
        except Exception as err:  # StoreError too: the template's plan is stored all the same
            logger.warning("plan: the model's proposal failed (%s: %s); the template's plan stands",
                           type(err).__name__, err)
            return made

    def answer(self, event: SpeechDetected, command: Command) -> SkillReply | None:
        """The reply to a ``command`` (``understanding.understand``) for the log, the
        memory or the interview; None for the model (a fact said in passing is
        kept, and the model answers)."""
        try:
            answer = self._command(event, command)
        except StoreError as err:
            self.failed(err, event.utterance_id)
            return "notebook", UNAVAILABLE
        self._failing.discard("command")
        return answer

    def _command(self, event: SpeechDetected, command: Command) -> SkillReply | None:
        if isinstance(command, StartInterview):
            return "interview", self.start_interview()
        if isinstance(command, MakePlan) and (llm := self.proposer()) is not None:
            made = self.planner.make(self.profile())  # stored now: a plan whatever the model does
            return "plan", lambda: self._proposed(llm, made)
        if isinstance(command, MakePlan | ShowPlan | ReviewWeek):
            return "plan", self.planner.answer(command, self.profile())
        if isinstance(command, memory.Remember | memory.Forget | memory.Recall):
            reply = self._memory(command, event.utterance_id)
            return None if reply is None else ("memory", reply)
        if isinstance(command, workouts.LogEntry | workouts.LogLast | workouts.Undo | workouts.Query):
            return "workouts", self._workouts(command, event)
        raise TypeError(f"not a coaching command: {command!r}")

    def failed(self, err: StoreError, turn_id: int | None = None, *, command: bool = True) -> None:
        """Once per outage: ERROR_OCCURRED when a command could not be carried out; a
        warning when only the prompt goes without the notes (the history store
        reports a locked database itself)."""
        kind = "command" if command else "prompt"
        if kind not in self._failing:
            if command:
                self.bus.error("notebook", err, turn_id=turn_id)
            else:
                logger.warning("notebook: %s; the model answers without the profile and notes", err)
        self._failing.add(kind)

    # -- the workout log -------------------------------------------------------------

    def _workouts(self, command: workouts.Command, event: SpeechDetected) -> str:
        if isinstance(command, workouts.Query):
            since = workout_replies.bounds(command.period, self.clock())[0]
            return workout_replies.answer(command, self.notebook.workouts(since), self.clock())
        if isinstance(command, workouts.Undo):
            return self._undo(event.utterance_id)
        if isinstance(command, workouts.LogLast):
            running = self.last_session()
            if running is None or running.id == self._logged_session:
                return "There's no finished timer to log."
            self._logged_session = running.id
            return self.log(session_entry(running), event)
        return self.log(command.entry, event)

    def log(self, entry: Entry, event: SpeechDetected) -> str:
        """``entry`` into the workout log, said back with a record it sets; "undo
        that" takes it back."""
        record = self.log_quietly(entry, event)
        return f"{workout_replies.confirmation(entry)} {record}".strip()

    def log_quietly(self, entry: Entry, event: SpeechDetected) -> str:
        """``log`` without the confirmation (a led session says its own): only a
        record it sets ("That's a new best squat: 100 kilos."), or ""."""
        before = self.notebook.workouts_of(entry.exercise)
        logged = self.notebook.log(entry, event.text, self.clock())
        self._stored = ("workout", logged.id, self.clock())
        self.bus.emit(WorkoutLogged(logged.id, "logged", dataclasses.asdict(entry),
                                    workout_replies.confirmation(entry), event.utterance_id))
        logger.info("workouts: logged %s", workout_replies.describe(entry))
        return records.new_best(entry, before, workout_replies.bounds("today", self.clock())[0])

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
        reply = f"Removed {workout_replies.describe(entry.entry)}."
        self.bus.emit(WorkoutLogged(item_id, "removed", dataclasses.asdict(entry.entry), reply, turn_id))
        return reply

    # -- the page's edits ------------------------------------------------------------------

    def forget_fact(self, fact_id: int) -> bool:
        fact = next((f for f in self.notebook.facts() if f.id == fact_id), None)
        if fact is None or not self.notebook.forget(fact_id):
            return False
        self.bus.emit(MemoryUpdated("fact", "forgotten", fact.id, fact.text))
        return True

    def remove_entry(self, entry_id: int) -> bool:
        logged = self.notebook.workout(entry_id)
        if logged is None or not self.notebook.unlog(entry_id):
            return False
        said = f"Removed {workout_replies.describe(logged.entry)}."
        self.bus.emit(WorkoutLogged(entry_id, "removed", dataclasses.asdict(logged.entry), said))
        return True

    def set_answer(self, key: str, value: str) -> None:
        """An interview answer, changed (or cleared when ``value`` is empty)."""
        if value:
            self.notebook.set_profile({key: value})
        else:
            self.notebook.clear_profile((key,))
        self.bus.emit(MemoryUpdated("profile", "answered", 0, f"{key}: {value}"))

    # -- memory ------------------------------------------------------------------------

    def _memory(self, command: memory.Command, turn_id: int) -> str | None:
        if isinstance(command, memory.Recall):
            return self.recall(command.about)
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
        if same is None:
            fact = self.notebook.remember(command.fact)
            self._stored = ("fact", fact.id, self.clock())
            self.bus.emit(MemoryUpdated("fact", "added", fact.id, fact.text, turn_id))
        if not command.asked:
            return None  # said in passing: kept, and the model answers, knowing it
        if same is not None:
            return f"I already know that {memory.spoken(command.fact)}."
        return f"Got it. I'll remember that {memory.spoken(command.fact)}."

    def recall(self, about: str = "") -> str:
        """What the coach knows of the user; ``about``: only what concerns that
        ("knee": the facts and the interview's answers that name it)."""
        if about:
            return self._recall(about)
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

    def _recall(self, about: str) -> str:
        facts = [f.text for f in self.notebook.facts()]
        answers = [(f"{key} {label} {value}", f"{label}: {memory.spoken(value)}")
                   for key, value in self.profile().items() if (label := _TOLD.get(key))]
        told = [memory.spoken(facts[i]) for i in memory.matching(about, facts)[:3]]
        told += [answers[i][1] for i in memory.matching(about, [words for words, _ in answers])[:2]]
        if not told:
            return f"You haven't told me anything about {memory.spoken(about)}."
        return "You told me " + ", and ".join(told) + "."

    # -- the interview -------------------------------------------------------------------

    def start_interview(self) -> str:
        stored = self.notebook.profile()
        answers = {k: stored[k] for k in KEYS if k in stored}
        position = int(stored.get(POSITION, "0"))
        if position >= len(KEYS):  # done before: a new interview, answers kept until replaced
            position = 0
        self.interview = Interview(answers, position)
        load_names()
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
        try:
            stored = self.notebook.profile()
        except StoreError as err:
            self.failed(err, command=False)
            return None
        if OFFERED in stored or any(k in stored for k in KEYS):
            return None
        self.notebook.set_profile({OFFERED: "1"})
        return OFFER

    # -- what the model is told -------------------------------------------------------------

    def inform(self, prompter: Prompter) -> None:
        """What the coach knows of the user goes into every prompt from now on."""
        prompter.profile, prompter.about = self.profile, self.about
        prompter.notes, prompter.training = self.notes, self.training
        prompter.facts = self.fact_texts

    def about(self) -> str:
        """The interview's answers as the system prompt says them ("" before it)."""
        return render_profile(self.profile())

    def profile(self) -> dict[str, str]:
        """The interview's answers ({} while the notebook cannot be read)."""
        try:
            stored = self.notebook.profile()
        except StoreError as err:
            self.failed(err, command=False)
            return {}
        return {k: stored[k] for k in KEYS if stored.get(k)}

    def notes(self) -> str:
        """The facts for the system prompt ("" while the notebook cannot be read: the
        model answers all the same). They change only when the user asks."""
        return self._prompt(lambda: memory.prompt(self.notebook.facts()), "")

    def fact_texts(self) -> list[str]:
        """Every fact kept, oldest first ([] while the notebook cannot be read)."""
        return self._prompt(lambda: [f.text for f in self.notebook.facts()], [])

    def training(self) -> str:
        """A week of training for the system prompt: the last seven days' entries and
        the week's review against the plan. It changes with every logged set."""
        now = self.clock()
        since = now - workout_replies.SUMMARY_DAYS * 86400

        def read() -> str:
            recent = workout_replies.summary(self.notebook.workouts(since, limit=workout_replies.SUMMARY_ENTRIES),
                                             now)
            return " ".join(part for part in (recent, self.planner.week()) if part)
        return self._prompt(read, "")

    def _prompt(self, read: Callable[[], _T], failed: _T) -> _T:
        try:
            text = read()
        except StoreError as err:
            self.failed(err, command=False)
            return failed
        self._failing.discard("prompt")
        return text
