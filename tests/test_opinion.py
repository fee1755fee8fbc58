"""The model's second opinion (``opinion``): what looks like a command a template
missed, what the words heard must carry before a model's choice is carried out,
and the request itself, against the Ollama wire-format server on loopback
(a fixed reply, and the real model's) and against servers that are down."""

import asyncio
import json
import time

import pytest
from servers import asked, dead_url, ollama, silent_server

from assistant.core.bus import Bus
from assistant.core.config import EmbeddedConfig, EndpointConfig, LlmConfig
from assistant.core.events import SpeechDetected
from assistant.llm.service import LLMService
from assistant.skills import opinion
from assistant.skills.router import StartTimer
from assistant.skills.workouts import Entry, LogEntry

LOOKS_LIKE_A_COMMAND = ["Dead lifts 140 for 3, felt heavy.", "Wadded a squat 225 pounds for three.",
                        "I need 4 minutes of rest out.", "bench, take the key on for five reps."]
NOT_A_COMMAND = ["How many squats should I do?", "I did 3 sets of bench, is that enough?", "I'm tired.",
                 "My knee hurts when I squat.", "What's a good 5k time?", "Squats are hard.",
                 "I watched 2 movies last night and it was great fun to see them both with my friends and family",
                 # someone else's workout, another time's, or one that could be: nothing to log
                 "my friend ran 10k yesterday", "my old coach made us run 3 miles every day",
                 "ten years ago I could do 20 pull-ups", "the treadmill says 400 calories",
                 "bro the bench was packed, had to wait like 20 minutes", "I want to run 5k on Sunday",
                 "I ran 5k today is not very beginner."]  # tiny.en's "I ran 5k today, is that good for a beginner?"


@pytest.mark.parametrize("text", LOOKS_LIKE_A_COMMAND)
def test_a_number_with_an_exercise_or_a_timer_word_looks_like_a_command(text):
    assert opinion.looks_like_command(text)


@pytest.mark.parametrize("text", NOT_A_COMMAND)
def test_questions_remarks_and_long_talk_never_go_to_the_opinion(text):
    assert not opinion.looks_like_command(text)


def choice(**slots) -> str:
    return json.dumps(slots)


@pytest.mark.parametrize(("text", "reply", "command"), [
    ("Dead lifts 140 for 3, felt heavy.", choice(tool="log_workout", exercise="deadlift", reps=3, weight=140),
     LogEntry(Entry("deadlift", reps=3, weight=140))),
    ("Dead lifts 140 for 3 kilos heavy.",  # a unit the words hold is kept, one they do not is dropped
     choice(tool="log_workout", exercise="deadlifts", reps=3, weight=140, weight_unit="kg"),
     LogEntry(Entry("deadlift", reps=3, weight=140, weight_unit="kg"))),
    ("Deadless 140 for 3, felt heavy.",  # the exercise by its sound
     choice(tool="log_workout", exercise="deadlift", reps=3, weight=140, weight_unit="lb"),
     LogEntry(Entry("deadlift", reps=3, weight=140))),
    ("I need 4 minutes of rest out.", choice(tool="start_timer", seconds=240, label="rest"), StartTimer(240, "rest")),
    ("I need 4 minutes of rest out.", choice(tool="start_timer", seconds=240, label="plank"), StartTimer(240)),
    ("I ran 3 miles this morning and felt great.",
     choice(tool="log_workout", exercise="run", distance=3, distance_unit="mi"),
     LogEntry(Entry("run", distance=3, distance_unit="mi"))),
])
def test_a_choice_the_words_carry_is_taken(text, reply, command):
    assert opinion.accept(text, reply)[0] == command


@pytest.mark.parametrize(("text", "reply"), [
    ("Dead lifts 140 for 3, felt heavy.", choice(tool="log_workout", exercise="deadlift", reps=140)),  # 3 unused
    ("Dead lifts 140 for 3, felt heavy.", choice(tool="log_workout", exercise="deadlift", sets=3, reps=10,
                                                 weight=140)),  # 10 never said
    ("Dead lifts 140 for 3, felt heavy.", choice(tool="log_workout", exercise="squat", reps=3, weight=140)),
    ("Dead lifts 140 for 3, felt heavy.", choice(tool="log_workout", exercise="moonwalk", reps=3, weight=140)),
    ("I ran 3 miles this morning and felt great.",  # kilometres were not said
     choice(tool="log_workout", exercise="run", distance=3, distance_unit="km")),
    ("My squat is 100 kilos now.", choice(tool="log_workout", exercise="squat", weight=100, weight_unit="kg")),
    ("I need 4 minutes of rest out.", choice(tool="start_timer", seconds=4)),  # the number, not the duration
    ("I need 4 minutes of rest out.", choice(tool="start_timer", seconds=-240)),
    ("I need 4 minutes of rest out.", choice(tool="none")),
    ("I need 4 minutes of rest out.", '{"tool": "start_timer", "seconds": 240'),  # cut short
    ("I need 4 minutes of rest out.", '["start_timer", 240]'),
    ("I need 4 minutes of rest out.", choice(tool="start_timer", seconds=True)),
    ("nice, those 30 seconds went fast", choice(tool="start_timer", seconds=30)),  # no timer asked for
])
def test_a_choice_the_words_do_not_carry_is_refused_with_why(text, reply):
    command, why = opinion.accept(text, reply)
    assert command is None and why


def service(url: str, wait: float = 3.0, embedded: bool = False) -> LLMService:
    cfg = LlmConfig(endpoints=(EndpointConfig(url=url, api="ollama-chat", models=("coach",)),),
                    embedded=EmbeddedConfig(enabled=embedded), second_opinion_s=wait)
    return LLMService(config=cfg, bus=Bus())


def test_the_opinion_asks_the_server_with_the_schema_and_carries_out_the_choice():
    reply = choice(tool="log_workout", exercise="deadlift", reps=3, weight=140)
    with ollama(canned=reply, names=("coach",)) as server:
        command, why = asyncio.run(opinion.ask(service(server.url), "Dead lifts 140 for 3, felt heavy."))
        sent = asked(server)
    assert command == LogEntry(Entry("deadlift", reps=3, weight=140)), why
    assert len(sent) == 1 and sent[0]["format"] == opinion.SCHEMA
    assert sent[0]["messages"][-1] == {"role": "user", "content": "Dead lifts 140 for 3, felt heavy."}


def test_a_question_or_the_opinion_turned_off_sends_nothing():
    with ollama(canned=choice(tool="none"), names=("coach",)) as server:
        assert asyncio.run(opinion.ask(service(server.url), "How many squats should I do?")) == (None, "")
        assert asyncio.run(opinion.ask(service(server.url, wait=0), "Dead lifts 140 for 3, felt heavy.")) == (None, "")
        assert asked(server) == []


def test_the_real_models_choice_follows_the_schema_and_is_checked():
    with ollama() as server:
        llm = LLMService(config=LlmConfig(
            endpoints=(EndpointConfig(url=server.url, api="ollama-chat", models=("smollm2:135m",)),),
            embedded=EmbeddedConfig(enabled=False), second_opinion_s=30.0), bus=Bus())
        text = "Dead lifts 140 for 3, felt heavy."
        reply = asyncio.run(llm.structured(opinion.messages(text), opinion.SCHEMA, max_tokens=opinion.MAX_TOKENS,
                                           servers_only=True))
    chosen = json.loads(reply)  # the grammar binds the reply, whatever the model
    assert chosen["tool"] in ("start_timer", "log_workout", "none")
    command, why = opinion.accept(text, reply)
    assert why
    assert command is None or command == LogEntry(Entry("deadlift", reps=3, weight=140)), why


def test_a_server_down_or_silent_costs_the_wait_at_most_and_never_the_embedded_model():
    started = time.monotonic()
    llm = service(dead_url(), embedded=True)
    command, why = asyncio.run(opinion.ask(llm, "Dead lifts 140 for 3, felt heavy."))
    assert command is None and "no server model" in why
    assert llm.embedded is not None and llm.embedded.llama is None  # never asked, never loaded
    with silent_server() as url:
        command, why = asyncio.run(opinion.ask(service(url, wait=0.5), "Dead lifts 140 for 3, felt heavy."))
    assert command is None and "in 0.5 s" in why
    assert time.monotonic() - started < 4


def test_a_turn_the_opinion_takes_ends_once_as_a_skill_and_one_that_raises_goes_to_the_model():
    """And the user going on after it (``retract``, heard for a moment) takes back only the
    model's answer: the skill has acted, and a retract would let it act twice."""
    async def turns(hook) -> tuple[list, bool]:
        with ollama(canned="Keep your back flat.", names=("coach",)) as server:
            llm = service(server.url)
            seen: list = []
            llm.bus.observe(lambda at, e: seen.append(e))
            llm.initialize()
            llm.second_opinion = hook
            worker = asyncio.create_task(llm.run())
            llm.bus.emit(SpeechDetected(1, "Dead lifts 140 for 3, felt heavy.", "always", 1.0, 0.0, 1.0))
            await llm.join()
            retracted = llm.retract(1, heard=True)
            worker.cancel()
            await llm.aclose()
            return [e for e in seen if e.name in ("RESPONSE_GENERATED", "ERROR_OCCURRED")], retracted

    async def logged(event):
        return "workouts", "Logged 3 deadlifts at 140."

    async def broken(event):
        raise RuntimeError("a bug")

    taken, retracted = asyncio.run(turns(logged))
    assert [(e.name, e.text, e.api) for e in taken] == [("RESPONSE_GENERATED", "Logged 3 deadlifts at 140.", "skill")]
    assert not retracted
    failed, retracted = asyncio.run(turns(broken))
    assert [e.name for e in failed] == ["ERROR_OCCURRED", "RESPONSE_GENERATED"] and retracted
    assert failed[0].source == "skill" and failed[1].text == "Keep your back flat." and failed[1].api == "ollama-chat"
