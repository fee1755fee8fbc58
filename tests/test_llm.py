"""LLMService against real servers on loopback: the Ollama wire format (text from
the real embedded model), llama-cpp-python's OpenAI server, dead and silent ports."""

import asyncio
import dataclasses
import os
import signal

import httpx
import pytest
from helpers import run_cli, write_config
from servers import asked, dead_url, ollama, openai_server, silent_server

from assistant.core.bus import Bus
from assistant.core.config import EmbeddedConfig, EndpointConfig, LlmConfig, LlmOptions, LlmTimeouts, parse_settings
from assistant.core.events import EventName, ResponseChunk, SpeechDetected
from assistant.llm.servers import detect
from assistant.llm.service import LLMService

FAST = ("llm:\n  options: {max_tokens: 40, temperature: 0.2, seed: 5}\n  timeouts: {first_token: 4.0}\n"
        "  knowledge: false\n")  # the models' own answers


def config_file(tmp_path, extra: str = "") -> str:
    return str(write_config(tmp_path / "c.yaml", FAST + extra))


def service(endpoints, **kw) -> tuple[LLMService, list]:
    cfg = LlmConfig(
        endpoints=tuple(endpoints),
        options=LlmOptions(max_tokens=40, temperature=0.2, seed=5),
        timeouts=LlmTimeouts(first_token=4.0, between_tokens=3.0),
        **kw,
    )
    bus = Bus()
    seen = []
    bus.observe(lambda at, e: seen.append(e))
    return LLMService(config=cfg, bus=bus), seen


def of(seen, name):
    return [e for e in seen if e.name == name]


@pytest.fixture(scope="module")
def ollama_chat():
    with ollama(names=("smollm2:135m", "coach:latest")) as server:
        yield server


@pytest.fixture(scope="module")
def openai(tmp_path_factory):
    with openai_server(tmp_path_factory.mktemp("openai")) as server:
        yield server


def ask(tmp_path, url, *models, api=None, extra=""):
    args = ["ask", "In one sentence, how do I breathe while running?", "--config", config_file(tmp_path, extra),
            "--llm-url", url]
    for model in models:
        args += ["--llm-model", model]
    if api:
        args += ["--llm-api", api]
    return run_cli(*args, events=tmp_path / "e.jsonl", timeout=180)


def test_ask_over_ollama_chat(tmp_path, ollama_chat):
    result = ask(tmp_path, ollama_chat.url + "/", "smollm2:135m")
    assert result.code == 0, result.stderr
    generated = result.named("RESPONSE_GENERATED")[0]["data"]
    assert generated["api"] == "ollama-chat" and generated["model"] == "smollm2:135m"
    assert generated["first_token_ms"] > 0 and generated["total_ms"] >= generated["first_token_ms"]
    assert generated["completion_tokens"] > 0 and generated["prompt_tokens"] > 0
    assert result.stdout.strip() == generated["text"]
    assert result.named("RESPONSE_GENERATING")[0]["data"]["api"] == "ollama-chat"


def test_ask_over_ollama_generate(tmp_path):
    with ollama("--no-chat") as server:
        result = ask(tmp_path, server.url, "smollm2:135m")
        assert result.code == 0, result.stderr
        generated = result.named("RESPONSE_GENERATED")[0]["data"]
        assert generated["api"] == "ollama-generate" and generated["text"]
        assert generated["first_token_ms"] > 0 and generated["total_ms"] > 0
        sent = asked(server)
        assert [r["path"] for r in sent] == ["/api/generate"]


def test_ask_over_openai_with_two_models(tmp_path, openai):
    for model in ("smollm2", "gemma3"):
        result = ask(tmp_path, openai.url + "/v1", model)
        assert result.code == 0, result.stderr
        generated = result.named("RESPONSE_GENERATED")[0]["data"]
        assert generated["api"] == "openai" and generated["model"] == model and generated["text"]
        assert generated["first_token_ms"] > 0 and generated["total_ms"] > 0 and generated["completion_tokens"] > 0


async def test_detection_tells_look_alikes_apart(ollama_chat, openai):
    async with httpx.AsyncClient(timeout=10) as client:
        ollama_info = await detect(client, ollama_chat.url + "/v1")  # Ollama answers /v1/models too
        assert ollama_info.api == "ollama-chat" and ollama_info.version
        assert set(ollama_info.models) == {"smollm2:135m", "coach:latest"}
        openai_info = await detect(client, openai.url)
        assert openai_info.api == "openai" and set(openai_info.models) == {"smollm2", "gemma3"}


def test_unknown_primary_model_falls_back_to_the_next(tmp_path, ollama_chat):
    result = ask(tmp_path, ollama_chat.url, "does-not-exist", "smollm2:135m")
    assert result.code == 0, result.stderr
    generated = result.named("RESPONSE_GENERATED")[0]["data"]
    assert generated["model"] == "smollm2:135m" and generated["api"] == "ollama-chat"
    assert len(generated["fallbacks"]) == 1 and "does-not-exist" in generated["fallbacks"][0]
    errors = result.named("ERROR_OCCURRED")
    assert len(errors) == 1 and "404" in errors[0]["data"]["message"] and "not found" in errors[0]["data"]["message"]


def test_a_dead_url_falls_back_to_the_embedded_model(tmp_path):
    url = dead_url()
    result = ask(tmp_path, url, "llama3.2:3b", "qwen2.5:1.5b")
    assert result.code == 0, result.stderr
    generated = result.named("RESPONSE_GENERATED")[0]["data"]
    assert generated["api"] == "embedded" and generated["text"]
    assert generated["fallbacks"] == [f"auto {url} llama3.2:3b"]  # a dead server: its other models are skipped
    assert "connection refused" in result.named("ERROR_OCCURRED")[0]["data"]["message"]


def test_a_server_that_never_answers_falls_back_within_the_first_token_timeout(tmp_path):
    with silent_server() as url:
        result = ask(tmp_path, url, "llama3.2:3b")
    assert result.code == 0, result.stderr
    generated = result.named("RESPONSE_GENERATED")[0]["data"]
    assert generated["api"] == "embedded"
    errors = result.named("ERROR_OCCURRED")
    assert "no answer within 4.0 s" in errors[0]["data"]["message"]
    assert errors[0]["time"] - result.events[0]["time"] < 10


def test_nothing_left_gives_the_spoken_apology(tmp_path):
    result = ask(tmp_path, dead_url(), "m", extra="  embedded: {enabled: false}\n")
    assert result.code == 1
    generated = result.named("RESPONSE_GENERATED")[0]["data"]
    assert generated["api"] == "none" and generated["text"] == LlmConfig().apology
    assert result.stdout.strip() == LlmConfig().apology


async def test_a_server_killed_mid_stream_ends_the_turn_with_what_was_said():
    with ollama("--delay", "0.15") as server:
        llm, seen = service([EndpointConfig(url=server.url, models=("smollm2:135m",))])

        def kill_on_first_chunk(at, event):
            if isinstance(event, ResponseChunk) and server.poll() is None:
                os.kill(server.pid, signal.SIGKILL)

        llm.bus.observe(kill_on_first_chunk)
        async with asyncio.timeout(60):
            reply = await llm.generate_async("Tell me about stretching.")
    generated = of(seen, EventName.RESPONSE_GENERATED)
    assert len(generated) == 1 and generated[0].interrupted and generated[0].api == "ollama-chat"
    assert reply.endswith(LlmConfig().interrupted_notice) and len(reply) > len(LlmConfig().interrupted_notice)
    assert len(of(seen, EventName.RESPONSE_GENERATING)) == 1  # no second model started over
    assert of(seen, EventName.ERROR_OCCURRED)
    assert llm.history[-1].interrupted


async def test_an_error_line_mid_stream():
    with ollama("--fail-after", "3") as server:
        llm, seen = service([EndpointConfig(url=server.url, models=("smollm2:135m",))])
        async with asyncio.timeout(60):
            reply = await llm.generate_async("How do I warm up?")
    assert reply.endswith(LlmConfig().interrupted_notice)
    assert "error in stream" in of(seen, EventName.ERROR_OCCURRED)[0].message
    with ollama("--fail-after", "0") as server:  # before any text: retried, then the next in the chain
        llm, seen = service([EndpointConfig(url=server.url, models=("smollm2:135m",))])
        async with asyncio.timeout(60):
            await llm.generate_async("How do I warm up?")
        assert len(asked(server)) == 2  # retries.attempts
    generated = of(seen, EventName.RESPONSE_GENERATED)[0]
    assert generated.api == "embedded" and len(generated.fallbacks) == 1


async def test_503_is_retried_with_backoff():
    with ollama("--busy-first", "1") as server:
        llm, seen = service([EndpointConfig(url=server.url, models=("smollm2:135m",))])
        async with asyncio.timeout(60):
            await llm.generate_async("How do I warm up?")
        assert len(asked(server)) == 2
    generated = of(seen, EventName.RESPONSE_GENERATED)[0]
    assert generated.api == "ollama-chat" and generated.fallbacks == ()
    assert "HTTP 503" in of(seen, EventName.ERROR_OCCURRED)[0].message


async def test_reasoning_is_never_spoken_and_runner_options_never_change():
    with ollama("--think-tags") as server:
        llm, seen = service([EndpointConfig(url=server.url, models=("smollm2:135m",))])
        async with asyncio.timeout(60):
            first = await llm.generate_async("My name is Robin. Say hello.")
            await llm.generate_async("What is my name?")
        sent = asked(server)
    chunks = "".join(e.text for e in of(seen, EventName.RESPONSE_CHUNK))
    assert "think" not in chunks and "Let me plan" not in chunks and "Let me plan" not in first
    assert all("think" not in t.reply for t in llm.history)
    assert [r["think"] for r in sent] == [False, False]
    assert sent[0]["options"] == sent[1]["options"] and sent[0]["options"]["num_ctx"] == 4096
    assert sent[0]["keep_alive"] == "30m"
    second = [m["content"] for m in sent[1]["messages"]]  # the first turn is in the context
    assert "My name is Robin. Say hello." in second and second[-1] == "What is my name?"


async def test_a_new_utterance_cancels_the_one_in_flight():
    with ollama("--delay", "0.2") as server:
        llm, seen = service([EndpointConfig(url=server.url, models=("smollm2:135m",))])
        llm.initialize()
        async with asyncio.TaskGroup() as group:
            worker = group.create_task(llm.run())
            llm.bus.emit(SpeechDetected(1, "Tell me a long story about running.", "always", 1.0, 0.0, 1.0))
            async with asyncio.timeout(30):
                while not of(seen, EventName.RESPONSE_CHUNK):
                    await asyncio.sleep(0.05)
            llm.bus.emit(SpeechDetected(2, "Stop. How do I stretch?", "always", 1.0, 0.0, 1.0))
            async with asyncio.timeout(60):
                await llm.join()
            worker.cancel()
    generated = of(seen, EventName.RESPONSE_GENERATED)
    assert [(g.turn_id, g.interrupted) for g in generated] == [(1, True), (2, False)]
    assert [t.interrupted for t in llm.history] == [True, False]
    assert llm.history[0].reply  # what had been said is kept


async def test_diagnose_and_check_connection(ollama_chat):
    llm, _ = service([EndpointConfig(url=ollama_chat.url, models=("smollm2:135m", "missing:7b")),
                      EndpointConfig(url=dead_url(), models=("x",))])
    report = await llm.failover.diagnose()
    assert report[0]["reachable"] and report[0]["api"] == "ollama-chat" and report[0]["version"]
    assert report[0]["models"] == {"smollm2:135m": True, "missing:7b": False}
    assert not report[1]["reachable"] and "refused" in report[1]["error"]
    assert await llm.failover.check_connection()
    assert await llm.failover.send_request([{"role": "user", "content": "Say hi."}])


def test_config_overrides_reach_the_first_endpoint():
    settings = parse_settings({"llm": {"endpoints": [{"url": "http://127.0.0.1:1/v1/", "api": "openai"}]}})
    llm = LLMService(config=settings.llm, default_model="m1", base_url="http://127.0.0.1:2")
    assert llm.backends[0].endpoint == "http://127.0.0.1:2" and llm.backends[0].cfg.models == ("m1",)
    assert llm.backends[0].api == "openai"


STRUCTURED = [{"role": "system", "content": "You pick out facts about the person. Answer with JSON."},
              {"role": "user", "content": "I think my left knee is sore after yesterday's run."}]


def follows_schema(text: str) -> bool:
    import json

    data = json.loads(text)  # a grammar-bound reply is JSON, whatever the model
    return isinstance(data, dict) and isinstance(data.get("facts"), list) and \
        all(isinstance(f, str) for f in data["facts"])


@pytest.mark.parametrize("api", ["ollama-chat", "ollama-generate"])
def test_structured_output_over_ollama_sends_format_and_gets_json(ollama_chat, api):
    from assistant.skills.memory import SCHEMA

    llm, _ = service([EndpointConfig(url=ollama_chat.url, api=api, models=("smollm2:135m",))],
                     embedded=EmbeddedConfig(enabled=False))  # the server's answer, or none
    before = len(asked(ollama_chat))
    text = asyncio.run(llm.structured(STRUCTURED, SCHEMA))
    assert follows_schema(text), text
    sent = asked(ollama_chat)[before:]
    assert len(sent) == 1 and sent[0]["format"] == SCHEMA


def test_structured_output_over_the_openai_server_and_the_embedded_model(openai):
    from assistant.llm.embedded import EmbeddedBackend
    from assistant.skills.memory import SCHEMA

    llm, _ = service([EndpointConfig(url=openai.url, api="openai", models=("smollm2",))],
                     embedded=EmbeddedConfig(enabled=False))  # the server's answer, or none
    assert follows_schema(asyncio.run(llm.structured(STRUCTURED, SCHEMA)))
    assert llm.backends[0].schema_in_json_object  # it refused OpenAI's json_schema form: the schema went in json_object
    cfg = LlmConfig(endpoints=())
    embedded = LLMService(config=cfg, bus=Bus(), embedded=EmbeddedBackend(cfg.embedded, 2048))
    assert follows_schema(asyncio.run(embedded.structured(STRUCTURED, SCHEMA)))


def test_an_invalid_format_gets_ollamas_400(ollama_chat):
    response = httpx.post(ollama_chat.url + "/api/chat", json={
        "model": "smollm2:135m", "messages": [{"role": "user", "content": "hi"}], "format": 7})
    assert response.status_code == 400 and "format" in response.json()["error"]


# -- a long conversation: counted tokens, refusals for length -----------------------------

SKILL_LINES = [("Log 3 sets of {i} squats at {w} kilos", "Logged: 3 sets of {i} squats at {w} kg."),
               ("Set a timer for {i} minutes and {w} seconds", "Timer set for {i} minutes {w} seconds."),
               ("How should I breathe on rep {i} of {w}?", "Breathe out as you push, in as you lower, {i} to {w}.")]


def talk(llm: LLMService, turns: int) -> None:
    """A conversation of ``turns`` exchanges full of numbers, as a morning at the gym."""
    for i in range(turns):
        user, reply = SKILL_LINES[i % 3]
        heard = user.format(i=i, w=40 + i)
        llm.conversation.begin(10_000 + i, heard)
        llm.conversation.end(10_000 + i, heard, reply.format(i=i, w=40 + i), False,
                             api="skill" if i % 3 < 2 else "openai")


def long_service(endpoints, context_tokens: int, **options) -> tuple[LLMService, list]:
    """These tests are about how a long prompt is cut, not about speed: a server's
    tokenizer is given time to count (connect) and a 2,000-token prompt, about 10 s
    of reading on two shared cores, time to be read (first_token)."""
    cfg = LlmConfig(endpoints=tuple(endpoints), timeouts=LlmTimeouts(connect=10.0, first_token=90.0,
                                                                     between_tokens=10.0),
                    options=LlmOptions(max_tokens=40, temperature=0.2, seed=5, context_tokens=context_tokens,
                                       **options))
    bus = Bus()
    seen: list = []
    bus.observe(lambda at, e: seen.append(e))
    return LLMService(config=cfg, bus=bus), seen


async def test_the_embedded_models_count_is_its_own_on_real_prompts():
    from assistant.llm.embedded import with_examples

    llm, _ = long_service([], 4096)
    backend = llm.embedded
    await backend.prepare()
    llm.prompter.training = lambda: "Training the user logged in the last week: today: 3x8 squats at 60 kg, 20 push-ups."
    llm.prompter.notes = lambda: 'What the user asked you to remember (in their words): "my left knee is sore".'
    for turns in (0, 12, 60):
        talk(llm, turns)
        messages = llm.messages_for("How long should I rest between sets?", backend)
        sent = with_examples(messages)
        ours = backend.counter.total(sent)
        theirs = backend.llama.create_chat_completion(messages=sent, max_tokens=1)["usage"]["prompt_tokens"]
        assert abs(ours - theirs) <= 0.05 * theirs, (turns, ours, theirs)


async def test_the_openai_servers_count_is_asked_for_and_within_5_percent(openai):
    llm, _ = long_service([EndpointConfig(url=openai.url, models=("smollm2",))], 1024)
    talk(llm, 60)
    backend = llm.backends[0]
    messages = await llm.prompter.prompt(backend, "How long should I rest between sets?")
    assert backend._tokenizer == "/extras/tokenize/count"  # llama-cpp-python's server counted them
    ours = backend.counter.total(messages)
    async with httpx.AsyncClient(timeout=60) as client:
        answer = await client.post(openai.url + "/v1/chat/completions", json={
            "model": "smollm2", "messages": messages, "max_tokens": 1, "stream": False})
    theirs = answer.json()["usage"]["prompt_tokens"]
    assert abs(ours - theirs) <= 0.05 * theirs, (ours, theirs)
    assert ours <= llm.prompter.budget(backend) + backend.counter.base


async def test_the_embedded_model_refusing_a_prompt_for_length_is_answered_with_less_history():
    """Counts that come out low (here a tokenizer that counts a tenth) meet llama.cpp's
    refusal ("Requested tokens (N) exceed context window of 1024"): the prompt is cut
    at a step and the question answered, with no error and no apology."""
    from assistant.llm.tokens import TokenCounter

    llm, seen = long_service([], 1024)
    await llm.embedded.prepare()
    llm.embedded.counter = TokenCounter(exact=lambda text: max(1, len(text) // 10))
    talk(llm, 90)
    async with asyncio.timeout(120):
        reply = await llm.generate_async("How long should I rest between sets?")
    generated = of(seen, EventName.RESPONSE_GENERATED)
    assert len(generated) == 1 and generated[0].api == "embedded" and not generated[0].interrupted
    assert reply and reply != llm.cfg.apology
    assert of(seen, EventName.ERROR_OCCURRED) == []
    assert llm.embedded.counter.limit == 1024 and llm.embedded.counter.ratio > 2
    assert generated[0].prompt_tokens < 1024


async def test_the_openai_server_refusing_a_prompt_for_length_is_answered_with_less_history(openai):
    """The config says 8192 tokens, the server runs with 2048: llama-cpp-python's server
    drops a streamed prompt that is too long with nothing on the wire but a cut stream."""
    llm, seen = long_service([EndpointConfig(url=openai.url, models=("smollm2",))], 8192)
    llm.cfg = dataclasses.replace(llm.cfg, embedded=EmbeddedConfig(enabled=False))  # no fallback to hide it
    talk(llm, 150)
    async with asyncio.timeout(180):
        reply = await llm.generate_async("How long should I rest between sets?")
    generated = of(seen, EventName.RESPONSE_GENERATED)
    assert len(generated) == 1 and generated[0].api == "openai" and generated[0].fallbacks == ()
    assert reply and reply != llm.cfg.apology and of(seen, EventName.ERROR_OCCURRED) == []
    backend = llm.backends[0]
    assert backend.counter.limit is not None and backend.counter.limit < 8192
    assert llm.prompter.window(backend).steps == 1


async def test_ollama_refusing_a_prompt_for_length_is_answered_with_less_history():
    """Ollama's /api/generate on a model without context shift refuses a prompt longer
    than num_ctx (400, naming no numbers). Counts that came out low (an estimate at a
    tenth, a token around each message) meet it: the prompt is halved at a step and
    answered, silently."""
    with ollama("--no-chat", "--no-context-shift") as server:
        llm, seen = long_service([EndpointConfig(url=server.url, models=("smollm2:135m",))], 2048)
        llm.cfg = dataclasses.replace(llm.cfg, embedded=EmbeddedConfig(enabled=False))
        backend = llm.backends[0]
        backend.counter.ratio, backend.counter.per_message = 0.1, 1
        talk(llm, 120)
        async with asyncio.timeout(180):
            reply = await llm.generate_async("How long should I rest between sets?")
        sent = asked(server)
    generated = of(seen, EventName.RESPONSE_GENERATED)
    assert len(generated) == 1 and generated[0].api == "ollama-generate" and generated[0].fallbacks == ()
    assert reply and reply != llm.cfg.apology and of(seen, EventName.ERROR_OCCURRED) == []
    assert len(sent) == 2 and len(sent[1]["prompt"]) < len(sent[0]["prompt"]) / 2
    assert backend.counter.limit is not None and backend.counter.limit < 2048


async def test_ollama_chat_truncates_and_reports_the_prompt_it_read():
    """/api/chat never refuses: Ollama drops the oldest messages itself. What it
    reports reading (prompt_eval_count) is what the estimate learns from."""
    with ollama() as server:
        llm, seen = long_service([EndpointConfig(url=server.url, models=("smollm2:135m",))], 2048)
        backend = llm.backends[0]
        talk(llm, 30)
        async with asyncio.timeout(120):
            await llm.generate_async("How long should I rest between sets?")
    generated = of(seen, EventName.RESPONSE_GENERATED)[0]
    counted = backend.counter.total(llm.messages_for("How long should I rest between sets?", backend))
    assert generated.api == "ollama-chat" and generated.prompt_tokens > 100
    assert backend.counter.ratio != 1.0  # learned from the report
    assert counted < 2048 - 40
