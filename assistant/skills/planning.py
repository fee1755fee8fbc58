"""The plan skill: "make me a plan", "change my plan", "what's my workout
today?", "what's next this week?"; a plan made when the interview completes.
The week itself (built, checked, said) is ``training_plan``; this is where it
meets the notebook and the clock."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from assistant.skills import training_plan
from assistant.skills.notebook import Notebook
from assistant.skills.templates import MakePlan, ShowPlan
from assistant.skills.training_plan import WEEKDAYS, BadPlan, TrainingPlan, say_session, say_week

logger = logging.getLogger(__name__)

LOADS_DAYS = 90  # the log's last load of an exercise within this many days is its target
LB = 0.45359237
NO_PLAN = "You have no plan yet. Say: make me a plan."


class Planner:
    """Raises StoreError when the notebook cannot be used (the caller says so)."""

    def __init__(self, notebook: Notebook, clock: Callable[[], float] = time.time):
        self.notebook = notebook
        self.clock = clock

    def answer(self, command: MakePlan | ShowPlan, answers: Mapping[str, str]) -> str:
        """The reply to ``command``; ``answers``: the interview's, for a new plan."""
        if isinstance(command, MakePlan):
            return self.make(answers)
        return self.show(command.when)

    def make(self, answers: Mapping[str, str]) -> str:
        """A week from ``answers`` (a general plan without them), stored."""
        plan = training_plan.build(answers, self.loads())
        self.notebook.set_plan(training_plan.as_dict(plan))
        tailor = "" if answers else " It is a general one: say set up my coach, and I'll tailor it to you."
        return training_plan.created(plan) + tailor

    def current(self) -> TrainingPlan | None:
        """The stored plan, or None (none yet, or one that no longer checks)."""
        stored = self.notebook.plan()
        if stored is None:
            return None
        try:
            return training_plan.from_dict(stored)
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
            entry = logged.entry
            if entry.weight:
                loads[entry.exercise] = round(entry.weight * (LB if entry.weight_unit == "lb" else 1.0), 1)
        return loads
