"""The whole chain of understanding (``understanding.understand``, what
``Assistant._skill`` asks before the model): questions and remarks reach the
model whichever skill's words they hold, commands reach their skill with their
slots, and bad numbers start nothing."""

import pytest
from helpers import ROOT
from test_coaching import NOT_MEMORY
from test_router import TO_THE_MODEL
from test_workouts import NOT_LOGGED

from assistant.core import spoken
from assistant.skills.memory import Forget, Remember
from assistant.skills.router import Control, StartSession, StartTimer
from assistant.skills.understanding import StartInterview, skill, understand
from assistant.skills.workouts import Entry, LogEntry, LogLast, Query, Undo

# Questions a skill answered, or stored as a command, before the chain was checked whole
# (issue 24's trial): every one is for the model.
STOLEN = [
    "How many push-ups should I be able to do at my age?",
    "I did 3 sets of bench, is that enough?",
    "Forget the diet, what about sleep?",
    "How many squats should I do to get stronger?",
    "How many rounds of tabata should I do?",
    "I just did 20 push-ups, what next?",  # neither logged nor half answered: the model takes it whole
    "How many sets of squats should a beginner do?",
    "Forget what I said, how do I stretch my calves?",
]
# In one skill's list of what it must leave alone, for another skill: a workout done today is logged
OTHER_SKILLS = {"Set a timer for 2 minutes.": "timers", "Remember that my left knee is sore.": "memory",
                "I ran for thirty minutes this morning.": "workouts"}
TO_THE_MODEL_ANYWHERE = STOLEN + [t for t in TO_THE_MODEL + NOT_MEMORY + NOT_LOGGED if t not in OTHER_SKILLS]


@pytest.mark.parametrize("said", TO_THE_MODEL_ANYWHERE)
def test_every_question_and_remark_reaches_the_model_through_the_whole_chain(said):
    assert understand(said) is None


@pytest.mark.parametrize(("said", "expected_skill"), OTHER_SKILLS.items())
def test_another_skills_command_in_a_skills_list_goes_to_that_skill(said, expected_skill):
    command = understand(said)
    assert command is not None and skill(command) == expected_skill


@pytest.mark.parametrize(("said", "expected"), [
    ("Ninety seconds rest.", StartTimer(90, "rest")),
    ("45 second plank.", StartTimer(45, "plank")),
    ("Give me two minutes rest.", StartTimer(120, "rest")),
    ("Set a timer for 1 min 30.", StartTimer(90)),
    ("Set a timer for 1:30.", StartTimer(90)),
    ("Log a 45 second plank.", LogEntry(Entry("plank", duration_s=45))),  # with a logging verb it is logged
    ("How many push-ups did I do today?", Query("count", "today", "push-up")),
    ("Forget that my knee is sore.", Forget("my knee is sore")),
    ("I have a bad knee.", Remember("i have a bad knee", asked=False)),
    ("Set up my coach.", StartInterview()),
    # misses of issue 24's trial, each the way a person says it in the gym
    ("How long have I got left?", Control("remaining")),
    ("Hold on, pause it.", Control("pause")),
    ("I ran 3 miles this morning.", LogEntry(Entry("run", distance=3, distance_unit="mi"))),
    ("Deadlift 140 for 3 reps.", LogEntry(Entry("deadlift", reps=3, weight=140))),
    ("Bench 80 kilos for 5.", LogEntry(Entry("bench press", reps=5, weight=80, weight_unit="kg"))),
    ("Take that back.", Undo()),
    ("I've got a bad knee.", Remember("i've got a bad knee", asked=False)),
])
def test_commands_reach_their_skill_with_their_slots(said, expected):
    assert understand(said) == expected


@pytest.mark.parametrize("said", [
    "", "   ", "💪🔥", "x" * 2000, "set a timer for " + "very " * 400 + "long",
    "Set a timer for minus five minutes.", "Set a timer for -5 minutes.", "-5 minutes timer",
    "Set a timer for 1e9 seconds.", "Set a timer for 10:99.", "Log a million reps of squats.",
    "Set a timer for 100000 hours.", "Log 3 sets of 10 squats at 5000 kilos.",
])
def test_bad_input_starts_nothing(said):
    """Nonsense numbers never start a timer or write the log: the model answers."""
    assert understand(said) is None


def test_the_understand_command_says_which_skill_and_slots_or_model_and_why():
    import json

    from helpers import run_cli

    timer = run_cli("understand", "--json", "Ninety seconds rest.")
    assert timer.code == 0
    said = json.loads(timer.stdout)
    assert said["skill"] == "timers" and said["intent"] == "StartTimer"
    assert said["slots"] == {"seconds": 90.0, "label": "rest", "reminder": ""}
    assert said["why"].startswith("template: StartTimer '")
    question = run_cli("understand", "How many squats should I do to get stronger?")
    assert question.code == 0 and question.stdout.startswith("model\n  why: no template")
    logged = run_cli("understand", "log 3 sets of 10 squats at 60 kilos")
    assert logged.stdout.startswith("workouts: LogEntry entry={'exercise': 'squat', 'sets': 3, 'reps': 10")


@pytest.mark.parametrize(("said", "expected"), [
    ("I squatted 100 kilos for 5 this morning.", Entry("squat", None, 5, 100.0, "kg")),
    ("Benched 225 for 8.", Entry("bench press", None, 8, 225.0)),
    ("Dead lifts, 3 by 5 at 140.", Entry("deadlift", 3, 5, 140.0)),
    ("Went for a 5k run.", Entry("run", distance=5.0, distance_unit="km")),
    ("Held a plank for a minute and a half.", Entry("plank", duration_s=90.0)),
    ("Add 3 sets of 12 lunges to my log.", Entry("lunge", 3, 12)),
    ("RDLs 3x10 60kg.", Entry("romanian deadlift", 3, 10, 60.0, "kg")),
])
def test_the_exercise_list_gives_one_name_for_every_way_of_saying_it(said, expected):
    assert understand(said) == LogEntry(expected)


def test_each_name_in_the_exercise_list_means_one_exercise():
    from collections import Counter

    import yaml

    from assistant.skills.understanding import exercises

    listed = yaml.safe_load((ROOT / "assistant/skills/sentences/exercises.yaml").read_text())["exercises"]
    aliases = Counter(alias for names in listed.values() for alias in names)
    assert [a for a, n in aliases.items() if n > 1] == [] and not set(aliases) & set(listed)
    assert len(listed) >= 250 and exercises()["squatted"] == "squat" and exercises()["squat"] == "squat"


@pytest.mark.parametrize(("said", "expected"), [
    ("Timer status.", Control("remaining")),
    ("Stop the 10 minute timer.", Control("stop")),
    ("How much time is left on my 5 minute timer?", Control("remaining")),
])
def test_home_assistants_timer_sentences_are_understood_too(said, expected):
    from assistant.skills.understanding import explain

    command, why = explain(said)
    assert command == expected and why.startswith("home-assistant-intents: Hass")


@pytest.mark.parametrize("said", ["Wait a second.", "Hold on a sec.", "One second.", "Give me a sec."])
def test_a_moment_asked_for_is_a_pause_never_a_one_second_timer(said):
    assert understand(said) == Control("pause")


@pytest.mark.parametrize(("first", "asked", "answer", "expected"), [
    ("Log squats.", "How many sets and reps?", "Three sets of ten at sixty kilos.",
     LogEntry(Entry("squat", 3, 10, 60.0, "kg"))),
    ("Log my deadlifts.", "How many sets and reps?", "5 by 5 at 140.", LogEntry(Entry("deadlift", 5, 5, 140.0))),
    ("Log a run.", "How far, or for how long?", "5k in 25 minutes.",
     LogEntry(Entry("run", distance=5.0, distance_unit="km", duration_s=1500.0))),
    ("Log my plank.", "For how long?", "Two minutes.", LogEntry(Entry("plank", duration_s=120.0))),
    ("Start a timer.", "For how long?", "Ninety seconds.", StartTimer(90.0)),
    ("Set a timer, please.", "For how long?", "A minute and a half.", StartTimer(90.0)),
])
def test_a_command_missing_what_it_needs_asks_once_and_the_answer_fills_it(first, asked, answer, expected):
    from assistant.skills.understanding import AskBack, Dialogue

    dialogue = Dialogue()
    question = dialogue.understand(first)
    assert isinstance(question, AskBack) and question.question == asked
    assert dialogue.understand(answer) == expected
    assert dialogue.asked is None


@pytest.mark.parametrize(("first", "then", "expected"), [
    ("Log squats.", "What should I eat after training?", None),  # a question: the model
    ("Start a timer.", "Actually, pause.", Control("pause")),  # another command: carried out as usual
    ("Log squats.", "Set a timer for 2 minutes.", StartTimer(120.0)),
])
def test_anything_else_after_a_question_asked_back_is_handled_as_usual(first, then, expected):
    from assistant.skills.understanding import Dialogue

    dialogue = Dialogue()
    dialogue.understand(first)
    assert dialogue.understand(then) == expected
    assert dialogue.understand("Three sets of ten.") is None  # the question no longer holds


@pytest.mark.parametrize(("heard", "expected", "swapped"), [
    ("Paws the timer.", Control("pause"), "'paws' as 'pause'"),
    ("Set a timber for two minutes.", StartTimer(120.0), "'timber' as 'timer'"),
    ("Start a tabatha.", StartSession(8, 20.0, 10.0, "tabata"), "'tabatha' as 'tabata'"),
    ("Deadless 120 for 5.", LogEntry(Entry("deadlift", None, 5, 120.0)), "'deadless' as 'deadlifts'"),
    ("Rest 2 men.", StartTimer(120.0, "rest"), "'men' as 'min'"),
    # an exercise's name misheard word by word: each word alone is a template word
    ("Caff raises, three sets of 20.", LogEntry(Entry("calf raise", 3, 20)), "'caff raises' as 'calf raises'"),
    ("Hit thrust, 4 sets of 12 and 80 kilos.", LogEntry(Entry("hip thrust", 4, 12, 80.0, "kg")),
     "'hit thrust' as 'hip thrust'"),
])
def test_a_misheard_command_word_is_matched_by_its_sound(heard, expected, swapped):
    from assistant.skills.understanding import explain

    command, why = explain(heard)
    assert command == expected and why.startswith(f"heard {swapped}; template: ")


@pytest.mark.parametrize(("heard", "not_logged_as"), [
    ("At set, squat 100 kg times 5.", "cossack squat"),  # "set squat" is no "side squat": "set" counts
    ("Hit the 10-chid ups.", "child's pose"),  # 0.91 alike: no name
])
def test_words_heard_near_an_exercise_name_are_not_taken_for_it(heard, not_logged_as):
    command = understand(heard)
    assert not (isinstance(command, LogEntry) and command.entry.exercise == not_logged_as)


@pytest.mark.parametrize("said", [
    "Is the tabatha protocol good for fat loss?",  # a question: no word is swapped for its sound
    "Paws and claws, that's my dog's name.",  # more than a command's share of unknown words
    "Should I paws the timer when I drink?",
])
def test_sounding_alike_never_turns_a_question_or_a_remark_into_a_command(said):
    assert understand(said) is None


# Found on a read of the templates: remarks and questions a template, a wildcard or a sound took for a command
NOT_COMMANDS = [
    "You forgot my knee.", "Forgot to stretch.", "Deleted that.", "Drop the weight.", "Drop and give me 20.",
    "I skipped 5k.", "I almost ran 5k.", "They ran 5k.", "I planned 2 minutes.", "I rested 90 seconds.",
    "90 seconds?", "A minute?", "I'm done?", "Wait?", "You remember my knee?", "3 sets of 10 squats?",
    "Would you run 5k?", "Will you run 5k", "Stop complaining about the timer.", "Stop worrying about the timer.",
    "Good to know, thanks.", "You should know better.", "FYI, I hate you.", "Set a timer for 5 minutes and tell me a joke.",
    "Set a timer for 5 minutes and remind me what day it is.", "3 sets of 10 squats, right?", "20 push-ups left.",
    "Wait a minute, that's not right.", "How many calories in a banana?", "Set a timer for 5 minutes, 10 minutes.",
    "I had 3 lunches today.",  # "had" is no log verb: "lunches" sounds like "lunges"
    "3 hip thrusters broke at the gym.", "My calf rose 3 times.", "I had 2 cups of coffee.",  # names by sound
    "I won't be running 5k today.", "I wasn't running 5k today.", "I want cycling 20k.", "Dad yoga 30 minutes.",
    "I have 2 sled dogs.", "I got 2 air bags at 50.", "I got 3 cable cars at 9.", "I'd like 3 sets of caff raises.",
]


@pytest.mark.parametrize("said", NOT_COMMANDS)
def test_a_remark_or_a_question_with_a_commands_words_is_no_command(said):
    assert understand(said) is None


@pytest.mark.parametrize(("said", "expected"), [
    ("Can you set a timer for 2 minutes?", StartTimer(120.0)),  # a request, though said as a question
    ("How much time is left?", Control("remaining")),
    ("Wait a minute.", Control("pause")),
    ("Pause it for a minute.", Control("pause")),
    ("An 8 minute tabata.", StartSession(16, 20.0, 10.0, "tabata")),
    ("Remind me in 5 minutes, please.", StartTimer(300.0, "reminder")),
    ("Remind me to do 5 squats in 5 minutes.", StartTimer(300.0, "reminder", "do 5 squats")),
    ("What's my total distance?", Query("distance", "all", "")),
    ("Swam one thousand meters.", LogEntry(Entry("swim", distance=1000.0, distance_unit="m"))),
])
def test_what_the_read_found_wrong_is_understood_as_meant(said, expected):
    assert understand(said) == expected


@pytest.mark.parametrize(("first", "answer"), [
    ("Log squats.", "At 60."),  # a weight without the count
    ("Log squats.", "10:99."),
    ("Log squats.", "10?"),
    ("Log a run.", "10."),  # a run is no count of reps
])
def test_an_answer_that_does_not_give_what_was_asked_logs_nothing(first, answer):
    from assistant.skills.understanding import Dialogue

    dialogue = Dialogue()
    dialogue.understand(first)
    assert dialogue.understand(answer) is None


@pytest.mark.parametrize(("text", "asked"), [
    ("hey what's happening with the stock market today", True),  # a question word after a word that opens
    ("my javascript says undefined is not a function, can you help me debug it", True),
    ("i literally can't do one push up, where do i even start", True),  # after a comma
    ("hiit how many times a week is fine", True),
    ("its like 32 degrees out and i have a run planned, any tips", True),
    ("Log 3 sets of 10 squats", False), ("Start a 90 second timer", False), ("I ran 5k this morning", False),
    ("thanks coach, good session", False), ("So tired today", False), ("Okay, pause", False),
])
def test_a_question_is_told_however_it_is_put(text, asked):
    """Put without a question mark, as speech often comes: the embedded coach says
    it cannot answer it offline rather than let the small model invent."""
    assert spoken.asks(text) is asked


@pytest.mark.parametrize(("heard", "expected"), [
    # how tiny.en writes a clock time said aloud ("two thirty", "zero forty-five", "three hundred")
    ("Timer for 230.", StartTimer(150)),
    ("Set timer 1 15.", StartTimer(75)),
    ("Timer 0.45.", StartTimer(45)),
    ("3-0-0 timer.", StartTimer(180)),
    ("Timer for 3-0-0.", StartTimer(180)),
    ("Intervals, 7 rounds, 230 work, 0-30 rest.", StartSession(7, 150, 30, "intervals")),
    ("I did a 215 plank.", LogEntry(Entry("plank", duration_s=135))),
    # "two" heard as "do", "three" as "free", before a unit
    ("Please do minute timer.", StartTimer(120)),
    ("Set a timer for free quarters of an hour.", StartTimer(2700)),  # once a one-hour timer named "free quarters"
    ("Free sets of 10 squats.", LogEntry(Entry("squat", sets=3, reps=10))),
])
def test_a_duration_heard_without_its_colon_or_its_number_is_understood(heard, expected):
    assert understand(heard) == expected


@pytest.mark.parametrize(("heard", "expected"), [
    ("Timer for 100.", StartTimer(100)),  # "a hundred"
    ("Set a timer for 120.", StartTimer(120)),  # as often "a hundred and twenty" as "one twenty"
    ("Timer 165.", StartTimer(165)),  # no clock has 65 seconds
    ("Deadlift 140 for 3.", LogEntry(Entry("deadlift", reps=3, weight=140))),  # a load, not a time
    ("Set a timer for 10:99.", None),
    ("3 sets of 5 bench press at 105, rest 3 minutes.", None),  # a load, never 1:05
    ("I want to do minutes of plank.", None),
])
def test_a_number_that_is_no_clock_time_stays_what_it_was(heard, expected):
    assert understand(heard) == expected


@pytest.mark.parametrize(("said", "expected"), [
    ("Can we redo the setup questions?", StartInterview()),  # a request put as a question
    ("Ask me the set of questions again.", StartInterview()),
    ("Start a timer name stretch for 5 minutes.", StartTimer(300, "stretch")),
    ("How far did I go in the bike yesterday?", Query("distance", "yesterday", "bike ride")),
    ("Save that work out.", LogLast()),
])
def test_a_request_put_as_a_question_or_with_a_word_misheard_is_understood(said, expected):
    assert understand(said) == expected
