"""Token counts and refusals for length, with plain values: each server's own
wording of a refusal (quoted from its source), the estimate's correction from a
server's reports, and when a server is asked to count."""

import asyncio

import pytest

from assistant.llm.servers import status_error
from assistant.llm.tokens import TokenCounter, estimate, named_request, named_window, too_long

# What each server sends back when the prompt does not fit (the body of the HTTP error).
REFUSALS = {
    "llama-cpp-python in process": ("Requested tokens (4161) exceed context window of 4096", 4096, 4161),
    "llama-cpp-python's server": (
        '{"error": {"message": "This model\'s maximum context length is 2048 tokens. However, you requested '
        '2300 tokens (2100 in the messages, 200 in the completion). Please reduce the length of the messages '
        'or completion.", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}',
        2048, 2300),
    "llama.cpp's server": (  # tools/server/server-context.cpp and server-common.cpp
        '{"error":{"code":400,"message":"request (5000 tokens) exceeds the available context size (4096 tokens), '
        'try increasing it","type":"exceed_context_size_error","n_prompt_tokens":5000,"n_ctx":4096}}', 4096, 5000),
    "Ollama without context shift": (  # llm/llama_server.go: names no numbers
        '{"error":"the prompt is longer than the context length currently available to the model; shorten the '
        'prompt, adjust the context length in settings, or use a model with a longer context length"}', None, None),
    "Ollama's Go runner, truncate off": ('{"error":"the input length exceeds the context length"}', None, None),
    "vLLM": ('{"error":{"message":"This model\'s maximum context length is 32768 tokens. However, your request has '
             '40000 input tokens. Please reduce the length of the input messages. None","type":"BadRequestError",'
             '"code":400}}', 32768, 40000),
    "OpenAI": (
        '{"error": {"message": "This model\'s maximum context length is 8192 tokens. However, your messages '
        'resulted in 9000 tokens. Please reduce the length of the messages.", "type": "invalid_request_error", '
        '"param": "messages", "code": "context_length_exceeded"}}', 8192, 9000),
}


@pytest.mark.parametrize("server", REFUSALS)
def test_each_servers_refusal_for_length_is_known_with_the_numbers_it_names(server):
    body, window, asked = REFUSALS[server]
    assert too_long(body)
    assert named_window(body) == window
    assert named_request(body) == asked
    error = status_error(400, body, "http://127.0.0.1:1/v1/chat/completions")
    assert error.too_long and not error.transient
    assert named_window(str(error)) == window  # the numbers survive into the error's message


@pytest.mark.parametrize("message", [
    '{"error": "model \\"coach\\" not found, try pulling it first"}',
    '{"error": {"message": "Invalid API key", "type": "invalid_request_error"}}',
    "server busy, please try again.  maximum pending requests exceeded",
])
def test_other_errors_are_not_taken_for_length(message):
    assert not too_long(message)
    assert not status_error(400, message, "u").too_long


def test_the_estimate_errs_high_on_this_projects_short_numeric_lines():
    # SmolLM2 counts these at 2.19 characters a token (measured); prose at about four
    line = "Log 3 sets of 12 squats at 72 kilos"
    assert estimate(line) >= len(line) / 2.19


def test_a_servers_reports_move_the_estimate_up_at_once_and_down_slowly():
    counter = TokenCounter()
    messages = [{"role": "user", "content": "x" * 200}]
    counted = counter.total(messages)
    counter.reported(messages, counted * 2)  # the server read twice what we counted
    assert counter.total(messages) >= counted * 2 - 1
    before = counter.ratio
    counter.reported(messages, counted // 2)  # then much less: the estimate comes down only part of the way
    assert 1.0 < counter.ratio < before


def test_a_refusal_that_counted_more_corrects_even_an_exact_counter():
    counter = TokenCounter(exact=len)
    counter.refused(counted=100, asked=150)
    assert counter("x" * 100) == 150
    counter.refused(counted=100, asked=None)  # no number named: nothing to learn from
    assert counter("x" * 100) == 150


def test_a_server_is_asked_to_count_only_near_the_budget_and_never_twice_for_a_text():
    asked: list[str] = []

    async def remote(text):
        asked.append(text)
        return len(text)

    counter = TokenCounter(remote=remote)
    asyncio.run(counter.prepare(["short", "texts"], budget=10_000))
    assert asked == []  # far under the budget: the estimate is safe
    texts = ["a" * 3000, "b" * 3000]
    asyncio.run(counter.prepare(texts, budget=2000))
    assert sorted(asked) == texts and counter("a" * 3000) == 3000
    asyncio.run(counter.prepare([*texts, "c" * 10], budget=2000))
    assert asked[2:] == ["c" * 10]


def test_counts_given_before_a_deadline_are_kept():
    async def remote(text):
        await asyncio.sleep(0 if text.startswith("new") else 10)
        return 7

    async def main():
        counter = TokenCounter(remote=remote)
        texts = [f"new {i} " * 500 for i in range(3)] + [f"old {i} " * 500 for i in range(20)]
        try:
            async with asyncio.timeout(0.5):
                await counter.prepare(texts, budget=100)
        except TimeoutError:
            pass
        return [counter(t) for t in texts]

    counts = asyncio.run(main())
    assert counts[:3] == [7, 7, 7] and all(c > 7 for c in counts[3:])


def test_a_server_with_no_tokenizer_is_not_asked_again():
    calls = []

    async def remote(text):
        calls.append(text)
        return None

    counter = TokenCounter(remote=remote)
    asyncio.run(counter.prepare(["a" * 5000], budget=100))
    asyncio.run(counter.prepare(["b" * 5000], budget=100))
    assert len(calls) == 1 and counter("a" * 5000) == estimate("a" * 5000)
