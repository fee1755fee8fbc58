"""The plan skill: "make me a plan", "change my plan", "what's my workout
today?", "what's next this week?"; a plan made when the interview completes;
"start today's workout", its session led set by set. The week itself (built,
checked, said) is ``training_plan``, a led session ``led_session``; this is
where they meet the notebook, the timers and the clock."""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from assistant.core.config import TrainingConfig
from assistant.core.errors import StoreError
from assistant.core.events import SpeechDetected
from assistant.skills import led_session, plan_proposal, records, training_plan, week_review
from assistant.skills.led_session import Effort, Lead
from assistant.skills.notebook import UNAVAILABLE, Notebook
from assistant.skills.opinion import Structured
from assistant.skills.progression import progressed
from assistant.skills.router import timer
from assistant.skills.templates import MakePlan, ReviewWeek, ShowPlan
from assistant.skills.timers import TimerService
from assistant.skills.timing import REST_LABEL, spoken_duration
from assistant.skills.training_plan import WEEKDAYS, BadPlan, TrainingPlan, say_session, say_week
from assistant.skills.workouts import Entry

logger = logging.getLogger(__name__)

LOADS_DAYS = 90  # the log's last load of an exercise within this many days is its target
REVIEW_DAYS = 182  # "how was my week?" reads this much of the log (records, the streak of weeks)
NO_PLAN = "You have no plan yet. Say: make me a plan."


class Planner:
    """Raises StoreError when the notebook cannot be used (the caller says so)."""

    def __init__(self, notebook: Notebook, clock: Callable[[], float] = time.time):
        self.notebook = notebook
        self.clock = clock
        self._week: tuple[object, str] | None = None  # (what it was read from, the review): ``week``

    def answer(self, command: MakePlan | ShowPlan | ReviewWeek, answers: Mapping[str, str]) -> str:
        """The reply to ``command``; ``answers``: the interview's, for a new plan."""
        if isinstance(command, MakePlan):
            return self.make(answers)
        if isinstance(command, ReviewWeek):
            now = self.clock()
            return week_review.review(self.notebook.workouts(now - REVIEW_DAYS * 86400), self.current(), now)
        return self.show(command.when)

    def make(self, answers: Mapping[str, str]) -> str:
        """A week from ``answers`` (a general plan without them), stored."""
        return self._store(training_plan.build(answers, self.loads()), answers)

    async def propose(self, llm: Structured, answers: Mapping[str, str]) -> str:
        """After ``make``: the week a server model proposes, stored in place of the
        template's when it checks (``plan_proposal``) and the template's is still the
        one stored; what the coach says of the plan it keeps (the template's, with
        the reason logged, otherwise)."""
        loads = self.loads()
        template = training_plan.build(answers, loads)
        plan, why = await plan_proposal.propose(llm, answers, template, loads)
        if plan is not None and self.notebook.plan() != training_plan.as_dict(template):
            plan, why = None, "the plan changed while the model wrote it"
        if plan is None:
            logger.warning("plan: the model's proposal is not used (%s); the %s %s template is", why,
                           template.level, template.kind)
            return self._said(template, answers)
        self.notebook.set_plan(training_plan.as_dict(plan))
        return self._said(plan, answers)

    def _store(self, plan: TrainingPlan, answers: Mapping[str, str]) -> str:
        self.notebook.set_plan(training_plan.as_dict(plan))
        return self._said(plan, answers)

    @staticmethod
    def _said(plan: TrainingPlan, answers: Mapping[str, str]) -> str:
        tailor = "" if answers else " It is a general one: say set up my coach, and I'll tailor it to you."
        return training_plan.created(plan) + tailor

    def week(self) -> str:
        """The week's review for the model's context ("" before anything is planned or
        logged this week): what "how was my week?" says. Read again only when the
        log, the plan or the day has changed (it reads half a year of the log)."""
        now = self.clock()
        stored = self.notebook.plan()
        key = (self.notebook.version(), repr(stored), datetime.fromtimestamp(now).date())
        if self._week is not None and self._week[0] == key:
            return self._week[1]
        plan = self.current()
        entries = self.notebook.workouts(now - REVIEW_DAYS * 86400)
        if plan is None and not any(e.at >= week_review.monday(now) for e in entries):
            text = ""
        else:
            text = f"The week so far, as the coach would say it: {week_review.review(entries, plan, now)}"
        self._week = (key, text)
        return text

    def current(self) -> TrainingPlan | None:
        """The stored plan, or None (none yet, or one that no longer checks)."""
        try:
            stored = self.notebook.plan()
            return training_plan.from_dict(stored) if stored is not None else None
        except BadPlan as err:
            logger.warning("the stored plan is not used: %s", err)
            return None

    def show(self, when: str) -> str:
        plan = self.current()
        if plan is None:
            return NO_PLAN
        today = datetime.fromtimestamp(self.clock()).weekday()
        if when == "week":
            return say_week(plan)
        if when == "next":
            day, session = plan.next_after(today) or (today, None)
            return f"Next is {WEEKDAYS[day].capitalize()}. {say_session(session)}" if session else NO_PLAN
        day = today if when == "today" else (today + 1) % 7
        session = plan.on(day)
        if session is not None:
            return f"{'Today' if when == 'today' else 'Tomorrow'}: {say_session(session)}"
        following = plan.next_after(day)
        rest = f"{'Today' if when == 'today' else 'Tomorrow'} is a rest day."
        return f"{rest} Next is {WEEKDAYS[following[0]].capitalize()}, {following[1].name}." if following else rest

    def loads(self) -> dict[str, float]:
        """The last load in kilos the log holds for each exercise."""
        since = self.clock() - LOADS_DAYS * 86400
        loads = {}
        for logged in self.notebook.workouts(since):  # oldest first: the last one stays
            if (kilos := records.kilos(logged.entry)) is not None:
                loads[logged.entry.exercise] = round(kilos, 1)
        return loads


class Leader:
    """Leads today's session of the plan (``led_session``), set by set: its state
    in the notebook after every step (a restart goes on where it stopped), each
    set in the workout log, and after it a rest timer that says the next set when
    it ends. A step is kept only once it is stored: with the notebook locked the
    coach says so (``failed``) and the session stays where it was."""

    def __init__(self, planner: Planner, log: Callable[[Entry, SpeechDetected], str],
                 failed: Callable[[StoreError, int | None], None], timers: TimerService,
                 steps: TrainingConfig | None = None):
        """``log``: how a set goes into the workout log, saying only a record it
        sets (``Coaching.log_quietly``: "undo that" takes it back); ``failed``: a notebook error, once per outage
        (``Coaching.failed``); ``steps``: how the targets move on (``progression``)."""
        self.planner = planner
        self.notebook = planner.notebook
        self.log = log
        self.failed = failed
        self.timers = timers
        self.steps = steps or TrainingConfig()
        self.lead: Lead | None = None
        self._rest: int | None = None  # the rest timer running, by id

    def _today(self) -> str:
        return datetime.fromtimestamp(self.planner.clock()).date().isoformat()

    def restore(self) -> str | None:
        """After a restart: today's session goes on where it stopped, and this says so."""
        try:
            stored = self.notebook.lead()
            lead = led_session.from_dict(stored) if stored is not None else None
        except (StoreError, BadPlan) as err:  # the daemon starts all the same
            logger.warning("the led session is not resumed: %s", err)
            lead = None
        if lead is None or lead.finished or lead.day != self._today():
            with contextlib.suppress(StoreError):
                self.notebook.set_lead(None)
            return None
        self.lead = lead
        self._rest = next((t.id for t in self.timers.timers.values() if t.plan.label == REST_LABEL), None)
        return f"Picking up your workout where we stopped. {lead.announce()}"

    def start(self, turn_id: int | None = None) -> str:
        """"Start today's workout": the plan's session for today, from its first set."""
        try:
            plan = self.planner.current()
            if plan is None:
                return NO_PLAN
            today = datetime.fromtimestamp(self.planner.clock()).weekday()
            session = plan.on(today)
            if session is None:
                following = plan.next_after(today)
                later = f" Your next session is {WEEKDAYS[following[0]].capitalize()}." if following else ""
                return f"Today is a rest day in your plan.{later}"
            if self.lead is not None and not self.lead.finished and self.lead.session == session:
                return f"We're in the middle of it. {self.lead.announce()}"
            lead = Lead(session, self._today())
            self.notebook.set_lead(lead.as_dict())
        except StoreError as err:
            self.failed(err, turn_id)
            return UNAVAILABLE
        self.lead = lead
        self._cancel_rest()
        count = len(session.targets)
        return f"{session.name[:1].upper()}{session.name[1:]}, {count} exercise{'s' if count != 1 else ''}. " \
               f"{lead.announce()}"

    def hear(self, event: SpeechDetected) -> str | None:
        """The reply to what ``event`` says to the session led now; None when no
        session is led or the words are not for it (a question between sets)."""
        heard = led_session.heard(event.text) if self.lead is not None else None
        if self.lead is None or heard is None:
            return None
        step, reps, effort = heard
        if step == "left":
            return self.lead.left()
        if step == "repeat":
            return self.lead.announce()
        lead = copy.deepcopy(self.lead)  # kept once stored
        try:
            return self._step(lead, step, reps, effort, event)
        except StoreError as err:
            self.failed(err, event.utterance_id)
            return UNAVAILABLE

    def _step(self, lead: Lead, step: str, reps: int | None, effort: Effort, event: SpeechDetected) -> str:
        if step == "finish":
            return self._end(lead)
        if step == "skip":
            reply = f"Skipping {lead.skip()}."
        else:
            did, rest = lead.record(reps, effort)
            record = self.log(Entry(did.exercise, 1 if did.km is None else None, did.reps, did.load_kg,
                                    "kg" if did.load_kg else "", did.km, "km" if did.km is not None else "",
                                    did.seconds if did.reps is None else None), event)
            count = f"{did.reps} reps" if did.reps else "done"
            reply = f"Set {did.set_no}: {count}.{' ' + record if record else ''}"
            if rest and not lead.finished:
                return self._rest_then(lead, rest, reply, event)
        if lead.finished:
            return self._end(lead, reply if step == "done" else "")
        self.notebook.set_lead(lead.as_dict())
        self.lead = lead
        self._cancel_rest()
        return f"{reply} {lead.announce()}"

    def _rest_then(self, lead: Lead, rest: int, reply: str, event: SpeechDetected) -> str:
        """The rest after a set, as a timer whose end says the next set."""
        self.notebook.set_lead(lead.as_dict())
        self.lead = lead
        self._cancel_rest()
        start = event.end_s if not self.timers.wall and event.end_s else self.timers.now()
        command = timer(rest, REST_LABEL, lead.announce().removesuffix(f" {led_session.SAY_DONE}"))
        if command is not None:
            self._rest = self.timers.start(command, start, event.utterance_id, event.room).id
        return f"{reply} Rest {spoken_duration(rest)}."

    def _cancel_rest(self) -> None:
        if self._rest is not None:
            self.timers.cancel(self._rest)
            self._rest = None

    def _end(self, lead: Lead, before: str = "") -> str:
        """The session over: its summary, and what changes next time."""
        changes = self._progress(lead)
        self.notebook.set_lead(None)
        self.lead = None
        self._cancel_rest()
        next_time = f" Next time: {'; '.join(changes)}." if changes else ""
        return f"{before} {lead.summary()}{next_time}".strip()

    def _progress(self, lead: Lead) -> list[str]:
        """The plan's targets for this session moved on by what was done (``progression``)."""
        plan = self.planner.current()
        session = next((s for _, s in plan.days if s.name == lead.session.name), None) if plan else None
        if plan is None or session is None or not lead.done:
            return []
        moved, changes = progressed(plan, session, lead.done, self.steps)
        self.notebook.set_plan(training_plan.as_dict(moved))
        return changes
