"""What every language-model backend speaks: a stream of ``Delta``s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from .config import LlmOptions


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of a streamed reply; the last one has ``done`` and the counts."""

    text: str = ""
    done: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Backend(Protocol):
    api: str  # ollama-chat, ollama-generate, openai or embedded
    endpoint: str

    def stream(self, model: str, messages: list[dict[str, str]], options: LlmOptions) -> AsyncIterator[Delta]: ...

    async def aclose(self) -> None: ...
