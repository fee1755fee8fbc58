"""The context a model sees (assistant.llm.context), with plain values: words for
tokens, numbers for times."""

from assistant.llm.context import KEEP_AT_STEP, SKILLS_KEPT, SNAPSHOT_S, TRUNCATED, Turn, Window


def count(text):
    return len(text.split())


def size(message):
    return count(message["content"]) + 4


def total(messages):
    return sum(map(size, messages))


def build(system, history, utterance, budget):
    return Window().messages(system, "", history, 0, utterance, budget, count, size, 0.0)


def test_recent_turns_fill_the_budget_oldest_dropped_first():
    history = [Turn(user=f"question {i} " * 10, reply=f"answer {i} " * 10) for i in range(20)]
    messages = build("be brief", history, "now what?", budget=200)
    assert messages[0] == {"role": "system", "content": "be brief"}
    assert messages[-1] == {"role": "user", "content": "now what?"}
    assert total(messages) <= 200
    kept = [m["content"] for m in messages[1:-1]]
    assert kept and kept[-1].startswith("answer 19")
    assert not any(c.startswith("question 0 ") for c in kept)
    assert len(kept) % 2 == 0  # whole turns only


def test_system_prompt_and_utterance_survive_a_tiny_budget():
    long = "squat " * 500
    messages = build("be brief", [Turn("hi", "hello")], long, budget=60)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"].endswith(TRUNCATED)
    assert total(messages) <= 60


def test_interrupted_and_ambient_turns_are_marked():
    history = [Turn("how do I squat", "Feet apart and", interrupted=True), Turn("dinner is ready", ambient=True)]
    contents = [m["content"] for m in build("s", history, "go on", budget=1000)]
    assert "Feet apart and [interrupted]" in contents
    assert any("Overheard" in c and "dinner is ready" in c for c in contents)


# -- the Window: trimmed in steps, the system prompt a snapshot ------------------------


class Talk:
    """A conversation as LLMService keeps it: a bounded list of turns, numbered."""

    def __init__(self, kept=200):
        self.turns, self.added, self.kept = [], 0, kept

    def add(self, turn):
        self.turns.append(turn)
        self.added += 1
        del self.turns[: -self.kept]

    @property
    def first(self):
        return self.added - len(self.turns)


def prompt(window, talk, text, budget=300, lasting="You are Coach.", passing="", now=0.0):
    return window.messages(lasting, passing, talk.turns, talk.first, text, budget, count, size, now)


def is_prefix(short, long):
    return long[: len(short)] == short


def test_between_steps_each_prompt_begins_with_the_one_before():
    window, talk = Window(), Talk()
    previous = None
    steps = 0
    for i in range(200):
        messages = prompt(window, talk, f"question {i} " + "word " * 8)
        assert sum(map(size, messages)) <= 300
        if previous is not None and window.steps == steps:
            assert is_prefix(previous[:-1], messages[:-1])  # all but the question: read from the cache
        steps = window.steps
        previous = messages
        talk.add(Turn(f"question {i} " + "word " * 8, f"answer {i} " + "word " * 8))
    # 200 turns of 22 words each and 300 tokens of room: a step every few turns, never one a turn
    assert 10 < window.steps < 60


def test_a_step_keeps_the_newest_turns_in_about_half_the_room():
    window, talk = Window(), Talk()
    for i in range(40):
        talk.add(Turn(f"q{i} " + "w " * 20, f"a{i} " + "w " * 20))
    messages = prompt(window, talk, "now?")
    history = messages[1:-1]
    room = 300 - size(messages[0]) - size(messages[-1])
    assert window.steps == 1
    assert sum(map(size, history)) <= room * KEEP_AT_STEP
    assert history[-1]["content"].startswith("a39") and history[0]["content"].startswith("q")


def test_skill_turns_are_shown_as_they_come_and_only_the_latest_survive_a_step():
    window, talk = Window(), Talk()
    talk.add(Turn("How do I squat?", "Feet apart, chest up."))
    for i in range(6):
        talk.add(Turn(f"Set a timer for {i + 1} minutes", f"Timer set for {i + 1} minutes.", skill=True))
    shown = [m["content"] for m in prompt(window, talk, "And then?")]
    assert sum("Timer set" in c for c in shown) == 6  # no step yet: shown as they came
    for i in range(30):
        talk.add(Turn(f"question {i} " + "w " * 10, "answer " + "w " * 10))
        talk.add(Turn(f"Log {i} push-ups", f"Logged {i} push-ups.", skill=True))
    shown = [m["content"] for m in prompt(window, talk, "How was that?")]
    assert window.steps >= 1
    assert sum(c.startswith("Logged") for c in shown) <= SKILLS_KEPT
    assert shown[-2] == "Logged 29 push-ups."  # the latest skill turn is there


def test_a_long_skill_reply_is_cut_short_in_the_context():
    window, talk = Window(), Talk()
    talk.add(Turn("How was my week?", "You logged " + "squats, " * 100, skill=True))
    reply = prompt(window, talk, "Thanks", budget=2000)[2]["content"]
    assert reply.endswith(TRUNCATED) and len(reply) <= 170


def test_the_weeks_training_is_taken_afresh_only_at_a_step_or_after_a_while():
    window, talk = Window(), Talk()
    first = prompt(window, talk, "hi", passing="Training: none.")[0]["content"]
    talk.add(Turn("Log 5 squats", "Logged 5 squats.", skill=True))
    same = prompt(window, talk, "hi", passing="Training: 5 squats.", now=60)[0]["content"]
    assert same == first == "You are Coach.\n\nTraining: none."  # the skill turn tells it meanwhile
    later = prompt(window, talk, "hi", passing="Training: 5 squats.", now=SNAPSHOT_S + 61)[0]["content"]
    assert later.endswith("Training: 5 squats.")


def test_a_changed_fact_or_profile_is_taken_at_once():
    window, talk = Window(), Talk()
    prompt(window, talk, "hi", lasting="You are Coach.")
    system = prompt(window, talk, "hi", lasting="You are Coach. The user's knee is sore.", now=5)[0]["content"]
    assert "knee is sore" in system


def test_turns_that_left_memory_are_not_asked_for_and_a_forced_step_cuts():
    window, talk = Window(), Talk(kept=5)
    for i in range(50):
        talk.add(Turn(f"q{i}", f"a{i}"))
        prompt(window, talk, "next", budget=10_000)
    shown = [m["content"] for m in prompt(window, talk, "next", budget=10_000)[1:-1]]
    assert shown == [c for i in range(45, 50) for c in (f"q{i}", f"a{i}")]
    assert len(prompt(window, talk, "next", budget=100)) == 12 and window.steps == 0  # 5 turns fit in 100
    window.step()  # a server refused the last prompt for length
    after = prompt(window, talk, "next", budget=100)
    assert window.steps == 1 and [m["content"] for m in after[1:-1]] == ["q46", "a46", "q47", "a47", "q48", "a48",
                                                                         "q49", "a49"]  # half the room
