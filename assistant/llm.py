"""LLMService: the coach's brain. Builds the context, streams the reply from the
first backend that answers, falls back down the chain, and always says something.

The chain: each configured endpoint's models in order, then the embedded model,
then the spoken apology from config.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from .config import EndpointConfig, LlmConfig
from .context import Turn, build_messages
from .errors import LlmError
from .events import (
    AmbientSpeechDetected,
    Bus,
    EventName,
    ResponseChunk,
    ResponseGenerated,
    ResponseGenerating,
    SpeechDetected,
    SystemStopped,
)
from .llm_types import Backend
from .text import ThinkFilter

logger = logging.getLogger(__name__)

APOLOGY_API = "none"  # RESPONSE_GENERATED.api when every backend failed and the apology was spoken


@dataclass
class _Attempt:
    """What one streamed attempt produced."""

    text: str = ""
    first_token_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    started: float = field(default_factory=time.perf_counter)


class LLMService:
    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        api_type: str | None = None,
        default_model: str | None = None,
        system_prompt: str | None = None,
        config: LlmConfig | None = None,
        *,
        bus: Bus | None = None,
        embedded: Backend | None = None,
        interrupt: bool = True,
    ):
        cfg = config or LlmConfig()
        if base_url or api_type or default_model:
            first = cfg.endpoints[0] if cfg.endpoints else EndpointConfig(url=base_url or "http://127.0.0.1:11434")
            first = replace(
                first,
                url=base_url or first.url,
                api=api_type or first.api,  # type: ignore[arg-type]
                models=(default_model, *first.models) if default_model else first.models,
            )
            cfg = replace(cfg, endpoints=(first, *cfg.endpoints[1:]))
        if system_prompt is not None:
            cfg = replace(cfg, system_prompt=system_prompt)
        self.cfg = cfg
        self.api_key = api_key
        self.bus = bus or Bus()
        self.embedded = embedded
        self.interrupt = interrupt  # a new utterance cancels the reply in flight
        self.history: list[Turn] = []
        self._turns: asyncio.Queue[SpeechDetected] = asyncio.Queue()
        self._ids = itertools.count(1_000_000)
        self._current: asyncio.Task[str] | None = None

    # -- the bus ---------------------------------------------------------------

    def initialize(self, bus: Bus | None = None) -> None:
        """Subscribe to SPEECH_DETECTED, AMBIENT_SPEECH_DETECTED and SYSTEM_STOPPED."""
        if bus is not None:
            self.bus = bus
        self.bus.on(EventName.SPEECH_DETECTED, self._on_speech)
        self.bus.on(EventName.AMBIENT_SPEECH_DETECTED, self._on_ambient)
        self.bus.on(EventName.SYSTEM_STOPPED, self._on_stopped)

    def _on_speech(self, event: SpeechDetected) -> None:
        if self.interrupt and self._current is not None and not self._current.done():
            self._current.cancel()
        self._turns.put_nowait(event)

    def _on_ambient(self, event: AmbientSpeechDetected) -> None:
        logger.debug("ambient speech not answered: %r", event.text)

    def _on_stopped(self, event: SystemStopped) -> None:
        if self._current is not None:
            self._current.cancel()

    async def run(self) -> None:
        """Answer addressed utterances one at a time, in order."""
        while True:
            event = await self._turns.get()
            self._current = asyncio.ensure_future(self.generate_async(event.text, turn_id=event.utterance_id))
            try:
                await self._current
            except asyncio.CancelledError:
                if not self._current.cancelled():
                    raise  # we are being cancelled ourselves
            except Exception as err:
                self.bus.error("llm", err, turn_id=event.utterance_id)
            finally:
                self._current = None
                self._turns.task_done()

    async def join(self) -> None:
        await self._turns.join()

    # -- generation ------------------------------------------------------------

    def attempts(self) -> Sequence[tuple[Backend, str]]:
        """(backend, model) pairs in fallback order."""
        chain: list[tuple[Backend, str]] = []
        if self.embedded is not None and self.cfg.embedded.enabled:
            chain.append((self.embedded, self.cfg.embedded.model))
        return chain

    def messages_for(self, text: str) -> list[dict[str, str]]:
        budget = self.cfg.options.context_tokens - self.cfg.options.max_tokens
        return build_messages(self.cfg.system_prompt, self.history, text, budget)

    async def generate_async(self, text: str, turn_id: int | None = None) -> str:
        """Answer ``text``: emits RESPONSE_GENERATING, _CHUNK and _GENERATED; returns the reply."""
        turn_id = next(self._ids) if turn_id is None else turn_id
        messages = self.messages_for(text)
        failed: list[str] = []
        for backend, model in self.attempts():
            label = f"{backend.api}:{backend.endpoint}:{model}"
            self.bus.emit(ResponseGenerating(turn_id, backend.endpoint, backend.api, model))
            attempt = _Attempt()
            try:
                await self._stream(backend, model, messages, turn_id, attempt)
            except asyncio.CancelledError:
                self._finish(turn_id, text, attempt, backend, model, failed, interrupted=True)
                raise
            except LlmError as err:
                self.bus.error("llm", f"{label}: {err}", turn_id=turn_id)
                if attempt.text:  # part of the answer is out: end the turn, do not start over
                    notice = " " + self.cfg.interrupted_notice
                    self.bus.emit(ResponseChunk(turn_id, notice))
                    attempt.text += notice
                    return self._finish(turn_id, text, attempt, backend, model, failed, interrupted=True)
                failed.append(label)
                continue
            return self._finish(turn_id, text, attempt, backend, model, failed, interrupted=False)
        return self._apologize(turn_id, text, failed)

    async def _stream(
        self, backend: Backend, model: str, messages: list[dict[str, str]], turn_id: int, attempt: _Attempt
    ) -> None:
        timeouts = self.cfg.timeouts
        think = ThinkFilter()
        stream = backend.stream(model, messages, self.cfg.options)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeouts.total
        try:
            while True:
                wait = timeouts.first_token if not attempt.first_token_ms else timeouts.between_tokens
                wait = min(wait, deadline - loop.time())
                try:
                    async with asyncio.timeout(max(wait, 0)):
                        delta = await anext(stream)
                except StopAsyncIteration:
                    raise LlmError("the stream ended without its terminator", transient=True) from None
                except TimeoutError:
                    what = "no first token" if not attempt.first_token_ms else "stalled between tokens"
                    raise LlmError(f"{what} within {wait:.1f} s", transient=True) from None
                piece = think.feed(delta.text)
                if delta.done:
                    piece += think.flush()
                if piece:
                    if not attempt.first_token_ms:
                        attempt.first_token_ms = (time.perf_counter() - attempt.started) * 1000
                        piece = piece.lstrip()
                    attempt.text += piece
                    self.bus.emit(ResponseChunk(turn_id, piece))
                if delta.done:
                    attempt.prompt_tokens = delta.prompt_tokens
                    attempt.completion_tokens = delta.completion_tokens
                    break
        finally:
            await stream.aclose()
        if not attempt.text.strip():
            raise LlmError("the model returned an empty reply")

    def _finish(
        self,
        turn_id: int,
        heard: str,
        attempt: _Attempt,
        backend: Backend,
        model: str,
        failed: list[str],
        interrupted: bool,
    ) -> str:
        total_ms = (time.perf_counter() - attempt.started) * 1000
        reply = attempt.text.strip()
        generating_s = max(total_ms - attempt.first_token_ms, 1.0) / 1000
        self.bus.emit(
            ResponseGenerated(
                turn_id=turn_id,
                text=reply,
                model=model,
                endpoint=backend.endpoint,
                api=backend.api,
                fallbacks=tuple(failed),
                interrupted=interrupted,
                first_token_ms=round(attempt.first_token_ms, 1),
                total_ms=round(total_ms, 1),
                prompt_tokens=attempt.prompt_tokens,
                completion_tokens=attempt.completion_tokens,
                tokens_per_s=round(attempt.completion_tokens / generating_s, 1),
            )
        )
        self.history.append(Turn(user=heard, reply=reply, interrupted=interrupted))
        return reply

    def _apologize(self, turn_id: int, heard: str, failed: list[str]) -> str:
        apology = self.cfg.apology
        self.bus.emit(ResponseChunk(turn_id, apology))
        self.bus.emit(
            ResponseGenerated(turn_id=turn_id, text=apology, model="", endpoint="", api=APOLOGY_API, fallbacks=tuple(failed))
        )
        self.history.append(Turn(user=heard, reply="", interrupted=True))
        return apology

    async def chat(self, text: str) -> str:
        """Plain text in, text out (events are still emitted)."""
        return await self.generate_async(text)

    async def aclose(self) -> None:
        if self.embedded is not None:
            await self.embedded.aclose()
