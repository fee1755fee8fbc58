"""A week proposed by a server model through structured output (a JSON schema:
Ollama's ``format``, OpenAI's ``response_format``), and checked before it is
trusted: exercises the log knows, numbers in bounds, the days the schedule
states, nothing the user's limits rule out. The template's week
(``training_plan.build``) is the model's starting point and the fallback: a
proposal that does not check, or none at all, leaves it standing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from assistant.core.errors import ConfigError, LlmError
from assistant.llm.grounding import body_parts
from assistant.skills import limits, training_plan
from assistant.skills.opinion import Structured
from assistant.skills.templates import exercises
from assistant.skills.training_plan import MAX_TARGETS, WEEKDAYS, BadPlan, TrainingPlan

MAX_TOKENS = 1200  # a week of up to seven sessions of a few exercises, as JSON


def schema() -> dict[str, Any]:
    """The plan's form, as ``training_plan.from_dict`` reads it; the exercises by name."""
    target = {
        "type": "object",
        "properties": {
            "exercise": {"enum": sorted(set(exercises().values()))},
            "sets": {"type": "integer", "minimum": 1, "maximum": training_plan.MAX_SETS},
            "reps": {"type": "integer", "minimum": 1, "maximum": training_plan.MAX_REPS},
            "seconds": {"type": "integer", "minimum": 1, "maximum": training_plan.MAX_SECONDS},
            "km": {"type": "number"},
            "rest_s": {"type": "integer", "minimum": 0, "maximum": training_plan.MAX_REST_S},
        },
        "required": ["exercise", "sets"],
    }
    day = {
        "type": "object",
        "properties": {"day": {"enum": list(WEEKDAYS)}, "session": {"type": "string"},
                       "targets": {"type": "array", "items": target, "minItems": 1, "maxItems": MAX_TARGETS}},
        "required": ["day", "session", "targets"],
    }
    return {
        "type": "object",
        "properties": {"kind": {"enum": ["strength", "running", "fitness", "mobility"]},
                       "level": {"enum": ["beginner", "experienced"]},
                       "days": {"type": "array", "items": day, "minItems": 1, "maxItems": 7}},
        "required": ["kind", "level", "days"],
    }


def messages(answers: Mapping[str, str], template: TrainingPlan) -> list[dict[str, str]]:
    days = ", ".join(WEEKDAYS[day] for day, _ in template.days)
    said = "\n".join(f"{key}: {value}" for key, value in answers.items() if value)
    draft = json.dumps({k: v for k, v in training_plan.as_dict(template).items() if k in ("kind", "level", "days")})
    return [
        {"role": "system", "content": (
            "You are a fitness coach writing one week of training as JSON. Train on exactly these days: "
            f"{days}. Each exercise has sets and either reps, seconds or km, and rest_s between sets. Fit the "
            "goal, the level and the time they have; leave out anything their injuries or limits rule out. "
            "Improve on this draft, keeping its form:\n" + draft)},
        {"role": "user", "content": said or "No answers: a general plan."},
    ]


def accept(reply: str, answers: Mapping[str, str], template: TrainingPlan,
           loads: Mapping[str, float] | None = None) -> TrainingPlan:
    """The plan ``reply`` proposes, checked (``BadPlan`` names what is wrong); its
    loads are the log's, as in a template's plan."""
    try:
        data = json.loads(reply)
    except ValueError:
        raise BadPlan(f"not JSON: {reply[:60]!r}") from None
    plan = training_plan.from_dict(data)
    if (plan.kind, plan.level) != (template.kind, template.level):  # the answers' goal and level, as read
        raise BadPlan(f"a plan for {plan.level} {plan.kind}, not {template.level} {template.kind}")
    fits = training_plan.exercises_in(training_plan.minutes_of(answers.get("schedule", "")))
    if crowded := next((s.name for _, s in plan.days if len(s.targets) > fits), None):
        raise BadPlan(f"{crowded}: more than the {fits} exercises the time allows")
    race = training_plan.distance_of(answers.get("goal", "")) if plan.kind == "running" else None
    longest = max((t.km or 0.0 for _, s in plan.days for t in s.targets), default=0.0)
    if race is not None and longest > race * training_plan.LONG_RUN_SHARE + 0.05:
        raise BadPlan(f"a {longest:g} km run toward a {race:g} km race")
    stated = tuple(day for day, _ in template.days)
    if tuple(day for day, _ in plan.days) != stated:
        named = ", ".join(WEEKDAYS[day] for day, _ in plan.days)
        raise BadPlan(f"trains on {named}, not the stated {', '.join(WEEKDAYS[day] for day in stated)}")
    for part in sorted(body_parts(answers.get("limits", ""))):
        for _, session in plan.days:
            if hit := next((t.exercise for t in session.targets if limits.ruled_out(part, t.exercise)), None):
                raise BadPlan(f"{hit} despite the {part}")
    return replace(training_plan.with_loads(plan, loads or {}, source="model"), left_out=template.left_out)


async def propose(llm: Structured, answers: Mapping[str, str], template: TrainingPlan,
                  loads: Mapping[str, float] | None = None) -> tuple[TrainingPlan | None, str]:
    """A server model's week and "", or None and why there is none."""
    try:
        reply = await llm.structured(messages(answers, template), schema(), max_tokens=MAX_TOKENS,
                                     servers_only=True)
    except (LlmError, ConfigError) as err:
        return None, f"no server model gave one: {err}"
    except TimeoutError:
        return None, "no server model gave one in time"
    try:
        return accept(reply, answers, template, loads), ""
    except BadPlan as err:
        return None, str(err)
