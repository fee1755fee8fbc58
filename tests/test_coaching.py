"""The coaching skills on a real SQLite notebook: what is said is stored at once,
read back, undone and forgotten; the interview resumes where it stopped; the
profile and the facts reach the system prompt. Memory and interview phrasings
are table-driven."""

import sqlite3

import pytest

from assistant.core.bus import Bus
from assistant.core.config import LlmConfig
from assistant.core.events import MemoryUpdated, SpeechDetected, WorkoutLogged
from assistant.llm.service import LLMService
from assistant.skills import interview as asked
from assistant.skills.coaching import Coaching
from assistant.skills.interview import QUESTIONS, Asking, Interview, render
from assistant.skills.memory import Fact, Forget, Recall, Remember, match, parse, proposals, spoken
from assistant.skills.notebook import Notebook
from assistant.skills.router import StartSession, StartTimer
from assistant.skills.timing import Running
from assistant.skills.understanding import skill, understand

REMEMBER = [
    ("Remember that my left knee is sore.", Remember("my left knee is sore")),
    ("Coach, remember my left knee is sore.", Remember("my left knee is sore")),
    ("Please remember that I'm allergic to peanuts.", Remember("i'm allergic to peanuts")),
    ("Keep in mind that I work night shifts.", Remember("i work night shifts")),
    ("Don't forget that my race is on May 3rd.", Remember("my race is on may 3rd")),
    ("Note that I prefer mornings.", Remember("i prefer mornings")),
    ("My goal is a 5k under 25 minutes.", Remember("my goal is a 5k under 25 minutes", asked=False)),
    ("I'm vegetarian.", Remember("i'm vegetarian", asked=False)),
    ("I am diabetic.", Remember("i am diabetic", asked=False)),
    ("I don't eat dairy.", Remember("i don't eat dairy", asked=False)),
    ("I have a bad back.", Remember("i have a bad back", asked=False)),
    ("My name is Sam.", Remember("my name is sam", asked=False)),
    ("Forget that my knee is sore.", Forget("my knee is sore")),
    ("Forget about the knee.", Forget("the knee")),
    ("Forget everything about me.", Forget("")),
    ("What do you know about me?", Recall()),
    ("What do you remember about me?", Recall()),
    ("What have I told you?", Recall()),
]
# "Remember that ..." is confirmed aloud; a fact said in passing is kept while the model answers.
NOT_MEMORY = ["I'm tired.", "Forget it.", "My knee hurts, what should I do?", "Do you remember my squat form tips?",
              "I'm going for a run.", "Remember.", "What's my goal?", "I have to go."]


@pytest.mark.parametrize(("text", "command"), REMEMBER)
def test_memory_phrasings(text, command):
    assert parse(text) == command


@pytest.mark.parametrize("text", NOT_MEMORY)
def test_remarks_are_not_remembered(text):
    assert parse(text) is None


def test_forget_finds_the_fact_by_its_words():
    facts = [Fact(1, 1.0, "my left knee is sore"), Fact(2, 2.0, "i'm vegetarian"), Fact(3, 3.0, "my goal is a 5k")]
    assert match("my knee is sore", facts) == facts[0]
    assert match("that i'm vegetarian", facts) == facts[1]
    assert match("my shoulder", facts) is None
    assert spoken("i'm allergic to my cat") == "you're allergic to your cat"


def test_an_interview_asks_six_questions_and_takes_skip_repeat_and_back():
    interview = Interview()
    assert interview.opening().endswith("Question 1 of 6. What should I call you?")
    assert interview.hear("Call me Sam.").startswith("Nice to meet you, Sam. Question 2 of 6.")  # said back
    assert interview.hear("Repeat.").startswith("Question 2 of 6.")
    assert interview.hear("A 5k under 25 minutes by June.").startswith("Question 3 of 6.")
    assert interview.hear("Go back.").startswith("Question 2 of 6.")
    assert interview.hear("A 5k under 24 minutes by June.").startswith("Question 3 of 6.")
    assert interview.hear("Skip.").startswith("Question 4 of 6.")
    for answer in ("Three days, 45 minutes.", "A sore left knee.", "Short and firm."):
        reply = interview.hear(answer)
    assert interview.done and reply.startswith("Thanks, Sam.")
    assert interview.answers == {"name": "Sam", "goal": "A 5k under 24 minutes by June",
                                 "schedule": "Three days, 45 minutes", "limits": "A sore left knee",
                                 "style": "Short and firm"}
    assert "Main goal: A 5k under 24 minutes by June" in render(interview.answers)
    assert "Where they are now" not in render(interview.answers)  # skipped
    assert len(QUESTIONS) == 6


def said(text: str, turn_id: int = 1) -> SpeechDetected:
    return SpeechDetected(turn_id, text, "always", 1.0, 0.0, 1.0)


def heard(coaching: Coaching, event: SpeechDetected) -> tuple[str, str] | None:
    """An utterance as the daemon takes it (``Assistant._skill``): understood, then
    carried out by the coaching skills, or None for the model."""
    command = understand(event.text)
    if command is None:
        return None
    assert skill(command) != "timers", command
    return coaching.answer(event, command)


@pytest.fixture
def coach(tmp_path):
    bus = Bus()
    events = []
    bus.observe(lambda at, e: events.append(e))
    notebook = Notebook(tmp_path / "history.sqlite3")
    finished: list[Running] = []
    coaching = Coaching(bus, notebook, last_session=lambda: finished[-1] if finished else None)
    coaching.events, coaching.finished = events, finished  # type: ignore[attr-defined]
    yield coaching
    notebook.close()


def test_logged_then_undone_then_asked(coach):
    assert heard(coach, said("Log three sets of ten squats at sixty kilos.")) == \
        ("workouts", "Logged squats: 3 sets of 10 at 60 kilos.")
    assert heard(coach, said("I just did 20 push-ups.", 2)) == ("workouts", "Logged 20 push-ups.")
    assert heard(coach, said("Undo that.", 3)) == ("workouts", "Removed 20 push-ups.")
    assert heard(coach, said("Undo that.", 4)) == ("workouts", "There's nothing to undo.")
    assert heard(coach, said("What did I do today?", 5)) == \
        ("workouts", "Today you logged squats: 3 sets of 10 at 60 kilos.")
    logged = [e for e in coach.events if isinstance(e, WorkoutLogged)]
    assert [(e.action, e.entry["exercise"], e.turn_id) for e in logged] == \
        [("logged", "squat", 1), ("logged", "push-up", 2), ("removed", "push-up", 3)]
    assert [e.entry.exercise for e in coach.notebook.workouts()] == ["squat"]


def test_log_that_stores_the_session_that_finished_once(coach):
    assert heard(coach, said("Log that.")) == ("workouts", "There's no finished timer to log.")
    coach.finished.append(Running.start(7, StartSession(4, 30, 15), 0.0))
    assert heard(coach, said("Log that.", 2)) == ("workouts", "Logged intervals: 4 rounds of 30 seconds.")
    assert heard(coach, said("Log that.", 3)) == ("workouts", "There's no finished timer to log.")
    coach.finished.append(Running.start(8, StartTimer(60, "plank"), 0.0))
    assert heard(coach, said("Log it.", 4)) == ("workouts", "Logged plank: 1 minute.")


def test_remembered_forgotten_and_recalled(coach):
    assert heard(coach, said("Remember that my left knee is sore.")) == \
        ("memory", "Got it. I'll remember that your left knee is sore.")
    assert heard(coach, said("I'm vegetarian.", 2)) is None  # said in passing: kept, and the model answers
    assert heard(coach, said("Remember that I'm vegetarian.", 3)) == \
        ("memory", "I already know that you're vegetarian.")
    assert heard(coach, said("What do you know about me?", 4)) == \
        ("memory", "I know that your left knee is sore; you're vegetarian.")
    assert '"my left knee is sore"' in coach.notes()
    assert heard(coach, said("Forget that my knee is sore.", 5)) == \
        ("memory", "Okay, I've forgotten that your left knee is sore.")
    assert "knee" not in coach.notes()
    assert heard(coach, said("Forget that my shoulder hurts.", 6)) == \
        ("memory", "I don't have anything about your shoulder hurts.")
    updates = [(e.action, e.text) for e in coach.events if isinstance(e, MemoryUpdated)]
    assert updates == [("added", "my left knee is sore"), ("added", "i'm vegetarian"),
                       ("forgotten", "my left knee is sore")]


def test_what_the_user_said_about_one_thing_is_recalled_from_the_facts_and_the_interview(coach):
    for i, text in enumerate(("Remember that my left knee is sore.", "Remember that my race is a half marathon.",
                              "Remember that I had knee surgery in 2019."), 1):
        heard(coach, said(text, i))
    coach.notebook.set_profile({"goal": "a 10k race under an hour", "limits": "a bad left knee"})
    assert heard(coach, said("What did I tell you about my knee?", 4)) == (
        "memory", "You told me you had knee surgery in 2019, and your left knee is sore, and your injuries or "
                  "limits: a bad left knee.")
    assert heard(coach, said("Do you remember what I said about my race?", 5)) == (
        "memory", "You told me your race is a half marathon, and your main goal: a 10k race under an hour.")
    assert heard(coach, said("What have I told you about my shoulder?", 6)) == \
        ("memory", "You haven't told me anything about your shoulder.")
    # what the coach knows of a subject is a question for the model, which sees the facts; so is "about that"
    assert heard(coach, said("What do you know about my knee?", 7)) is None
    assert heard(coach, said("What did I tell you about that?", 8)) is None
    assert heard(coach, said("What did I tell you about me?", 9))[1].startswith("I know that ")  # all of it
    coach.notebook.set_profile({"level": "I run twice a week"})
    assert heard(coach, said("What did I tell you about my runs?", 10)) == \
        ("memory", "You told me where you are now: you run twice a week.")


def test_questions_go_to_the_model(coach):
    for text in ("How should I warm up?", "Is a 30 second plank enough?", "What should I eat after a run?"):
        assert heard(coach, said(text)) is None


@pytest.mark.parametrize(("said", "name", "doubtful"), [
    ("Call me Sam.", "Sam", False),
    ("My name is mary jane.", "Mary Jane", False),
    ("Sam.", "Sam", False),
    ("Call me Send.", "Send", True),  # tiny.en once, for Piper's "Call me Sam."
    ("I'm Raj.", "Raj", True),  # a real name the lists lack: heard again, kept if no reading has one
    ("Hi, my name's José.", "Jose", False),  # accents dropped, not the letter
    ("Stop the interview.", "Stop The Interview", False), ("What?", "What", False), ("Go back.", "Go Back", False),
    ("", "", False),
])
def test_a_name_that_is_no_given_name_is_doubted(said, name, doubtful):
    assert asked.heard_name(said) == name
    assert asked.doubtful_name(said) is doubtful


def test_of_whispers_readings_the_likeliest_with_a_given_name_stands():
    assert asked.a_name(["Call me Send.", "Call me Sand.", "Call me Sam.", "Call me Sem."]) == "Call me Sam."
    assert asked.a_name(["I'm Raj.", "I'm Roger."]) == "I'm Roger."  # an unlisted name may lose: said back at once
    assert asked.a_name(["Call me she won.", "Call me, she won't."]) is None  # the words heard first then stand
    assert asked.a_name(["Stop it.", "Skip it.", "Skip.", "Call me Stephen."]) == "Call me Stephen."  # Skip is a name
    assert asked.a_name([]) is None


def test_only_an_answer_to_the_name_question_is_doubted(tmp_path):
    coach = Coaching(Bus(), Notebook(tmp_path / "n.db"))
    asking = Asking(lambda: coach.interview)
    assert asked.given_name("Sam")  # the names read (load_names reads them in the background)
    assert asking.question() is None and not asking.doubted("Call me Send.")  # no interview running
    coach.start_interview()
    assert asking.question() == QUESTIONS[0].text == "What should I call you?"
    assert asking.doubted("Call me Send.") and not asking.doubted("Call me Sam.")
    coach.hear("Call me Sam.")
    assert asking.question() == QUESTIONS[1].text and not asking.doubted("Send.")  # the goal's question now
    for _ in QUESTIONS[1:]:
        coach.hear("Skip.")
    assert asking.question() is None


def test_the_interview_takes_every_utterance_and_resumes_after_a_restart(tmp_path):
    path = tmp_path / "history.sqlite3"
    first = Coaching(Bus(), Notebook(path))
    assert first.offer() is not None and first.offer() is None  # offered once
    assert heard(first, said("Set up my coach.")) == ("interview", first.interview.opening())
    for text in ("Call me Sam.", "A 5k under 25 minutes by June.", "Twice a week, 3k easy."):
        assert first.interviewing(said(text))[0] == "interview"
    first.notebook.close()  # killed after question 3

    second = Coaching(Bus(), Notebook(path))
    assert "Question 4 of 6" in second.start_interview()
    assert second.interviewing(said("Log 20 push-ups.")) == ("interview", second.interview.ask())  # an answer
    assert second.interviewing(said("Go back.")) is not None
    for text in ("Three days, 45 minutes.", "A sore left knee.", "Short and firm."):
        reply = second.interviewing(said(text))
    assert reply[0] == "interview"
    assert reply[1].startswith("Thanks, Sam. Your coach is ready, and I'll coach you with this in mind. Your plan is")
    assert second.interview is None and second.interviewing(said("Hello.")) is None
    assert second.profile() == {"name": "Sam", "goal": "A 5k under 25 minutes by June",
                                "level": "Twice a week, 3k easy", "schedule": "Three days, 45 minutes",
                                "limits": "A sore left knee", "style": "Short and firm"}
    llm = LLMService(config=LlmConfig(endpoints=()), bus=Bus())
    second.inform(llm.prompter)
    system = llm.messages_for("hi")[0]["content"]
    assert system.startswith("You are Coach") and "Call them: Sam" in system and "Short and firm" in system
    second.notebook.close()


def test_a_fact_sits_after_the_persona_and_before_the_history(coach):
    heard(coach, said("Remember that my left knee is sore."))
    llm = LLMService(config=LlmConfig(endpoints=()), bus=Bus())
    coach.inform(llm.prompter)
    messages = llm.messages_for("How should I warm up?")
    assert messages[0]["role"] == "system" and messages[0]["content"].index("You are Coach") == 0
    assert messages[0]["content"].endswith('What the user asked you to remember (in their words): '
                                           '"my left knee is sore".')
    assert messages[-1] == {"role": "user", "content": "How should I warm up?"}


def test_the_tables_stay_bounded(tmp_path, monkeypatch):
    import assistant.skills.notebook as notebook_module

    monkeypatch.setattr(notebook_module, "MAX_FACTS", 3)
    monkeypatch.setattr(notebook_module, "WORKOUTS_KEPT", 5)
    notebook = Notebook(tmp_path / "h.sqlite3")
    coaching = Coaching(Bus(), notebook)
    for n in range(8):
        heard(coaching, said(f"Remember that fact number {n} is true.", n + 1))
        heard(coaching, said(f"Log {n + 1} push-ups.", n + 100))
    assert [f.text for f in notebook.facts()] == [f"fact number {n} is true" for n in (5, 6, 7)]
    assert [e.entry.reps for e in notebook.workouts()] == [4, 5, 6, 7, 8]
    db = sqlite3.connect(tmp_path / "h.sqlite3")
    assert db.execute("SELECT COUNT(*) FROM facts").fetchone() == (3,)
    notebook.close()


SAID = "I think my left knee is sore after yesterday's run, and I'm vegetarian by the way."


@pytest.mark.parametrize(("reply", "kept"), [
    ('{"facts": ["My left knee is sore.", "I\'m vegetarian"]}', ["my left knee is sore", "i'm vegetarian"]),
    ('{"facts": ["my left knee is sore", "the moon is made of cheese"]}', ["my left knee is sore"]),  # not said
    ('{"facts": ["my favourite food is pizza"]}', []),  # invented
    ('{"facts": ["knee sore"]}', []),  # not about the user in their words
    ('{"facts": ["my left knee is sore", "my left knee is sore"]}', ["my left knee is sore"]),
    ('{"facts": []}', []),
    ('{"facts": "my left knee is sore"}', []),
    ('{"facts": [7, null, "i\'m vegetarian"]}', ["i'm vegetarian"]),
    ("my left knee is sore", []),  # not JSON
    ('["my left knee is sore"]', []),
])
def test_proposed_facts_are_checked_against_what_was_said(reply, kept):
    assert proposals(reply, SAID, []) == kept


def test_a_proposed_fact_already_known_is_not_kept_twice():
    known = [Fact(1, 1.0, "my left knee is sore")]
    assert proposals('{"facts": ["my left knee is sore", "i\'m vegetarian"]}', SAID, known) == ["i'm vegetarian"]


def test_the_prompt_carries_the_newest_facts_that_fit():
    from assistant.skills.memory import prompt

    facts = [Fact(n, float(n), f"fact number {n:03d} is something worth keeping") for n in range(100)]
    text = prompt(facts)
    assert len(text) <= 1700 and '"fact number 099' in text and '"fact number 000' not in text
    assert text.index("fact number 098") < text.index("fact number 099")  # oldest first


def test_a_locked_notebook_is_said_and_reported_and_the_model_still_answers(tmp_path, monkeypatch):
    import assistant.skills.notebook as notebook_module

    monkeypatch.setattr(notebook_module, "RETRY_S", 0.0)  # try the lock again at once
    path = tmp_path / "h.sqlite3"
    bus = Bus()
    errors = []
    bus.observe(lambda at, e: errors.append(e) if e.name.value == "ERROR_OCCURRED" else None)
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("PRAGMA journal_mode=WAL")
    locker.execute("BEGIN EXCLUSIVE")  # before the notebook makes its tables
    coaching = Coaching(bus, Notebook(path))
    assert coaching.notes() == "" and coaching.training() == "" and coaching.profile() == {}
    assert errors == []  # the prompt goes without the notes: a warning (the history reports the lock)
    assert heard(coaching, said("Log 20 push-ups.")) == ("notebook", "I can't reach my notebook right now. "
                                                                     "Please try again in a moment.")
    assert heard(coaching, said("Log 20 push-ups.")) == ("notebook", "I can't reach my notebook right now. "
                                                                     "Please try again in a moment.")
    assert [e.source for e in errors] == ["notebook"] and "locked" in errors[0].message  # once per outage
    locker.execute("COMMIT")
    assert heard(coaching, said("Log 20 push-ups.", 2)) == ("workouts", "Logged 20 push-ups.")
    assert "20 push-ups" in coaching.training()
    coaching.notebook.close()
