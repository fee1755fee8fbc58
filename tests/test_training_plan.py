"""A week of training from the interview (``training_plan``, ``planning``): the
stated days, sessions for the goal and level, exercises the limits allow, loads
from the log; stored, checked when read back, said on "what's my workout
today?", and never answering a question meant for the model."""

import json
from datetime import datetime

import pytest
from helpers import run_cli
from test_coaching import heard, said

from assistant.core.bus import Bus
from assistant.skills import limits, training_plan
from assistant.skills.coaching import Coaching
from assistant.skills.notebook import Notebook
from assistant.skills.planning import NO_PLAN, Planner
from assistant.skills.templates import MakePlan, ShowPlan, exercises
from assistant.skills.training_plan import BadPlan, Target, build, from_dict
from assistant.skills.understanding import understand
from assistant.skills.workouts import Entry

RUNNER = {"name": "Sam", "goal": "Run a 10k by June", "level": "I jog twice a week",
          "schedule": "Three days, 45 minutes", "limits": "A sore left knee", "style": "Firm"}
MONDAY = datetime(2026, 12, 7, 9, 0).timestamp()  # a Monday morning, local time


@pytest.mark.parametrize(("schedule", "days"), [
    ("Mondays, Wednesdays and Fridays", (0, 2, 4)),
    ("Tuesday and Saturday mornings", (1, 5)),
    ("Three days a week, 45 minutes", (0, 2, 4)),
    ("4 times a week", (0, 1, 3, 4)),
    ("twice a week", (0, 3)),  # "twice" is said as 2
    ("Weekends only", (5, 6)),
    ("Every day, 20 minutes", (0, 1, 2, 3, 4, 5, 6)),
    ("9 days a week", (0, 1, 2, 3, 4, 5, 6)),  # a week has seven
    ("Whenever I can", (0, 2, 4)),  # three, spread out
])
def test_the_plan_trains_on_the_days_the_schedule_states(schedule, days):
    assert tuple(day for day, _ in build({"schedule": schedule}).days) == days


@pytest.mark.parametrize(("goal", "level", "kind", "expected_level"), [
    ("Run a 10k by June", "I jog twice a week", "running", "beginner"),
    ("Finish a half marathon", "I've run for five years", "running", "experienced"),
    ("Get stronger", "Never lifted", "strength", "beginner"),
    ("Deadlift 200 kilos", "Three years of lifting", "strength", "experienced"),
    ("Touch my toes again", "I'm stiff", "fitness", "beginner"),
    ("Be more flexible", "", "mobility", "beginner"),
    ("Lose some weight", "Out of shape", "fitness", "beginner"),
])
def test_the_plan_is_chosen_for_the_goal_and_the_level(goal, level, kind, expected_level):
    plan = build({"goal": goal, "level": level})
    assert (plan.kind, plan.level) == (kind, expected_level)


def test_a_runner_gets_intervals_an_easy_run_and_the_long_run_last():
    plan = build(RUNNER)
    assert [session.name for _, session in plan.days] == ["run-walk intervals", "easy run", "long easy run"]
    assert plan.days[-1][1].targets == (Target("run", 1, km=3.0),)


def test_a_limit_rules_out_what_it_must_and_says_so():
    knee = build({"goal": "lose weight", "schedule": "three days, an hour", "limits": "my knees hurt"})
    names = {t.exercise for _, session in knee.days for t in session.targets}
    assert "jumping jack" not in names and "goblet squat" not in names and "glute bridge" in names
    assert "jumping jack (knee)" in knee.left_out and "left out goblet squat (knee), jumping jack (knee)." in training_plan.created(knee)
    back = build({"goal": "get stronger", "level": "years of lifting", "schedule": "4 days, an hour",
                  "limits": "a bad lower back"})
    names = {t.exercise for _, session in back.days for t in session.targets}
    assert not names & {"deadlift", "squat", "barbell row"} and {"hip thrust", "goblet squat"} <= names


def test_every_exercise_of_every_plan_is_one_the_log_knows():
    names = exercises()
    for sessions in training_plan._SESSIONS.values():
        for session in sessions:
            assert all(names.get(t.exercise) == t.exercise for t in session.targets), session
    for instead in limits.INSTEAD.values():
        assert all(names.get(name) == name for pair in instead.items() for name in pair if name), instead


def test_the_target_load_is_the_last_one_logged():
    plan = build({"goal": "get stronger", "level": "years of lifting"}, {"squat": 100.0})
    squats = [t for _, session in plan.days for t in session.targets if t.exercise == "squat"]
    assert squats and all(t.load_kg == 100.0 for t in squats)
    assert training_plan.say_target(squats[0]) == "squats, 4 sets of 5 at 100 kilos"


def test_a_plan_reads_back_as_it_was_stored():
    plan = build(RUNNER)
    assert from_dict(json.loads(json.dumps(training_plan.as_dict(plan)))) == plan


@pytest.mark.parametrize(("data", "culprit"), [
    ("a plan", "no list of days"),
    ({"days": [{"day": day, "targets": [{"exercise": "run", "km": 5}]} for day in training_plan.WEEKDAYS] * 2},
     "14 training days"),
    ({"days": [{"day": "monday", "targets": [{"exercise": "moonwalk", "reps": 10}]}]}, "unknown exercise: 'moonwalk'"),
    ({"days": [{"day": "funday", "targets": [{"exercise": "squat", "reps": 10}]}]}, "not a weekday: 'funday'"),
    ({"days": [{"day": "monday", "targets": [{"exercise": "squat", "sets": 3, "reps": 5000}]}]}, "reps 5000"),
    ({"days": [{"day": "monday", "targets": [{"exercise": "squat", "sets": 3}]}]}, "no reps, time or distance"),
    ({"days": [{"day": "monday", "targets": [{"exercise": "squat", "reps": 5, "load_kg": "heavy"}]}]}, "load_kg"),
])
def test_a_plan_that_is_not_one_of_ours_is_refused_naming_the_culprit(data, culprit):
    with pytest.raises(BadPlan, match=culprit):
        from_dict(data)


@pytest.mark.parametrize(("text", "command"), [
    ("Make me a plan.", MakePlan()),
    ("Can you make me a training plan?", MakePlan()),
    ("Change my plan.", MakePlan()),
    ("I need a new workout plan.", MakePlan()),
    ("What's my workout today?", ShowPlan("today")),
    ("What's today's workout?", ShowPlan("today")),
    ("What's my workout tomorrow?", ShowPlan("tomorrow")),
    ("What's next this week?", ShowPlan("next")),
    ("When is my next workout?", ShowPlan("next")),
    ("What's my plan for the week?", ShowPlan("week")),
])
def test_the_plans_phrases_are_understood(text, command):
    assert understand(text) == command


@pytest.mark.parametrize("text", [
    "Is my plan good?", "What's a good plan for a beginner?", "How should I plan my week?",
    "What should I do today?", "Should I change my plan if my knee hurts?", "What's a good workout for today?",
])
def test_a_question_about_plans_goes_to_the_model(text):
    assert understand(text) is None


def test_asked_for_today_tomorrow_next_and_the_week(tmp_path):
    notebook = Notebook(tmp_path / "h.sqlite3")
    planner = Planner(notebook, clock=lambda: MONDAY)
    assert planner.show("today") == NO_PLAN
    notebook.log(Entry("goblet squat", 3, 10, 35.0, "lb"), at=MONDAY - 86400)
    planner.make({"goal": "get stronger", "schedule": "Mondays and Thursdays"})
    assert planner.show("today").startswith("Today: Full body A: goblet squats, 3 sets of 10 at 15.9 kilos; push-ups")
    assert planner.show("tomorrow") == "Tomorrow is a rest day. Next is Thursday, full body B."
    assert planner.show("next").startswith("Next is Thursday. Full body B: romanian deadlifts, 3 sets of 10")
    assert planner.show("week") == "2 days this week: Monday full body A, Thursday full body B."
    notebook.close()


def test_the_plan_is_made_as_the_interview_completes_and_read_back_after_a_restart(tmp_path):
    path = tmp_path / "h.sqlite3"
    coaching = Coaching(Bus(), Notebook(path), clock=lambda: MONDAY)
    heard(coaching, said("Set up my coach."))
    for answer in RUNNER.values():
        reply = coaching.interviewing(said(answer))
    assert reply is not None and "Your plan is ready, beginner running. 3 days this week: Monday run-walk" in reply[1]
    coaching.notebook.close()
    again = Coaching(Bus(), Notebook(path), clock=lambda: MONDAY)
    assert heard(again, said("What's my workout today?")) == (
        "plan", "Today: Run-walk intervals: run, 8 sets of 1 minute, 1 minute 30 seconds rest.")
    kind, reply_text = heard(again, said("Make me a plan."))
    assert kind == "plan" and reply_text.startswith("Your plan is ready, beginner running.")
    again.notebook.close()


def test_a_plan_made_without_an_interview_is_a_general_one_and_says_so(tmp_path):
    coaching = Coaching(Bus(), Notebook(tmp_path / "h.sqlite3"), clock=lambda: MONDAY)
    kind, reply = heard(coaching, said("Make me a plan."))
    assert kind == "plan" and "beginner fitness" in reply and reply.endswith("I'll tailor it to you.")
    coaching.notebook.close()


def test_a_stored_plan_that_no_longer_checks_is_not_used(tmp_path):
    notebook = Notebook(tmp_path / "h.sqlite3")
    notebook.set_plan({"days": [{"day": "monday", "targets": [{"exercise": "moonwalk", "reps": 3}]}]})
    assert Planner(notebook, clock=lambda: MONDAY).show("today") == NO_PLAN
    notebook.close()


def test_assistant_plan_says_why_a_stored_plan_is_not_used(tmp_path):
    state = tmp_path / "state"
    notebook = Notebook(state / "assistant" / "history.sqlite3")
    notebook.set_plan({"days": [{"day": "monday", "targets": [{"exercise": "moonwalk", "reps": 3}]}]})
    notebook.close()
    shown = run_cli("plan", state=state)
    assert shown.code == 2 and shown.stderr.strip().splitlines() == [
        f"assistant: error: plan: the stored plan in {state / 'assistant' / 'history.sqlite3'} is not used: "
        "unknown exercise: 'moonwalk'; say 'make me a plan' to the coach for a new one"]


def test_the_target_load_is_the_last_one_done_even_when_an_older_one_was_logged_since(tmp_path):
    notebook = Notebook(tmp_path / "h.sqlite3")
    notebook.log(Entry("squat", 1, 5, 80.0, "kg"), at=MONDAY - 10 * 86400)
    notebook.log(Entry("squat", 1, 5, 100.0, "kg"), at=MONDAY - 3600)
    notebook.log(Entry("squat", 1, 5, 120.0, "kg"), at=MONDAY - 20 * 86400)  # an imported history
    assert Planner(notebook, clock=lambda: MONDAY).loads() == {"squat": 100.0}
    assert [e.entry.weight for e in notebook.workouts()] == [120.0, 80.0, 100.0]
    notebook.close()
