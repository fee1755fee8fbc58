"""A session of the plan led by voice (``led_session``, ``planning.Leader``):
each set announced, "done", "done, eight", "only six", "that was hard" log it
with its actual reps and start the planned rest, whose end says the next set;
"skip this one", "how many sets left?", "repeat", "finish" work at any point;
a restart goes on at the same exercise and set; a question between sets is
not the session's."""

from datetime import datetime

import pytest
from test_seams import Beeps, Kept

from assistant.core.bus import Bus
from assistant.core.config import TrainingConfig, parse_settings
from assistant.core.errors import ConfigError, StoreError
from assistant.core.events import EventName, SpeechDetected
from assistant.skills import led_session, understanding
from assistant.skills.coaching import Coaching
from assistant.skills.led_session import Lead, SetDone, heard
from assistant.skills.notebook import Notebook
from assistant.skills import training_plan
from assistant.skills.planning import NO_PLAN, UNAVAILABLE, Leader
from assistant.skills.progression import next_target
from assistant.skills.timers import TimerService
from assistant.skills.training_plan import Session, Target
from assistant.skills.understanding import StartWorkout, understand

MONDAY = datetime(2026, 12, 7, 9, 0).timestamp()
TUESDAY = MONDAY + 86400
LEGS = Session("legs", (Target("squat", 2, 8, load_kg=60.0, rest_s=90), Target("plank", 1, seconds=30)))


@pytest.mark.parametrize(("text", "step"), [
    ("Done.", ("done", None, "")),
    ("Done, eight.", ("done", 8, "")),
    ("Only six.", ("done", 6, "")),
    ("I only got 5 reps.", ("done", 5, "")),
    ("Ten.", ("done", 10, "")),
    ("That was hard.", ("done", None, "hard")),
    ("That felt easy.", ("done", None, "easy")),
    ("Skip this one.", ("skip", None, "")),
    ("Swap it.", ("skip", None, "")),
    ("How many sets left?", ("left", None, "")),
    ("Repeat that.", ("repeat", None, "")),
    ("Finish the workout.", ("finish", None, "")),
    ("I'm done for today.", ("finish", None, "")),
    ("Just five this time.", ("done", 5, "")),
    ("Did all eight.", ("done", 8, "")),
    ("Got all of them.", ("done", None, "")),
    ("Ugh, that was brutal.", ("done", None, "hard")),
    ("That one felt light.", ("done", None, "easy")),
    ("Can we swap it?", ("skip", None, "")),
    ("Next exercise, please.", ("repeat", None, "")),  # after a last set the session is on it: say it
    ("Move on to the next exercise.", ("skip", None, "")),
    ("How many more sets?", ("left", None, "")),
    ("Come again?", ("repeat", None, "")),
    ("Said done.", ("done", None, "")),  # tiny.en's "set done"
    ("How many cents left?", ("left", None, "")),
    ("And done for today.", ("finish", None, "")),
])
def test_what_is_said_to_a_led_session(text, step):
    assert heard(text) == step


@pytest.mark.parametrize("text", ["How many squats should I do?", "Is my form okay?", "Set a timer for 2 minutes.",
                                  "That was a thousand reps.", "My knee hurts.", "Done?", "Finished?", "Got it.",
                                  "It was fine.", "Done with my question, how do I squat?",
                                  "Is it bad that I only did six?", "Ugh, my knee.", "So what's next after this plan?",
                                  "Done for today?", "Skip this one?", "Finish?"])
def test_anything_else_is_not_the_sessions(text):
    assert heard(text) is None


def test_a_set_reported_is_never_heard_again_as_a_command():
    assert not understanding.missed("Done, eight.") and understanding.missed("Pause work up.")


def test_a_session_goes_set_by_set_and_reads_back_as_it_stood():
    lead = Lead(LEGS, "2026-12-07")
    assert lead.announce() == "Squat, set 1 of 2: 8 reps at 60 kilos. Say done after the set."
    done, rest = lead.record(None, "")
    assert (done.reps, done.load_kg, rest) == (8, 60.0, 90) and lead.set_no == 2
    assert lead.left() == "1 set of squat left, then 1 more exercise."
    again = led_session.from_dict(lead.as_dict())
    assert again == lead
    assert again.record(6, "hard")[1] == 90  # the rest before the next exercise
    assert again.announce() == "Plank: 30 seconds. Say done after the set."
    assert again.record(None, "")[1] == 0 and again.finished
    assert again.summary() == "Workout done: 3 sets of legs. 1 set felt hard. Well done."


def said(text: str, turn_id: int = 1, end_s: float = 0.0) -> SpeechDetected:
    return SpeechDetected(turn_id, text, "always", 1.0, 0.0, 1.0, end_s=end_s)


def leading(tmp_path, clock=MONDAY):
    bus = Bus()
    events: list = []
    bus.observe(lambda at, e: events.append(e))
    notebook = Notebook(tmp_path / "h.sqlite3")
    coaching = Coaching(bus, notebook, clock=lambda: clock)
    timers = TimerService(bus, Beeps(), Kept(22_050), None, wall=False)  # the stream clock: nothing sleeps
    return Leader(coaching.planner, coaching.log_quietly, coaching.failed, timers), coaching, events


def test_a_whole_session_by_voice_logs_every_set_and_rests_as_planned(tmp_path):
    leader, coaching, events = leading(tmp_path)
    coaching.planner.make({"goal": "get stronger", "schedule": "Mondays and Thursdays"})
    assert understand("Start today's workout.") == StartWorkout()
    assert leader.start().startswith("Full body A, 4 exercises. Goblet squat, set 1 of 3: 10 reps.")
    assert leader.hear(said("How many goblet squats should a beginner do?")) is None  # for the model
    assert leader.hear(said("Done.", 2, 10.0)) == "Set 1: 10 reps. Rest 1 minute 30 seconds."
    [rest] = [e for e in events if e.name == EventName.TIMER_STARTED]
    assert (rest.total_s, rest.label, rest.started_s) == (90, "set rest", 10.0)
    assert leader.timers.timers[rest.timer_id].plan.cues[-1].text == "Rest over. Goblet squat, set 2 of 3: 10 reps."
    assert leader.hear(said("Only eight.", 3, 50.0)) == "Set 2: 8 reps. Rest 1 minute 30 seconds."
    assert [e.name for e in events].count(EventName.TIMER_CANCELLED) == 1  # the first rest, cut short
    assert leader.hear(said("Skip this one.", 4)) == "Skipping goblet squat. Push-up, set 1 of 3: 8 reps. " \
                                                     "Say done after the set."
    assert leader.hear(said("How many sets left?", 5)) == "3 sets of push-up left, then 2 more exercises."
    assert leader.hear(said("Finish the workout.", 6)) == "Workout done: 2 sets of full body A. " \
                                                          "Skipped: goblet squat. Well done."
    logged = [(e.entry.exercise, e.entry.reps) for e in coaching.notebook.workouts()]
    assert logged == [("goblet squat", 10), ("goblet squat", 8)]
    assert leader.hear(said("Done.", 7)) is None and coaching.notebook.lead() is None  # no session now


def test_a_session_killed_mid_way_goes_on_at_the_same_set_after_a_restart(tmp_path):
    leader, coaching, _ = leading(tmp_path)
    coaching.planner.make({"goal": "get stronger", "schedule": "Mondays"})
    leader.start()
    leader.hear(said("Done, nine."))
    coaching.notebook.close()  # killed: nothing else is written

    again, _, _ = leading(tmp_path)
    assert again.restore() == "Picking up your workout where we stopped. Goblet squat, set 2 of 3: 10 reps. " \
                              "Say done after the set."
    assert again.hear(said("Done.")) == "Set 2: 10 reps. Rest 1 minute 30 seconds."
    tomorrow, _, _ = leading(tmp_path, clock=TUESDAY)  # a session is today's only
    assert tomorrow.restore() is None and tomorrow.notebook.lead() is None


def test_no_plan_or_a_rest_day_is_said_and_nothing_is_led(tmp_path):
    leader, coaching, _ = leading(tmp_path, clock=TUESDAY)
    assert leader.start() == NO_PLAN
    coaching.planner.make({"goal": "get stronger", "schedule": "Mondays and Thursdays"})
    assert leader.start() == "Today is a rest day in your plan. Your next session is Thursday."
    assert leader.lead is None and leader.hear(said("Done.")) is None


STEPS = TrainingConfig()


@pytest.mark.parametrize(("target", "reps", "expected", "said"), [
    (Target("squat", 3, 5, load_kg=60.0), [5, 5, 5], Target("squat", 3, 5, load_kg=65.0), "squat at 65 kilos"),
    (Target("bench press", 3, 5, load_kg=60.0), [5, 6, 5], Target("bench press", 3, 5, load_kg=62.5),
     "bench press at 62.5 kilos"),
    (Target("push-up", 3, 8), [8, 8, 9], Target("push-up", 3, 9), "push-up, 9 reps"),
    (Target("squat", 3, 5, load_kg=60.0), [5, 4, 5], Target("squat", 3, 5, load_kg=60.0, missed=1), ""),  # holds
    (Target("squat", 3, 5, load_kg=60.0, missed=1), [5, 3], Target("squat", 3, 5, load_kg=55.0),
     "squat down to 55 kilos"),  # missed twice running, two sets of three
    (Target("push-up", 3, 8, missed=1), [6, 6, 6], Target("push-up", 3, 7), "push-up down to 7 reps"),
    (Target("run", 1, km=3.0), [None], Target("run", 1, km=3.0), ""),  # a run grows by the plan, not here
])
def test_a_met_target_goes_up_a_missed_one_holds_then_goes_down(target, reps, expected, said):
    done = [SetDone(target.exercise, i + 1, n, target.seconds, target.load_kg) for i, n in enumerate(reps)]
    assert next_target(target, done, STEPS) == (expected, said)


def test_the_steps_come_from_the_config():
    big = TrainingConfig(upper_step_kg=5.0, lower_step_kg=10.0)
    done = [SetDone("squat", i, 5, None, 100.0) for i in (1, 2, 3)]
    assert next_target(Target("squat", 3, 5, load_kg=100.0), done, big)[0].load_kg == 110.0
    with pytest.raises(ConfigError, match="training.lower_step_kg: must be more than 0"):
        parse_settings({"training": {"lower_step_kg": 0}})


def test_a_session_ended_moves_its_targets_on_in_the_stored_plan_and_says_so(tmp_path):
    leader, coaching, _ = leading(tmp_path)
    coaching.planner.make({"goal": "get stronger", "schedule": "Mondays and Thursdays"})
    leader.start()
    for said_ in ("Done.", "Done.", "Done, eleven."):  # goblet squat: 3 sets of 10 met
        leader.hear(said(said_))
    leader.hear(said("Done."))  # push-ups: one set of three
    reply = leader.hear(said("Finish the workout."))
    assert reply.endswith("Next time: goblet squat, 11 reps.")
    targets = {t.exercise: t for t in coaching.planner.current().on(0).targets}
    assert (targets["goblet squat"].reps, targets["push-up"].missed) == (11, 1)


def test_each_step_is_kept_only_once_stored(tmp_path, monkeypatch):
    leader, coaching, events = leading(tmp_path)
    coaching.planner.make({"goal": "get stronger", "schedule": "Mondays"})
    leader.start()

    def locked(*args):
        raise StoreError("the notebook in h.sqlite3: database is locked")

    monkeypatch.setattr(coaching.notebook, "log", locked)
    assert leader.hear(said("Done.")) == UNAVAILABLE
    assert leader.lead.set_no == 1 and [e.source for e in events if e.name == EventName.ERROR_OCCURRED] == ["notebook"]
    monkeypatch.undo()
    assert leader.hear(said("Done.")) == "Set 1: 10 reps. Rest 1 minute 30 seconds."


def test_a_hold_without_rest_says_the_next_set_and_a_run_is_logged_with_its_distance(tmp_path):
    leader, coaching, _ = leading(tmp_path)
    coaching.planner.make({"goal": "be more flexible", "schedule": "every day, an hour"})
    leader.start()
    for _ in range(4):  # hip flexor and hamstring stretches, two sets each
        leader.hear(said("Done."))
    assert leader.hear(said("Done.")) == "Set 1: done. Child's pose, set 2 of 2: 45 seconds. Say done after the set."
    runner, running, _ = leading(tmp_path / "run")
    running.planner.make({"goal": "run a 5k", "schedule": "Mondays"})  # one day: the intervals
    running.notebook.set_plan(training_plan.as_dict(training_plan.TrainingPlan(
        "running", "beginner", ((0, Session("long easy run", (Target("run", 1, km=3.0),))),))))
    runner.start()
    assert runner.hear(said("Done.")).startswith("Set 1: done. Workout done")
    [entry] = [logged.entry for logged in running.notebook.workouts()]
    assert (entry.exercise, entry.distance, entry.distance_unit, entry.sets) == ("run", 3.0, "km", None)


@pytest.mark.parametrize("stored", [
    {"session": {"session": "legs", "targets": [{"exercise": "squat", "sets": 2, "reps": 8}]}, "day": "2026-12-07",
     "index": 0, "set_no": 1, "skipped": None, "done": [{"exercise": "squat", "reps": "ten"}]},
    {"session": {"session": "legs", "targets": [{"exercise": "squat", "sets": 2, "reps": 8}]}, "day": "2026-12-07",
     "index": 0, "set_no": 7},
    {"session": None, "index": True},
])
def test_a_stored_session_that_does_not_check_is_dropped_and_the_daemon_starts(tmp_path, stored):
    leader, coaching, _ = leading(tmp_path)
    coaching.notebook.set_lead(stored)
    assert leader.restore() is None and coaching.notebook.lead() is None


def test_a_stored_plan_or_session_that_is_not_json_is_dropped(tmp_path):
    leader, coaching, _ = leading(tmp_path)
    coaching.notebook.db.execute("INSERT INTO lead (id, at, lead) VALUES (1, 0, '{not json')")
    coaching.notebook.db.execute("INSERT INTO plan (id, at, plan) VALUES (1, 0, '{not json')")
    assert leader.restore() is None and leader.start() == NO_PLAN
