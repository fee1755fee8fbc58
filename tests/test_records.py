"""Personal records from the workout log (``records``): noticed once when a set
beats one, answered from the log when asked, never by the model; a first entry
is no record."""

from datetime import datetime

import pytest
from test_coaching import heard, said

from assistant.core.bus import Bus
from assistant.skills import records, week_review
from assistant.skills.coaching import Coaching
from assistant.skills.notebook import Notebook
from assistant.skills.training_plan import build
from assistant.skills.understanding import ReviewWeek, understand
from assistant.skills.workouts import Entry, Logged, Query


def logged(*entries: Entry) -> list[Logged]:
    return [Logged(i, float(i), e) for i, e in enumerate(entries)]


@pytest.mark.parametrize(("before", "entry", "said_"), [
    ([], Entry("deadlift", 1, 5, 100.0, "kg"), ""),  # a first is no record
    ([Entry("deadlift", 1, 5, 100.0, "kg")], Entry("deadlift", 1, 3, 110.0, "kg"),
     "That's a new best deadlift: 110 kilos."),
    ([Entry("deadlift", 1, 5, 100.0, "kg")], Entry("deadlift", 1, 6, 100.0, "kg"),
     "That's a new best deadlift: 6 reps at 100 kilos."),
    ([Entry("deadlift", 1, 5, 100.0, "kg")], Entry("deadlift", 1, 8, 90.0, "kg"), ""),
    ([Entry("bench press", 1, 5, 100.0, "kg")], Entry("bench press", 1, 5, 225.0, "lb"),
     "That's a new best bench press: 225 pounds."),  # 102.06 kg: said as it was logged
    ([Entry("push-up", reps=20)], Entry("push-up", reps=25), "That's a new best push-up: 25 in a row."),
    ([Entry("run", distance=5, distance_unit="km", duration_s=1800)],
     Entry("run", distance=5, distance_unit="km", duration_s=1650),
     "That's your fastest run over 5 kilometers yet: 5:30 per kilometer."),
    ([Entry("run", distance=10, distance_unit="km", duration_s=3600), Entry("run", distance=1, distance_unit="km",
                                                                            duration_s=300)],
     Entry("run", distance=3.1, distance_unit="mi", duration_s=1500),  # 4.99 km: the first 5k, a quicker pace
     ""),
    ([Entry("run", distance=5, distance_unit="km", duration_s=1500)],
     Entry("run", distance=5.2, distance_unit="km", duration_s=1500),  # the same distance, within 10 %
     "That's your fastest run over 5.2 kilometers yet: 4:48 per kilometer."),
    ([Entry("squat", 1, 5, 100.0, "kg")], Entry("deadlift", 1, 5, 120.0, "kg"), ""),  # another exercise
    ([Entry("squat", 1, 3, 110.0, "kg")], Entry("squat", 1, 8, 100.0, "kg"),  # 126.7 against 121
     "That's a new best squat: 8 reps at 100 kilos, an estimated one-rep max of 126.5 kilos."),
    ([Entry("squat", 1, 3, 110.0, "kg")], Entry("squat", 1, 6, 100.0, "kg"), ""),  # 120 against 121
    ([Entry("bench press", 1, 3, 225.0, "lb")], Entry("bench press", 1, 10, 195.0, "lb"),  # 260 against 247.5
     "That's a new best bench press: 10 reps at 195 pounds, an estimated one-rep max of 260 pounds."),
])
def test_a_new_best_is_said_once_and_a_first_entry_is_none(before, entry, said_):
    assert records.new_best(entry, logged(*before)) == said_


def test_a_first_day_is_no_record():
    today = [Logged(1, 100.0, Entry("push-up", reps=8))]
    assert records.new_best(Entry("push-up", reps=10), today, day_start=50.0) == ""  # set 2 beats set 1
    earlier = [Logged(0, 10.0, Entry("push-up", reps=9)), *today]
    assert records.new_best(Entry("push-up", reps=10), earlier, day_start=50.0) == \
        "That's a new best push-up: 10 in a row."


def test_the_best_is_read_from_the_log():
    found = records.best(logged(Entry("deadlift", 1, 5, 120.0, "kg"), Entry("deadlift", 1, 3, 130.0, "kg"),
                                Entry("deadlift", 1, 5, 130.0, "kg")), "deadlift")
    assert (found.kg, found.reps_at_kg) == (130.0, 5)
    assert records.said(found) == "Your best deadlift: 130 kilos for 5, an estimated one-rep max of 151.5 kilos."
    assert records.said(records.best([], "deadlift")) == "I have no deadlift in your log."


@pytest.mark.parametrize(("text", "query"), [
    ("What's my best deadlift?", Query("best", "all", "deadlift")),
    ("What's my personal record on bench?", Query("best", "all", "bench press")),
    ("What's my squat PR?", Query("best", "all", "squat")),
])
def test_asking_for_a_record_is_understood(text, query):
    assert understand(text) == query


@pytest.mark.parametrize("text", ["What's a good deadlift for my weight?", "Is 100 kilos a good bench?",
                                  "How do I set a new personal record?", "What's the best squat variation?"])
def test_a_question_about_records_in_general_goes_to_the_model(text):
    assert understand(text) is None


def test_a_record_is_said_as_it_is_logged_and_answered_from_the_log(tmp_path):
    now = [1_800_000_000.0]
    coaching = Coaching(Bus(), Notebook(tmp_path / "h.sqlite3"), clock=lambda: now[0])
    assert heard(coaching, said("Deadlift 130 for 5.")) == ("workouts", "Logged 5 deadlifts at 130.")
    now[0] += 2 * 86400  # two days later
    kind, reply = heard(coaching, said("Deadlift 140 for 3."))
    assert reply == "Logged 3 deadlifts at 140. That's a new best deadlift: 140."  # no unit said, none made up
    assert heard(coaching, said("What's my best deadlift?")) == (
        "workouts", "Your best deadlift: 140 for 3, an estimated one-rep max of 154.")
    heard(coaching, said("I held a plank for 2 minutes."))
    assert heard(coaching, said("What's my best plank?")) == ("workouts", "Your best plank: 2 minutes at your longest.")
    coaching.notebook.close()


THURSDAY = datetime(2026, 12, 10, 18, 0).timestamp()
DAY = 86400


def at(days_before: float, entry: Entry) -> Logged:
    return Logged(0, THURSDAY - days_before * DAY, entry)


def test_the_week_in_one_answer_counts_days_against_the_plan_sets_records_and_the_streak():
    plan = build({"goal": "get stronger", "schedule": "Mondays, Wednesdays and Fridays"})
    entries = [at(14, Entry("deadlift", 1, 5, 100.0, "kg")),  # two weeks ago
               at(8, Entry("deadlift", 1, 5, 110.0, "kg")),  # last week
               at(3, Entry("deadlift", 1, 5, 120.0, "kg")), at(3, Entry("deadlift", 1, 5, 120.0, "kg")),  # Monday
               at(3, Entry("push-up", 3, 10)), at(0.1, Entry("push-up", 3, 10))]  # Monday, today
    assert week_review.review(entries, plan, THURSDAY) == (
        "You trained on 2 days of the 2 your plan had by today (Monday full body A, Thursday): 6 sets of push-ups, "
        "2 sets of deadlifts. "
        "New bests: deadlift. That's 3 weeks in a row.")
    assert week_review.review(entries[:2], plan, THURSDAY) == \
        "Nothing is logged this week yet. Your plan had 2 sessions by today."


def test_how_was_my_week_is_answered_from_the_log_without_the_model(tmp_path):
    coaching = Coaching(Bus(), Notebook(tmp_path / "h.sqlite3"), clock=lambda: THURSDAY)
    assert understand("How was my week?") == ReviewWeek()
    coaching.notebook.log(Entry("squat", 3, 5, 100.0, "kg"), at=THURSDAY - 3600)
    coaching.notebook.log(Entry("run", distance=5.0, distance_unit="km"), at=THURSDAY - 7200)
    assert heard(coaching, said("How was my week?")) == ("plan", "You trained on 1 day: 3 sets of squats, 1 run.")
    coaching.notebook.close()


def test_the_weeks_review_is_in_the_models_training_notes_and_follows_the_log(tmp_path):
    notebook = Notebook(tmp_path / "h.sqlite3")
    coaching = Coaching(Bus(), notebook, clock=lambda: THURSDAY)
    assert coaching.training() == ""  # nothing planned, nothing logged
    coaching.planner.make({"goal": "get stronger", "schedule": "Mondays, Wednesdays and Fridays"})
    assert coaching.training() == "The week so far, as the coach would say it: Nothing is logged this week yet. " \
                                  "Your plan had 2 sessions by today."
    notebook.log(Entry("deadlift", 1, 5, 110.0, "kg"), at=THURSDAY - 8 * DAY)
    notebook.log(Entry("deadlift", 1, 5, 120.0, "kg"), at=THURSDAY - 3 * DAY)
    training = coaching.training()
    assert training.startswith("Training the user logged in the last week: ")
    assert training.endswith("The week so far, as the coach would say it: You trained on 1 day of the 2 your plan "
                             "had by today (Monday full body A): 1 set of deadlifts. New bests: deadlift. "
                             "That's 2 weeks in a row.")
    assert coaching.training() == training  # read once: the log and the plan are as they were
    notebook.unlog(notebook.workouts()[-1].id)
    assert "Nothing is logged this week yet." in coaching.training()
    notebook.close()


def test_how_an_exercise_has_gone_and_what_was_lifted_last_time_come_from_the_log(tmp_path):
    coaching = Coaching(Bus(), Notebook(tmp_path / "h.sqlite3"), clock=lambda: THURSDAY)
    for days_before, kilos in ((3, 90.0), (2, 95.0), (0.1, 100.0)):
        coaching.notebook.log(Entry("squat", 3, 5, kilos, "kg"), at=THURSDAY - days_before * DAY)
    assert heard(coaching, said("How has my squat gone this week?")) == (
        "workouts", "Squat this week: 3 days; your heaviest went from 90 kilos to 100 kilos.")
    assert heard(coaching, said("What did I lift on squats last time?")) == (
        "workouts", "Your last entry for squat was today: 3 sets of 5 at 100 kilos.")
    assert heard(coaching, said("How has my deadlift gone this month?")) == (
        "workouts", "I have no deadlift in your log this month.")
    assert understand("How is my knee doing?") is None
    coaching.notebook.close()


def test_a_record_counts_an_older_plural_name_and_passes_over_a_row_that_is_not_json(tmp_path):
    now = [THURSDAY - 5 * DAY]
    coaching = Coaching(Bus(), Notebook(tmp_path / "h.sqlite3"), clock=lambda: now[0])
    coaching.notebook.log(Entry("squats", 3, 5, 120.0, "kg"), at=now[0] - DAY)  # as an older version stored it
    coaching.notebook.db.execute("INSERT INTO workouts (at, entry) VALUES (?, '{broken')", (now[0] - DAY,))
    now[0] = THURSDAY
    assert heard(coaching, said("Squat 85 kilos for 5.")) == ("workouts", "Logged 5 squats at 85 kilos.")
    assert heard(coaching, said("Squat 125 kilos for 5.")) == (
        "workouts", "Logged 5 squats at 125 kilos. That's a new best squat: 125 kilos.")
    coaching.notebook.db.execute("INSERT INTO workouts (at, entry) VALUES (?, '{\"reps\": 5}')", (THURSDAY,))
    assert len(coaching.notebook.workouts()) == 3  # the two rows that are no entry are passed over
    assert heard(coaching, said("How was my week?"))[1].startswith("You trained on 1 day: 10 squats.")
    coaching.notebook.close()
