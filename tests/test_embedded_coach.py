"""The offline coach (the embedded model, no server) says something short and
sensible: the benchmark's 20 coaching questions, through LLMService, each
answered in at most three sentences, none repeated, no markup. A base model
(no chat template) is refused as a chat model."""

import asyncio
import importlib.util
import sys

import pytest
from helpers import ROOT, run_cli, write_config

from assistant.config import EmbeddedConfig, LlmConfig, LlmOptions
from assistant.errors import ConfigError
from assistant.events import Bus
from assistant.llm import LLMService
from assistant.llm_embedded import EmbeddedBackend
from assistant.text import _sentence_words, repeats, split_sentences

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
