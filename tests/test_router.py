"""The skill router, table-driven: commands with their slots, and questions and
remarks (numbers and durations inside them included) that must reach the model."""

import pytest

from assistant.core.spoken import normalize
from assistant.skills.router import Control, StartSession, StartTimer, route

COMMANDS = [
    # one-off timers, digits and words
    ("Start a 30 second timer.", StartTimer(30)),
    ("Start a thirty second timer.", StartTimer(30)),
    ("Start at 30 second timer.", StartTimer(30)),  # how tiny.en hears "start a 30 second timer"
    ("Set a timer for two minutes.", StartTimer(120)),
    ("Set a timer for 2 minutes", StartTimer(120)),
    ("Timer for ninety seconds.", StartTimer(90)),
    ("Set a timer for a minute and a half.", StartTimer(90)),
    ("Set a timer for 1.5 min", StartTimer(90)),
    ("Set a timer for two and a half minutes.", StartTimer(150)),
    ("Start a timer for 2 minutes and 30 seconds.", StartTimer(150)),
    ("Set a 1:30 timer.", StartTimer(90)),
    ("Give me a 45 second countdown.", StartTimer(45)),
    ("Coach, start a 20 second timer.", StartTimer(20)),
    ("Hey coach, set a timer for five minutes please.", StartTimer(300)),
    ("Okay coach, can you start a timer for one minute?", StartTimer(60)),
    ("Could you set a timer for ten minutes?", StartTimer(600)),
    ("Please start a 15-second timer.", StartTimer(15)),
    ("Thirty second timer.", StartTimer(30)),
    ("A 3 minute timer for the eggs.", StartTimer(180, "eggs")),
    ("Set a timer for half a minute.", StartTimer(30)),
    ("Set a timer for an hour.", StartTimer(3600)),
    ("Time me for 60 seconds.", StartTimer(60)),
    ("Count down from 10 seconds.", StartTimer(10)),
    ("Countdown 20 seconds.", StartTimer(20)),
    ("Start the timer for 45 seconds.", StartTimer(45)),
    ("Set timer to 4 minutes.", StartTimer(240)),
    ("Set a timer for one hundred and twenty seconds.", StartTimer(120)),
    ("Set a 30s timer", StartTimer(30)),
    # exercise holds
    ("Plank for 45 seconds.", StartTimer(45, "plank")),
    ("Plank for forty-five seconds.", StartTimer(45, "plank")),
    ("Plank for a minute.", StartTimer(60, "plank")),
    ("Side plank for 30 seconds.", StartTimer(30, "side plank")),
    ("Wall sit for two minutes.", StartTimer(120, "wall sit")),
    ("Rest for 90 seconds.", StartTimer(90, "rest")),
    ("Rest 60 seconds.", StartTimer(60, "rest")),
    ("Let's plank for a minute and a half.", StartTimer(90, "plank")),
    ("Hold for 30 seconds.", StartTimer(30, "hold")),
    ("Stretch for five minutes.", StartTimer(300, "stretch")),
    ("Dead hang for 20 seconds.", StartTimer(20, "dead hang")),
    # reminders
    ("Remind me in ten minutes to drink water.", StartTimer(600, "reminder", "drink water")),
    ("Remind me in 10 minutes to drink water.", StartTimer(600, "reminder", "drink water")),
    ("Remind me to stretch in 20 minutes.", StartTimer(1200, "reminder", "stretch")),
    ("In five minutes remind me to check the oven.", StartTimer(300, "reminder", "check the oven")),
    ("Remind me in 2 minutes.", StartTimer(120, "reminder")),
    # interval sessions
    ("Four rounds of 30 seconds on and 15 off.", StartSession(4, 30, 15)),
    ("4 rounds of 30 seconds on and 15 off.", StartSession(4, 30, 15)),
    ("4 rounds of 30 seconds on in 15 off.", StartSession(4, 30, 15)),  # how tiny.en hears it
    ("Four rounds of thirty seconds on and fifteen off.", StartSession(4, 30, 15)),
    ("Do 5 rounds of 40 seconds on, 20 seconds off.", StartSession(5, 40, 20)),
    ("Three sets of 45 seconds with a minute rest.", StartSession(3, 45, 60)),
    ("3 sets of 45 seconds with a minute rest.", StartSession(3, 45, 60)),
    ("Three sets of forty five seconds with a minute rest.", StartSession(3, 45, 60)),
    ("Six rounds of one minute on, 30 seconds rest.", StartSession(6, 60, 30)),
    ("30 on 15 off for 4 rounds.", StartSession(4, 30, 15)),
    ("30 seconds on, 15 seconds off, 8 rounds.", StartSession(8, 30, 15)),
    ("4 x 30 seconds on 15 off.", StartSession(4, 30, 15)),
    ("Start 10 rounds of 20 seconds on and 40 seconds off.", StartSession(10, 20, 40)),
    ("3 rounds of 5 seconds on and 3 off.", StartSession(3, 5, 3)),
    ("Three rounds of one minute.", StartSession(3, 60, 0)),
    ("Tabata.", StartSession(8, 20, 10, "tabata")),
    ("Start a tabata.", StartSession(8, 20, 10, "tabata")),
    ("Let's do a tabata workout.", StartSession(8, 20, 10, "tabata")),
    ("Tabata for 4 rounds.", StartSession(4, 20, 10, "tabata")),
    ("Every minute on the minute for 10 minutes.", StartSession(10, 60, 0, "emom")),
    ("Every minute on the minute for ten minutes.", StartSession(10, 60, 0, "emom")),
    ("Start an EMOM for 12 minutes.", StartSession(12, 60, 0, "emom")),
    ("10 minute EMOM.", StartSession(10, 60, 0, "emom")),
    ("Every 2 minutes for 10 minutes.", StartSession(5, 120, 0, "emom")),
    # control
    ("Pause.", Control("pause")),
    ("Pause the timer.", Control("pause")),
    ("Coach, pause.", Control("pause")),
    ("Resume.", Control("resume")),
    ("Continue the timer.", Control("resume")),
    ("Keep going.", Control("resume")),
    ("Stop.", Control("stop")),
    ("Stop the timer.", Control("stop")),
    ("Cancel the timer.", Control("stop")),
    ("Cancel that.", Control("stop")),
    ("Skip the rest.", Control("skip")),
    ("Skip this round.", Control("skip")),
    ("Next round.", Control("skip")),
    ("How much time is left?", Control("remaining")),
    ("How much time left?", Control("remaining")),
    ("How many seconds are left?", Control("remaining")),
    ("How long is left on the timer?", Control("remaining")),
    ("How long to go?", Control("remaining")),
    ("Time left?", Control("remaining")),
    ("How much longer?", Control("remaining")),
]

TO_THE_MODEL = [
    "How long should I rest between sets?",
    "Is a 30 second plank enough?",
    "What's a good interval workout?",
    "How many rounds of tabata should I do?",
    "Should I do four rounds of 30 seconds on and 15 off?",
    "I did a 30 second plank yesterday.",
    "My timer app broke.",
    "Is three sets of ten squats enough for a beginner?",
    "What should I eat after a hard workout, and when?",
    "I ran for thirty minutes this morning.",
    "How long should I hold a plank?",
    "Why is tabata twenty seconds on and ten off?",
    "Can I plank for two minutes as a beginner?",
    "What is every minute on the minute training?",
    "How do I stop my knees from hurting?",
    "I want to rest more between sets.",
    "Give me three tips to improve my squat form.",
    "Tell me about intervals.",
    "Is it okay to rest for 90 seconds between sets?",
    "What's the best timer for running?",
    "Set goals for me for the next two weeks.",
    "My gym has a 45 minute class at 6.",
    "Should I stretch for five minutes before running?",
    "I can only hold a plank for 20 seconds.",
    "How many calories does 10 minutes of jumping rope burn?",
    "Remind me why rest days matter.",
    "What did I do last time?",
    "Hello coach, how are you?",
    "Thanks, coach.",
    "",
]


@pytest.mark.parametrize(("said", "expected"), COMMANDS)
def test_commands_with_their_slots(said, expected):
    assert route(said) == expected


@pytest.mark.parametrize("said", TO_THE_MODEL)
def test_questions_and_remarks_go_to_the_model(said):
    assert route(said) is None


def test_every_action_of_the_grammar_is_in_the_table():
    """A new control word or command kind cannot go untested here."""
    import typing

    from assistant.skills.router import Action

    said = {c.action for _, c in COMMANDS if isinstance(c, Control)}
    assert said == set(typing.get_args(Action))
    assert {type(c) for _, c in COMMANDS if c is not None} == {StartTimer, StartSession, Control}


@pytest.mark.parametrize(("said", "expected"), [
    ("ninety seconds", "90 seconds"),
    ("a minute and a half", "1.5 minute"),
    ("two and a half minutes", "2.5 minutes"),
    ("1.5 min", "1.5 min"),
    ("forty-five seconds", "45 seconds"),
    ("one hundred and twenty", "120"),
    ("twenty one", "21"),
    ("1:30", "90 seconds"),
])
def test_numbers_as_digits_or_words(said, expected):
    assert normalize(said) == expected


def test_out_of_range_durations_are_not_commands():
    assert route("Start a 0 second timer.") is None
    assert route("Set a timer for 30 hours.") is None
    assert route("Do 500 rounds of 30 seconds on and 10 off.") is None


@pytest.mark.parametrize(("heard", "kept"), [
    ("Set a timer for 2 minutes. Set a timer for 2", "Set a timer for 2 minutes."),
    ("Start at 30 second timer. Start at 30 second timer.", "Start at 30 second timer."),
    ("10 minute in mom 10 minute in mom 10 minute in", "10 minute in mom"),
    ("How much time is left?", "How much time is left?"),
    ("Three, two, one, go.", "Three, two, one, go."),
    ("Coach, what's my plan for the week? Coach, what", "Coach, what's my plan for the week?"),  # "what" cut short
    ("I ran. I ran far", "I ran. I ran far"),
])
def test_a_transcript_said_again_is_kept_once(heard, kept):
    from assistant.speech.whisper import unrepeat

    assert unrepeat(heard) == kept
