"""The next targets from what a led session did, as wger's routines and the
usual linear progressions do it: every set's reps met, the load goes up by the
exercise's step (a rep more without a load, five seconds more for a hold);
missed in two sessions running, it goes down a step; missed once, it holds.
Pure logic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from assistant.core.config import TrainingConfig
from assistant.skills.led_session import SetDone
from assistant.skills.training_plan import MAX_REPS, MAX_SECONDS, Session, Target, TrainingPlan

# Exercises whose load goes up by the lower body's (bigger) step: squats, hinges, lunges, presses of the legs.
LOWER_BODY = frozenset(("squat", "front squat", "goblet squat", "deadlift", "romanian deadlift", "leg press",
                        "hip thrust", "glute bridge", "lunge", "split squat", "bulgarian split squat", "calf raise",
                        "kettlebell swing", "step-up"))
CARDIO = frozenset(("run", "walk", "hike", "bike ride", "swim", "row"))
MISSES_TO_DROP = 2
HOLD_STEP_S = 5


def next_target(target: Target, sets: Sequence[SetDone], steps: TrainingConfig) -> tuple[Target, str]:
    """The target for next time after ``sets`` of it were done this time, and the
    change in words ("" when it holds or was not trained)."""
    if not sets or target.km is not None or target.exercise in CARDIO or target.reps is target.seconds is None:
        return target, ""  # a run or a walk grows by the plan, not set by set
    step = steps.lower_step_kg if target.exercise in LOWER_BODY else steps.upper_step_kg
    met = len(sets) >= target.sets and all(
        (s.reps or 0) >= target.reps if target.reps is not None else True for s in sets)
    if met:
        if target.load_kg:
            load = round(target.load_kg + step, 2)
            return replace(target, load_kg=load, missed=0), f"{target.exercise} at {load:g} kilos"
        if target.reps is not None and target.reps < MAX_REPS:
            return replace(target, reps=target.reps + 1, missed=0), f"{target.exercise}, {target.reps + 1} reps"
        if target.seconds is not None and target.reps is None and target.seconds + HOLD_STEP_S <= MAX_SECONDS:
            seconds = target.seconds + HOLD_STEP_S
            return replace(target, seconds=seconds, missed=0), f"{target.exercise}, {seconds} seconds"
        return replace(target, missed=0), ""
    missed = target.missed + 1
    if missed < MISSES_TO_DROP:
        return replace(target, missed=missed), ""
    if target.load_kg and target.load_kg > step:
        load = round(target.load_kg - step, 2)
        return replace(target, load_kg=load, missed=0), f"{target.exercise} down to {load:g} kilos"
    if target.reps is not None and target.reps > 1:
        return replace(target, reps=target.reps - 1, missed=0), f"{target.exercise} down to {target.reps - 1} reps"
    return replace(target, missed=0), ""


def progressed(plan: TrainingPlan, session: Session, done: Sequence[SetDone],
               steps: TrainingConfig) -> tuple[TrainingPlan, list[str]]:
    """``plan`` with the targets of ``session`` (on every day it comes) moved on
    by what was ``done``, and the changes in words."""
    changes: list[str] = []
    targets = []
    for target in session.targets:
        moved, change = next_target(target, [s for s in done if s.exercise == target.exercise], steps)
        targets.append(moved)
        if change:
            changes.append(change)
    after = Session(session.name, tuple(targets))
    days = tuple((day, after if s.name == session.name else s) for day, s in plan.days)
    return replace(plan, days=days), changes
