"""What every language-model backend speaks: a stream of ``Delta``s."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol

from assistant.core.config import LlmOptions
from assistant.llm.tokens import TokenCounter


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of a streamed reply; the last one has ``done`` and the counts."""

    text: str = ""
    done: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Backend(Protocol):
    """A language model LLMService can stream from, without asking what kind it is:
    an HTTP server (Ollama chat, Ollama generate, OpenAI-compatible) or the
    embedded llama.cpp model."""

    api: str  # ollama-chat, ollama-generate, openai or embedded ("auto" until an HTTP server is detected)
    endpoint: str  # what errors and events call it: a URL, or "embedded:<file>"
    counter: TokenCounter  # its tokens, counted as exactly as it allows (assistant.llm.tokens)
    prompt_tokens_max: int | None  # the longest prompt it reads fast enough (None: its window is the limit)
    reads_ahead: bool  # reads the conversation while the coach is quiet (not a hosted endpoint: it bills)

    @property
    def reserved(self) -> int: ...  # tokens it adds to every prompt itself (the embedded model's examples)

    @property
    def models(self) -> tuple[str, ...]: ...  # its models in fallback order

    async def prepare(self) -> None:
        """Ready to stream: detect what an HTTP server speaks, load the embedded model.
        Done once; raises LlmError (or ConfigError for a model that can never work)."""

    def forget(self) -> None:
        """After a failure: prepare again next time (a server may have been replaced)."""

    async def prefill(self, model: str, messages: list[dict[str, str]]) -> None:
        """Warm up without answering: Ollama loads the model, the embedded model reads
        the prompt so the next one sharing its prefix only pays for its new tokens."""

    def stream(
        self, model: str, messages: list[dict[str, str]], options: LlmOptions, schema: dict | None = None
    ) -> AsyncGenerator[Delta, None]:
        """The reply, streamed. ``schema``: a JSON schema the reply must follow
        (structured output: Ollama's ``format``, OpenAI's ``response_format``, a
        grammar for the embedded model)."""
        ...

    async def aclose(self) -> None: ...
