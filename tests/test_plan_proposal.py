"""The week from a server model (``plan_proposal``): asked through structured
output at the loopback Ollama server, checked before it is stored, and the
template's week whenever the proposal is not one (an unknown exercise, nine
training days, days not stated, what a limit rules out, garbage), with one
logged reason."""

import asyncio
import json
import logging

import pytest
from servers import asked, ollama

from assistant.core.bus import Bus
from assistant.core.config import EmbeddedConfig, EndpointConfig, LlmConfig
from assistant.core.events import SpeechDetected
from assistant.llm.service import LLMService
from assistant.skills import limits, plan_proposal, training_plan
from assistant.skills.coaching import Coaching
from assistant.skills.notebook import Notebook
from assistant.skills.training_plan import BadPlan
from assistant.skills.workouts import Entry

ANSWERS = {"goal": "Get stronger", "level": "Two years of lifting", "schedule": "Monday, Wednesday and Friday",
           "limits": "a bad knee"}
TEMPLATE = training_plan.build(ANSWERS)


def day(name: str, session: str, *targets: dict) -> dict:
    return {"day": name, "session": session, "targets": list(targets)}


SQUAT = {"exercise": "leg press", "sets": 3, "reps": 8, "rest_s": 120}
PRESS = {"exercise": "bench press", "sets": 3, "reps": 5, "rest_s": 180}
VALID = {"kind": "strength", "level": "experienced",
         "days": [day("monday", "push", PRESS), day("wednesday", "legs", SQUAT), day("friday", "push", PRESS)]}


def proposal(**changes) -> str:
    return json.dumps({**VALID, **changes})


def test_a_plan_that_checks_is_taken_with_the_logs_loads():
    plan = plan_proposal.accept(proposal(), ANSWERS, TEMPLATE, {"bench press": 80.0})
    assert plan.source == "model" and [(d, s.name) for d, s in plan.days] == [(0, "push"), (2, "legs"), (4, "push")]
    assert plan.on(0).targets[0] == training_plan.Target("bench press", 3, 5, load_kg=80.0, rest_s=180)
    assert plan.on(2).targets[0].load_kg is None  # nothing logged: the user picks the load


@pytest.mark.parametrize(("reply", "culprit"), [
    (proposal(days=[day("monday", "push", {**PRESS, "exercise": "zorch lift"})]), "unknown exercise: 'zorch lift'"),
    (proposal(days=[day(d, "push", PRESS) for d in training_plan.WEEKDAYS] + [day("monday", "x", PRESS)] * 2),
     "9 training days"),
    (proposal(days=[day("tuesday", "push", PRESS), day("thursday", "legs", SQUAT), day("saturday", "push", PRESS)]),
     "trains on tuesday, thursday, saturday, not the stated monday, wednesday, friday"),
    (proposal(days=[day("monday", "legs", {**SQUAT, "exercise": "jump lunge"}), day("wednesday", "legs", SQUAT),
                    day("friday", "push", PRESS)]), "jump lunge despite the knee"),
    (proposal(days=[day("monday", "push", {**PRESS, "reps": 500}), day("wednesday", "legs", SQUAT),
                    day("friday", "push", PRESS)]), "reps 500 is out of bounds"),
    ("Sure! Here is your plan: squats on Monday", "not JSON"),
    (proposal(level="beginner"), "a plan for beginner strength, not experienced strength"),
    (proposal(days=[day("monday", "push", *[{**PRESS, "exercise": name} for name in
                                            ("bench press", "barbell row", "deadlift", "pull-up", "plank")]),
                    day("wednesday", "legs", SQUAT), day("friday", "push", PRESS)]),
     "push: more than the 4 exercises the time allows"),
])
def test_a_plan_that_does_not_check_is_refused_naming_the_culprit(reply, culprit):
    with pytest.raises(BadPlan, match=culprit):
        plan_proposal.accept(reply, ANSWERS, TEMPLATE)


def test_a_limit_the_model_ignores_is_caught():
    knee = proposal(days=[day("monday", "legs", {**SQUAT, "exercise": "lunge"}), day("wednesday", "legs", SQUAT),
                          day("friday", "push", PRESS)])
    with pytest.raises(BadPlan, match="lunge despite the knee"):
        plan_proposal.accept(knee, ANSWERS, TEMPLATE)


def test_the_schema_names_every_exercise_the_log_knows_and_the_weekdays():
    schema = plan_proposal.schema()
    target = schema["properties"]["days"]["items"]["properties"]["targets"]["items"]
    assert "goblet squat" in target["properties"]["exercise"]["enum"]
    assert schema["properties"]["days"]["maxItems"] == 7
    assert schema["properties"]["days"]["items"]["properties"]["day"]["enum"] == list(training_plan.WEEKDAYS)


def llm(url: str) -> LLMService:
    return LLMService(config=LlmConfig(endpoints=(EndpointConfig(url=url, api="ollama-chat", models=("coach",)),),
                                       embedded=EmbeddedConfig(enabled=False)), bus=Bus())


def made(tmp_path, canned: str, caplog) -> tuple[str, dict, list[dict], list[str]]:
    """``make me a plan`` answered through a loopback server replying ``canned``."""
    notebook = Notebook(tmp_path / "h.sqlite3")
    notebook.set_profile(ANSWERS)
    notebook.log(Entry("bench press", 3, 5, 80.0, "kg"))
    coaching = Coaching(Bus(), notebook)
    with ollama(canned=canned, names=("coach",)) as server, caplog.at_level(logging.WARNING):
        caplog.clear()
        coaching.proposer = lambda: llm(server.url)
        kind, later = coaching.answer(SpeechDetected(1, "Make me a plan.", "always", 1.0, 0.0, 1.0),
                                      plan_proposal_command())
        assert kind == "plan" and callable(later)
        reply = asyncio.run(later())
        sent = asked(server)
    reasons = [r.getMessage() for r in caplog.records if r.name == "assistant.skills.planning"]
    return reply, notebook.plan(), sent, reasons


def plan_proposal_command():
    from assistant.skills.understanding import MakePlan, understand
    command = understand("Make me a plan.")
    assert command == MakePlan()
    return command


def test_the_models_plan_is_asked_with_the_schema_and_stored(tmp_path, caplog):
    reply, stored, sent, reasons = made(tmp_path, proposal(), caplog)
    assert len(sent) == 1 and sent[0]["format"] == plan_proposal.schema()
    assert "monday, wednesday, friday" in sent[0]["messages"][0]["content"]
    assert stored["source"] == "model" and [d["session"] for d in stored["days"]] == ["push", "legs", "push"]
    assert stored["days"][0]["targets"][0]["load_kg"] == 80.0
    assert reply.startswith("Your plan is ready, experienced strength. 3 days this week: Monday push,")
    assert reasons == []


@pytest.mark.parametrize(("canned", "why"), [
    (proposal(days=[day("monday", "push", {**PRESS, "exercise": "zorch lift"}), day("wednesday", "legs", SQUAT),
                    day("friday", "push", PRESS)]), "unknown exercise: 'zorch lift'"),
    (proposal(days=[day(d, "push", PRESS) for d in training_plan.WEEKDAYS] + [day("monday", "x", PRESS)] * 2),
     "9 training days"),
    ("{{{ not a plan", "not JSON"),
])
def test_a_proposal_that_does_not_check_leaves_the_template_with_one_reason(tmp_path, caplog, canned, why):
    reply, stored, sent, reasons = made(tmp_path, canned, caplog)
    assert len(sent) == 1
    assert stored["source"] == "template" and stored == training_plan.as_dict(
        training_plan.build(ANSWERS, {"bench press": 80.0}))
    assert reply.startswith("Your plan is ready, experienced strength.")
    assert len(reasons) == 1 and why in reasons[0] and "template" in reasons[0], reasons


def test_no_server_is_the_template_at_once_and_nothing_waits(tmp_path):
    notebook = Notebook(tmp_path / "h.sqlite3")
    coaching = Coaching(Bus(), notebook)  # no proposer: the embedded model only
    kind, reply = coaching.answer(SpeechDetected(1, "Make me a plan.", "always", 1.0, 0.0, 1.0),
                                  plan_proposal_command())
    assert kind == "plan" and isinstance(reply, str) and reply.startswith("Your plan is ready")
    assert notebook.plan()["source"] == "template"


@pytest.mark.parametrize("goal", ["Get stronger", "Run a 10k", "Get fit", "Be more flexible"])
@pytest.mark.parametrize("level", ["Never trained", "Five years of lifting"])
@pytest.mark.parametrize("limits", ["", "bad knee", "sore lower back", "shoulder pain", "weak wrists", "ankle sprain"])
def test_every_template_week_would_pass_the_check_a_proposal_gets(goal, level, limits):
    answers = {"goal": goal, "level": level, "schedule": "four days", "limits": limits}
    template = training_plan.build(answers)
    as_proposed = json.dumps(training_plan.as_dict(template))
    assert plan_proposal.accept(as_proposed, answers, template).days == template.days


def test_a_reply_cut_while_the_model_writes_keeps_the_template_then_the_models_plan(tmp_path):
    """The template's week is stored as the command is heard; the user speaking
    over the wait cuts the reply, not the proposal, which then replaces it."""
    notebook = Notebook(tmp_path / "h.sqlite3")
    notebook.set_profile(ANSWERS)
    coaching = Coaching(Bus(), notebook)

    async def cut_short(url: str) -> None:
        coaching.proposer = lambda: llm(url)
        kind, later = coaching.answer(SpeechDetected(1, "Make me a plan.", "always", 1.0, 0.0, 1.0),
                                      plan_proposal_command())
        assert notebook.plan()["source"] == "template"  # at once, before the model is asked
        reply = asyncio.ensure_future(later())
        await asyncio.sleep(0.3)
        reply.cancel()
        for _ in range(100):
            if notebook.plan()["source"] == "model":
                return
            await asyncio.sleep(0.1)

    with ollama("--first-token-delay", "1.0", canned=proposal(), names=("coach",)) as server:
        asyncio.run(cut_short(server.url))
    assert notebook.plan()["source"] == "model"


def test_a_skills_reply_that_waits_ends_once_and_is_never_taken_back():
    async def turns() -> tuple[list, bool]:
        service = LLMService(config=LlmConfig(embedded=EmbeddedConfig(enabled=False)), bus=Bus())
        seen: list = []
        service.bus.observe(lambda at, e: seen.append(e))
        service.initialize()
        release = asyncio.Event()

        async def plan() -> str:
            await release.wait()
            return "Your plan is ready."

        service.skill = lambda event: ("plan", plan)
        worker = asyncio.create_task(service.run())
        service.bus.emit(SpeechDetected(1, "Make me a plan.", "always", 1.0, 0.0, 1.0))
        await asyncio.sleep(0.1)
        retracted = service.retract(1)  # the user went on speaking: the skill has acted all the same
        release.set()
        await service.join()
        worker.cancel()
        return [(e.name, e.text) for e in seen if e.name == "RESPONSE_GENERATED"], retracted

    generated, retracted = asyncio.run(turns())
    assert not retracted and generated == [("RESPONSE_GENERATED", "Your plan is ready.")]


@pytest.mark.parametrize(("part", "exercise"), [
    ("shoulder", "shoulder press"), ("shoulder", "arnold press"), ("shoulder", "dumbbell bench press"),
    ("shoulder", "incline bench press"), ("shoulder", "chin-up"), ("shoulder", "landmine press"),
    ("shoulder", "upright row"), ("wrist", "wrist curl"), ("wrist", "mountain climber"), ("wrist", "bear crawl"),
    ("wrist", "devil press"), ("wrist", "dumbbell bench press"), ("knee", "front squat"), ("knee", "hack squat"),
    ("knee", "bulgarian split squat"), ("knee", "step-up"), ("knee", "leg extension"), ("knee", "thruster"),
    ("knee", "jump lunge"), ("back", "front squat"), ("back", "zercher squat"), ("back", "t-bar row"),
    ("ankle", "box jump"), ("ankle", "jump rope"),
])
def test_what_a_model_might_swap_in_for_a_ruled_out_exercise_is_ruled_out_too(part, exercise):
    assert limits.ruled_out(part, exercise)


@pytest.mark.parametrize(("part", "exercise"), [
    ("shoulder", "leg press"), ("shoulder", "lat pulldown"), ("shoulder", "inverted row"), ("knee", "leg press"),
    ("knee", "glute bridge"), ("back", "goblet squat"), ("back", "dumbbell row"), ("wrist", "dead bug"),
    ("shoulder", "hamstring stretch"), ("ankle", "swim"),
])
def test_what_the_templates_put_in_their_place_is_allowed(part, exercise):
    assert not limits.ruled_out(part, exercise)


def test_a_long_run_beyond_what_the_race_allows_is_refused():
    answers = {"goal": "Run a 10k in June", "level": "I run twice a week", "schedule": "Tuesday and Saturday"}
    template = training_plan.build(answers)
    run = {"kind": "running", "level": "beginner", "days": [
        day("tuesday", "intervals", {"exercise": "run", "sets": 6, "seconds": 120, "rest_s": 90}),
        day("saturday", "long run", {"exercise": "run", "sets": 1, "km": 9})]}
    with pytest.raises(BadPlan, match="a 9 km run toward a 10 km race"):
        plan_proposal.accept(json.dumps(run), answers, template)
    run["days"][1]["targets"][0]["km"] = 6
    assert plan_proposal.accept(json.dumps(run), answers, template).on(5).targets[0].km == 6.0

