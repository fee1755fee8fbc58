from assistant.context import TRUNCATED, Turn, approx_tokens, build_messages


def total(messages):
    return sum(approx_tokens(m["content"]) + 4 for m in messages)


def test_recent_turns_fill_the_budget_oldest_dropped_first():
    history = [Turn(user=f"question {i} " * 10, reply=f"answer {i} " * 10) for i in range(20)]
    messages = build_messages("be brief", history, "now what?", budget=200)
    assert messages[0] == {"role": "system", "content": "be brief"}
    assert messages[-1] == {"role": "user", "content": "now what?"}
    assert total(messages) <= 200
    kept = [m["content"] for m in messages[1:-1]]
    assert kept and kept[-1].startswith("answer 19")
    assert not any(c.startswith("question 0 ") for c in kept)
    assert len(kept) % 2 == 0  # whole turns only


def test_system_prompt_and_utterance_survive_a_tiny_budget():
    long = "squat " * 500
    messages = build_messages("be brief", [Turn("hi", "hello")], long, budget=60)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"].endswith(TRUNCATED)
    assert total(messages) <= 60


def test_interrupted_and_ambient_turns_are_marked():
    history = [Turn("how do I squat", "Feet apart and", interrupted=True), Turn("dinner is ready", ambient=True)]
    contents = [m["content"] for m in build_messages("s", history, "go on", budget=1000)]
    assert "Feet apart and [interrupted]" in contents
    assert any("Overheard" in c and "dinner is ready" in c for c in contents)
