"""The workout log's language, table-driven: logging phrasings with the entry
they store, questions about the log, near-misses tiny.en made, and questions and
remarks that must not log anything. Then the answers, from fixed entries at a
fixed time."""

from datetime import datetime

import pytest

from assistant.skills.router import route
from assistant.skills.workout_replies import answer, confirmation, describe, summary
from assistant.skills.workouts import (
    Entry,
    LogEntry,
    Logged,
    LogLast,
    Query,
    Undo,
    exercise_key,
    parse,
)

E = Entry
LOGGING = [
    # sets and reps
    ("Coach, log three sets of ten squats at sixty kilos.", E("squats", 3, 10, 60, "kg")),
    ("Log three sets of ten squats at sixty kilos.", E("squats", 3, 10, 60, "kg")),
    ("Log 3 sets of 10 squats at 60 kg.", E("squats", 3, 10, 60, "kg")),
    ("log 3 sets of 10 squats at 60kg", E("squats", 3, 10, 60, "kg")),
    ("Log 3 sets of 10 reps of squats at 60 kilograms.", E("squats", 3, 10, 60, "kg")),
    ("Log five sets of five deadlifts at a hundred kilos.", E("deadlifts", 5, 5, 100, "kg")),
    ("Log 4 sets of 8 bench press at 135 pounds.", E("bench press", 4, 8, 135, "lb")),
    ("Log 4 sets of 8 curls at 25 lbs.", E("curls", 4, 8, 25, "lb")),
    ("Record 3 sets of 12 lunges.", E("lunges", 3, 12)),
    ("I did 3 sets of 15 push-ups.", E("push-ups", 3, 15)),
    ("I just did four sets of twelve rows at forty kilos.", E("rows", 4, 12, 40, "kg")),
    ("Add 3 sets of 10 pull-ups.", E("pull-ups", 3, 10)),
    ("Log 3 x 10 squats at 60 kilos.", E("squats", 3, 10, 60, "kg")),
    ("Log 3x10 squats at 60 kg.", E("squats", 3, 10, 60, "kg")),
    ("Squats 3 by 10 at 60 kilos.", E("squats", 3, 10, 60, "kg")),
    ("Log squats, 3 sets of 10 at 60 kilos.", E("squats", 3, 10, 60, "kg")),
    ("Log bench press 5 by 5 at 80 kilos.", E("bench press", 5, 5, 80, "kg")),
    ("Log overhead press 3 x 8 at 40 kilos.", E("overhead press", 3, 8, 40, "kg")),
    ("Log 3 sets of 10 goblet squats with 20 kilos.", E("goblet squats", 3, 10, 20, "kg")),
    ("Log 5 sets of 3 deadlifts at 140.", E("deadlifts", 5, 3, 140)),
    ("Log 4 sets of squats.", E("squats", 4)),
    ("Finished 3 sets of 20 sit-ups.", E("sit-ups", 3, 20)),
    ("Log one set of 50 push-ups.", E("push-ups", 1, 50)),
    # single efforts
    ("I just did 20 push-ups.", E("push-ups", None, 20)),
    ("I just did twenty push-ups.", E("push-ups", None, 20)),
    ("Log 15 pull-ups.", E("pull-ups", None, 15)),
    ("Did 50 squats.", E("squats", None, 50)),
    ("I did 100 sit ups.", E("sit-ups", None, 100)),
    ("Log 30 burpees.", E("burpees", None, 30)),
    ("Twenty push-ups.", E("push-ups", None, 20)),
    ("Log 10 reps of deadlifts at 100 kilos.", E("deadlifts", None, 10, 100, "kg")),
    ("Log 100 burpees in 10 minutes.", E("burpees", None, 100, duration_s=600)),
    ("Log 12 chin ups.", E("chin-ups", None, 12)),
    ("I've done 40 lunges.", E("lunges", None, 40)),
    # distances
    ("Ran 5k in 27 minutes.", E("run", distance=5, distance_unit="km", duration_s=1620)),
    ("Ran five k in twenty seven minutes.", E("run", distance=5, distance_unit="km", duration_s=1620)),
    ("I ran 5 km.", E("run", distance=5, distance_unit="km")),
    ("I just ran 10 kilometers in 55 minutes.", E("run", distance=10, distance_unit="km", duration_s=3300)),
    ("Log a 10k run.", E("run", distance=10, distance_unit="km")),
    ("Log a 5 mile run in 45 minutes.", E("run", distance=5, distance_unit="mi", duration_s=2700)),
    ("Walked 2 miles.", E("walk", distance=2, distance_unit="mi")),
    ("I cycled 20 km in an hour.", E("bike ride", distance=20, distance_unit="km", duration_s=3600)),
    ("Swam 1500 meters in 40 minutes.", E("swim", distance=1500, distance_unit="m", duration_s=2400)),
    ("Rowed 2000 m.", E("row", distance=2000, distance_unit="m")),
    ("Log a 3 mile walk.", E("walk", distance=3, distance_unit="mi")),
    ("Jogged 3 km.", E("run", distance=3, distance_unit="km")),
    ("Hiked 12 km.", E("hike", distance=12, distance_unit="km")),
    ("Ran 21.1 km in 2 hours.", E("run", distance=21.1, distance_unit="km", duration_s=7200)),
    ("Log a run of 8 km.", E("run", distance=8, distance_unit="km")),
    # durations
    ("Add a 30 minute bike ride.", E("bike ride", duration_s=1800)),
    ("Add a thirty minute bike ride.", E("bike ride", duration_s=1800)),
    ("Log a 20 minute run.", E("run", duration_s=1200)),
    ("Log 45 minutes of yoga.", E("yoga", duration_s=2700)),
    ("I did yoga for 45 minutes.", E("yoga", duration_s=2700)),
    ("Log a plank for a minute.", E("plank", duration_s=60)),
    ("Log plank for one minute.", E("plank", duration_s=60)),
    ("I held a plank for 90 seconds.", None),  # "held": not a logging verb; goes to the model
    ("Planked for a minute.", E("plank", duration_s=60)),
    ("I ran for 30 minutes.", E("run", duration_s=1800)),
    ("Stretched for 10 minutes.", E("stretching", duration_s=600)),
    ("Log 20 minutes of stretching.", E("stretching", duration_s=1200)),
    ("Log an hour of swimming.", E("swim", duration_s=3600)),
    ("Did a 15 minute walk.", E("walk", duration_s=900)),
    # how tiny.en heard some of these (benchmarks/hotwords.py)
    ("Plug three sets of 10 quats at 60 kilos.", E("squats", 3, 10, 60, "kg")),
    ("lug three sets of 10 squats at 60 kilos.", E("squats", 3, 10, 60, "kg")),
    ("Coach, Wog3 sets of 10 squats at 60 kilos.", E("squats", 3, 10, 60, "kg")),
    ("Coach, wag 3 sets of 10 squats at 60 kilos.", E("squats", 3, 10, 60, "kg")),  # two beams, 30 s window
    ("Walk three sets of ten squats at sixty kilos.", E("squats", 3, 10, 60, "kg")),
    ("Log three sets of ten squats and sixty kilos.", E("squats", 3, 10, 60, "kg")),
    ("at a 30 minute bike ride.", E("bike ride", duration_s=1800)),
    ("Log 5 sets of 5 did lift at 100 kils.", E("deadlifts", 5, 5, 100, "kg")),
    ("log 5, sets of 5, dead lifts at 100 kilos,", E("deadlifts", 5, 5, 100, "kg")),
    ("long five sets and five deadlift at 100 kilos.", None),  # "long" for "log": too far to guess
    ("log, 5 sets and 5 deadlifts at 100 kilos", E("deadlifts", 5, 5, 100, "kg")),
]

OTHER = [
    ("Log that.", LogLast()),
    ("Log the session.", LogLast()),
    ("Log it.", LogLast()),
    ("Undo that.", Undo()),
    ("And do that.", Undo()),  # how tiny.en heard "undo that"
    ("Delete the last entry.", Undo()),
    ("Scratch that.", Undo()),
    ("What did I do today?", Query("list", "today")),
    ("What did I do yesterday?", Query("list", "yesterday")),
    ("What have I done this week?", Query("list", "this week")),
    ("What did I log last week?", Query("list", "last week")),
    ("What's in my log?", Query("list", "today")),
    ("How many push-ups this week?", Query("count", "this week", "push-ups")),
    ("How many push ups did I do today?", Query("count", "today", "push-ups")),
    ("How many squats have I done this month?", Query("count", "this month", "squats")),
    ("How many runs this week?", Query("count", "this week", "run")),
    ("How far did I run this week?", Query("distance", "this week", "run")),
    ("How many kilometers have I run this month?", Query("distance", "this month", "run")),
    ("When did I last run?", Query("last", "all", "run")),
    ("When was my last run?", Query("last", "all", "run")),
    ("When did I last do squats?", Query("last", "all", "squats")),
    ("When did I last go for a swim?", Query("last", "all", "swim")),
]

NOT_LOGGED = [
    "Is a 30 second plank enough?",
    "How many sets should I do?",
    "How many squats should I do to get stronger?",
    "What should I do today?",
    "Should I do three sets of ten or five sets of five?",
    "Can I run 5k in 27 minutes?",
    "I want to run 5k in 25 minutes.",
    "How do I squat 100 kilos?",
    "What is a good 10k time?",
    "Tell me about push-ups.",
    "I ran out of time.",
    "Log me in.",
    "How many times a week should I run?",
    "How many minutes should I rest?",
    "Set a timer for 2 minutes.",
    "Thank you.",
    "Walk me through a warm up.",
    "What did I tell you?",
    "When did I start?",
    "I'm tired today.",
    "Remember that my left knee is sore.",
    "Give me 20 squats.",
]


@pytest.mark.parametrize(("text", "entry"), LOGGING)
def test_logging_phrasings_store_the_entry_said(text, entry):
    command = parse(text)
    if entry is None:
        assert command is None
    else:
        assert command == LogEntry(entry), text


def test_every_kind_of_log_command_is_in_the_tables():
    """A new query kind or log command cannot go untested here."""
    import typing

    from assistant.skills.workouts import Query, Undo

    commands = [c for _, c in OTHER if c is not None]
    assert {type(c) for c in commands} >= {LogLast, Undo, Query}
    kinds = typing.get_args(typing.get_type_hints(Query)["kind"])
    templated_only = {"best", "progress"}  # the templates alone take records' questions (tests/test_records.py)
    assert {c.kind for c in commands if isinstance(c, Query)} | templated_only == set(kinds)
    assert {e.weight_unit for _, e in LOGGING if e is not None} >= {"kg", "lb"}


@pytest.mark.parametrize(("text", "command"), OTHER)
def test_log_that_undo_and_questions_about_the_log(text, command):
    assert parse(text) == command


@pytest.mark.parametrize("text", NOT_LOGGED)
def test_questions_and_remarks_log_nothing(text):
    assert not isinstance(parse(text), LogEntry | LogLast | Undo)


def test_a_bare_exercise_hold_stays_a_timer():
    """"Plank for a minute" was a timer before the log existed; with a logging verb
    ("log a plank for a minute") it is logged."""
    assert route("Plank for a minute.") is not None
    assert route("Log a plank for a minute.") is None


def test_out_of_range_values_are_refused():
    assert parse("Log 3 sets of 10 squats at 5000 kilos.") is None
    assert parse("Log 0 push-ups.") is None
    assert parse("Ran 5000 km.") is None


@pytest.mark.parametrize(("entry", "said"), [
    (E("squats", 3, 10, 60, "kg"), "Logged squats: 3 sets of 10 at 60 kilos."),
    (E("push-ups", None, 20), "Logged 20 push-ups."),
    (E("run", distance=5, distance_unit="km", duration_s=1620), "Logged run: 5 kilometers in 27 minutes."),
    (E("bike ride", duration_s=1800), "Logged bike ride: 30 minutes."),
    (E("deadlifts", 5, 3, 140), "Logged deadlifts: 5 sets of 3 at 140."),
    (E("walk", distance=1, distance_unit="mi"), "Logged walk: 1 mile."),
    (E("intervals", 4, duration_s=30), "Logged intervals: 4 rounds of 30 seconds."),
])
def test_the_confirmation_repeats_what_was_stored(entry, said):
    assert confirmation(entry) == said


def test_names_of_one_exercise_share_a_key():
    assert exercise_key("push-ups") == exercise_key("pushups") == exercise_key("Push up")
    assert exercise_key("running") == exercise_key("run") == exercise_key("runs")
    assert exercise_key("bench press") != exercise_key("bench")


NOW = datetime(2026, 11, 25, 18, 0).timestamp()  # a Wednesday evening
HOUR = 3600.0
ENTRIES = [
    Logged(1, NOW - 7 * 24 * HOUR, E("run", distance=8, distance_unit="km", duration_s=2700)),  # last Wednesday
    Logged(2, NOW - 30 * HOUR, E("squats", 3, 10, 60, "kg")),  # yesterday
    Logged(3, NOW - 29 * HOUR, E("push-ups", None, 20)),
    Logged(4, NOW - 2 * HOUR, E("push-ups", 3, 15)),  # today
    Logged(5, NOW - 1 * HOUR, E("run", distance=5, distance_unit="km", duration_s=1620)),
]


@pytest.mark.parametrize(("query", "reply"), [
    (Query("list", "today"), "Today you logged push-ups: 3 sets of 15; run: 5 kilometers in 27 minutes."),
    (Query("list", "yesterday"), "Yesterday you logged squats: 3 sets of 10 at 60 kilos; 20 push-ups."),
    (Query("list", "last week"), "Last week you logged run: 8 kilometers in 45 minutes."),
    (Query("count", "this week", "push-ups"), "65 push-ups this week."),
    (Query("count", "today", "pushups"), "45 pushups today."),
    (Query("count", "this week", "run"), "1 run this week."),
    (Query("count", "all", "burpees"), "No burpees logged."),
    (Query("distance", "all", "run"), "13 kilometers, in 2 runs."),
    (Query("last", "all", "squats"), "Your last entry for squats was yesterday: 3 sets of 10 at 60 kilos."),
    (Query("last", "all", "run"), "Your last entry for run was today: 5 kilometers in 27 minutes."),
    (Query("last", "all", "push-ups"), "Your last entry for push-ups was today: 3 sets of 15."),
    (Query("last", "all", "swim"), "I have no swim in your log."),
])
def test_answers_come_from_the_entries(query, reply):
    assert answer(query, ENTRIES, NOW) == reply


def test_nothing_logged_is_said_so():
    assert answer(Query("list", "today"), [], NOW) == "Nothing is logged today."


def test_the_models_summary_covers_the_last_week_only():
    text = summary(ENTRIES, NOW)
    assert "squats: 3 sets of 10 at 60 kilos" in text and "5 kilometers" in text
    assert "8 kilometers" not in text  # seven days ago to the hour: outside
    assert summary([], NOW) == ""
