"""The offline coach (the embedded model, no server) says something short and
sensible: the benchmark's 20 coaching questions, through LLMService, each
answered in at most three sentences, none repeated, no markup. A base model
(no chat template) is refused as a chat model. The model gives way while a
reply's first sentence is synthesized."""

import asyncio
import importlib.util
import sys
import threading

import pytest
from helpers import ROOT, run_cli, write_config

from assistant.core.bus import Bus
from assistant.core.config import EmbeddedConfig, LlmConfig, LlmOptions
from assistant.core.errors import ConfigError
from assistant.core.workers import Foreground
from assistant.llm.embedded import EmbeddedBackend
from assistant.llm.service import LLMService
from assistant.speech.text import _sentence_words, repeats, split_sentences

spec = importlib.util.spec_from_file_location("answers", ROOT / "benchmarks" / "answers.py")
answers = sys.modules["answers"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(answers)


async def test_the_embedded_coach_answers_short_without_repeats_or_markup():
    service = LLMService(config=LlmConfig(endpoints=(), options=LlmOptions(seed=3)), bus=Bus())
    replies = []
    try:
        for question in answers.QUESTIONS:
            async with asyncio.timeout(60):
                replies.append(await service.generate_async(question))
            service.history.clear()
    finally:
        await service.aclose()
    for question, reply in zip(answers.QUESTIONS, replies):
        sentences = split_sentences(reply)
        words = [_sentence_words(s) for s in sentences]
        assert 1 <= len(sentences) <= 3, (question, reply)
        assert not any(repeats(w, earlier) for i, w in enumerate(words) for earlier in words[:i]), reply
        assert not answers.MARKUP.search(reply), reply
        assert reply != LlmConfig().apology


def test_a_base_model_is_refused_as_the_coach(tmp_path):
    with pytest.raises(ConfigError, match=r"llm\.embedded\.model: .* is a base model \(no chat template"):
        EmbeddedBackend(EmbeddedConfig(model="gemma3-270m"), 512)
    config = write_config(tmp_path / "c.yaml", "llm:\n  endpoints: []\n  embedded: {model: gemma3-270m}\n")
    result = run_cli("run", "--config", config, "--input", ROOT / "samples" / "question.wav", "--output",
                     tmp_path / "o.wav", timeout=120)
    assert result.code == 2 and result.stderr.count("\n") == 1 and "llm.embedded.model" in result.stderr


async def test_the_model_holds_still_while_a_first_sentence_is_voiced():
    """While a ``Foreground.first`` block runs, the in-process model computes no
    further token (at most the one already under way comes out); after it, the
    reply goes on to its end."""
    foreground = Foreground(limit_s=30)
    backend = EmbeddedBackend(EmbeddedConfig(), 1024, foreground)
    arrived: list[tuple[bool, str]] = []  # (the gate held when the token arrived, text)
    release = threading.Event()

    def voice_first_sentence():
        with foreground.first():
            release.wait(30)

    holder = None
    async with asyncio.timeout(120):
        async for delta in backend.stream("smollm2-135m", [{"role": "user", "content": "How do I warm up?"}],
                                          LlmOptions(max_tokens=30, seed=5, temperature=0.0)):
            if delta.text:
                arrived.append((foreground.held, delta.text))
            if len(arrived) == 3 and holder is None:
                holder = threading.Thread(target=voice_first_sentence)
                holder.start()
                while not foreground.held:
                    await asyncio.sleep(0.001)
                await asyncio.sleep(0.5)  # long enough for tens of tokens
                release.set()
    holder.join()
    during = [text for held, text in arrived[3:] if held]
    assert len(during) <= 1, during
    assert len(arrived) > 5  # and then the reply went on


def test_foreground_wait_passes_at_once_unless_a_first_block_runs():
    foreground = Foreground(limit_s=0.05)
    assert not foreground.held and foreground.wait() is False
    with foreground.first():
        with foreground.first():  # nested: held until the outer one ends
            pass
        assert foreground.held
        assert foreground.wait() is True  # held, and let go after limit_s
    assert not foreground.held and foreground.wait() is False


async def test_while_the_coach_is_quiet_the_model_reads_ahead_what_was_said_since():
    """Skill turns since the model last answered are read while the user trains, not
    when the next question comes: after SPEAKING_FINISHED, the model's cache holds
    the whole next prompt but the question itself."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from assistant.core.events import SpeakingFinished
    from assistant.llm.embedded import with_examples

    bus = Bus()
    llm = LLMService(config=LlmConfig(endpoints=(), options=LlmOptions(seed=3, max_tokens=40)), bus=bus)
    llm.initialize()
    worker = asyncio.ensure_future(llm.run())
    try:
        async with asyncio.timeout(120):
            await llm.warm()
            await llm.generate_async("How should I warm up?")
            for i in range(4):
                turn = bus.new_turn_id()
                llm.conversation.begin(turn, f"Log {i + 10} push-ups")
                llm.conversation.end(turn, f"Log {i + 10} push-ups", f"Logged {i + 10} push-ups.", False, api="skill")
            llama = llm.embedded.llama
            text = llama._model.token_get_text
            formatter = Jinja2ChatFormatter(llama.metadata["tokenizer.chat_template"], text(llama.token_eos()),
                                            text(llama.token_bos()))

            def shared() -> tuple[int, int]:
                """(tokens of the next prompt already read, tokens of the next prompt)"""
                prompt = formatter(messages=with_examples(llm.messages_for("And after that?", llm.embedded))).prompt
                tokens = llama.tokenize(prompt.encode(), add_bos=False, special=True)
                common = 0
                for cached, wanted in zip(llama._input_ids, tokens):  # noqa: B905
                    if cached != wanted:
                        break
                    common += 1
                return common, len(tokens)

            before, whole = shared()
            assert whole - before > 40  # four skill turns are not read yet
            bus.emit(SpeakingFinished(turn, False, 1.0))
            while shared()[0] == before:  # the read takes a moment; the user's pause is the point
                await asyncio.sleep(0.05)
            after, whole = shared()
            assert whole - after <= 12  # only the question and the template around it are left
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        await llm.aclose()
