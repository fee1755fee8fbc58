"""LLMService: the coach's brain. Builds the context, streams the reply from the
first backend that answers, falls back down the chain, and always says something.

The chain: each configured endpoint's models in order, then the embedded model,
then the spoken apology from config.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace

from .config import EndpointConfig, LlmConfig, PersonaConfig, render_system_prompt
from .context import Turn, build_messages
from .errors import LlmError
from .history import HistoryStore
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
from .llm_http import HttpBackend
from .llm_types import Backend, Delta
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
        persona: PersonaConfig | None = None,
        store: HistoryStore | None = None,
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
        self.cfg = cfg
        # An explicit prompt is used as given; the config's is a template for the persona.
        self.system_prompt = (
            system_prompt if system_prompt is not None else render_system_prompt(cfg.system_prompt, persona or PersonaConfig())
        )
        self.store = store
        self._rows: dict[int, int] = {}  # turn in progress -> its row in the store
        self._done_rows: dict[int, int] = {}  # finished turn -> its row (a barge-in may still cut it)
        self.api_key = api_key
        self.bus = bus or Bus()
        self.embedded = embedded
        self.interrupt = interrupt  # a new utterance cancels the reply in flight
        self.backends = [HttpBackend(e, cfg, api_key) for e in cfg.endpoints]
        self._retired: list[HttpBackend] = []
        self.history: list[Turn] = []
        self._turns: asyncio.Queue[SpeechDetected] = asyncio.Queue()
        self._ids = itertools.count(1_000_000)
        self._current: asyncio.Task[str] | None = None
        self._heard: dict[int, str] = {}  # turn -> what the user heard of a reply cut short

    # -- the bus ---------------------------------------------------------------

    def initialize(self, bus: Bus | None = None) -> None:
        """Subscribe to SPEECH_DETECTED, AMBIENT_SPEECH_DETECTED and SYSTEM_STOPPED."""
        if bus is not None:
            self.bus = bus
        self.bus.on(EventName.SPEECH_DETECTED, self._on_speech)
        self.bus.on(EventName.AMBIENT_SPEECH_DETECTED, self._on_ambient)
        self.bus.on(EventName.SYSTEM_STOPPED, self._on_stopped)

    def _on_speech(self, event: SpeechDetected) -> None:
        if self.interrupt:
            self.cancel()
        self._turns.put_nowait(event)

    def _on_ambient(self, event: AmbientSpeechDetected) -> None:
        if self.store is not None:
            self.store.begin(event.text, addressed=False)
        if self.cfg.keep_ambient:  # context only: overheard notes, never questions
            self.history.append(Turn(user=event.text, ambient=True))

    def reconfigure(self, cfg: LlmConfig, persona: PersonaConfig) -> None:
        """A reloaded config: new endpoints and prompt from the next turn on."""
        old = self.backends
        self.cfg = cfg
        self.system_prompt = render_system_prompt(cfg.system_prompt, persona)
        self.backends = [HttpBackend(e, cfg, self.api_key) for e in cfg.endpoints]
        self._retired.extend(old)  # closed with the service: a turn may still be using them

    def resume(self, count: int) -> int:
        """Start from the last ``count`` stored turns (after a restart); returns how many."""
        if self.store is None:
            return 0
        for row in self.store.last(count):
            if row.addressed or self.cfg.keep_ambient:
                self.history.append(Turn(row.heard, row.reply, row.interrupted, ambient=not row.addressed))
        return len(self.history)

    def _on_stopped(self, event: SystemStopped) -> None:
        self.cancel()

    async def run(self) -> None:
        """Answer addressed utterances one at a time, in order."""
        while True:
            event = await self._turns.get()
            self._current = asyncio.ensure_future(self.generate_async(event.text, turn_id=event.utterance_id))
            try:
                await self._current
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    raise  # we are being cancelled ourselves, not just the turn
            except Exception as err:
                self.bus.error("llm", err, turn_id=event.utterance_id)
            finally:
                self._current = None
                self._turns.task_done()

    async def join(self) -> None:
        await self._turns.join()

    # -- generation ------------------------------------------------------------

    def attempts(self) -> Sequence[tuple[Backend, str]]:
        """(backend, model) pairs in fallback order: every endpoint's models, then embedded."""
        chain: list[tuple[Backend, str]] = [(b, m) for b in self.backends for m in b.cfg.models]
        if self.cfg.embedded.enabled:
            chain.append((self._embedded_backend(), self.cfg.embedded.model))
        return chain

    def _embedded_backend(self) -> Backend:
        return self.embedded if self.embedded is not None else _LazyEmbedded(self)

    async def load_embedded(self) -> Backend:
        """The embedded model, loaded once, in a worker thread, on first need."""
        if self.embedded is None:
            from .llm_embedded import EmbeddedBackend

            self.embedded = await asyncio.to_thread(
                EmbeddedBackend, self.cfg.embedded, self.cfg.options.context_tokens
            )
        return self.embedded

    def messages_for(self, text: str) -> list[dict[str, str]]:
        budget = self.cfg.options.context_tokens - self.cfg.options.max_tokens
        return build_messages(self.system_prompt, self.history, text, budget)

    async def generate_async(self, text: str, turn_id: int | None = None) -> str:
        """Answer ``text``: emits RESPONSE_GENERATING, _CHUNK and _GENERATED; returns the reply."""
        turn_id = next(self._ids) if turn_id is None else turn_id
        messages = self.messages_for(text)
        if self.store is not None:  # the question is kept even if we crash while answering
            self._rows[turn_id] = self.store.begin(text)
        failed: list[str] = []
        down: set[int] = set()  # endpoints found dead during this turn
        retries = self.cfg.retries
        for backend, model in self.attempts():
            if id(backend) in down:
                continue
            for tries in range(1, retries.attempts + 1):
                attempt = _Attempt()
                try:
                    if isinstance(backend, _LazyEmbedded):
                        backend = await self.load_embedded()
                    await self._stream(backend, model, messages, turn_id, attempt)
                except asyncio.CancelledError:
                    self._finish(turn_id, text, attempt, backend, model, failed, interrupted=True)
                    raise
                except LlmError as err:
                    label = f"{backend.api} {backend.endpoint} {model}"
                    self.bus.error("llm", f"{label}: {err}", turn_id=turn_id)
                    if attempt.text:  # part of the answer is out: end the turn, do not start over
                        notice = " " + self.cfg.interrupted_notice
                        self.bus.emit(ResponseChunk(turn_id, notice))
                        attempt.text += notice
                        reply = self._finish(turn_id, text, attempt, backend, model, failed, interrupted=True)
                        _forget(backend)
                        return reply
                    _forget(backend)
                    if err.transient and tries < retries.attempts:
                        delay = retries.backoff * 2 ** (tries - 1) * (1 + random.random())
                        logger.warning("llm: %s: retry %d in %.2f s", label, tries, delay)
                        await asyncio.sleep(delay)
                        continue
                    if err.endpoint_down:
                        down.add(id(backend))
                    failed.append(label)
                    logger.warning("llm: falling back from %s", label)
                    break
                return self._finish(turn_id, text, attempt, backend, model, failed, interrupted=False)
        return self._apologize(turn_id, text, failed)

    async def _stream(
        self, backend: Backend, model: str, messages: list[dict[str, str]], turn_id: int, attempt: _Attempt
    ) -> None:
        timeouts = self.cfg.timeouts
        think = ThinkFilter()
        if isinstance(backend, HttpBackend):
            try:
                async with asyncio.timeout(timeouts.first_token):
                    await backend.ensure_detected()
            except TimeoutError:
                raise LlmError(f"no answer within {timeouts.first_token:.1f} s", endpoint_down=True) from None
        self.bus.emit(ResponseGenerating(turn_id, backend.endpoint, backend.api, model))
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
                    if not attempt.first_token_ms:
                        raise LlmError(f"no first token within {wait:.1f} s", endpoint_down=True) from None
                    raise LlmError(f"stalled: no token for {wait:.1f} s") from None
                piece = think.feed(delta.text)
                if delta.done:
                    piece += think.flush()
                if piece and not attempt.text:
                    piece = piece.lstrip()
                if piece:
                    if not attempt.first_token_ms:
                        attempt.first_token_ms = (time.perf_counter() - attempt.started) * 1000
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
        if turn_id in self._heard:  # barge-in: keep what was heard, not what was written
            reply, interrupted = self._heard.pop(turn_id), True
        self.history.append(Turn(user=heard, reply=reply, interrupted=interrupted, turn_id=turn_id))
        if self.store is not None and turn_id in self._rows:
            self._done_rows[turn_id] = self._rows[turn_id]
            self.store.finish(self._rows.pop(turn_id), reply, interrupted, model, backend.api,
                              round(attempt.first_token_ms, 1), round(total_ms, 1))
        return reply

    def _apologize(self, turn_id: int, heard: str, failed: list[str]) -> str:
        apology = self.cfg.apology
        self.bus.emit(ResponseChunk(turn_id, apology))
        self.bus.emit(
            ResponseGenerated(turn_id=turn_id, text=apology, model="", endpoint="", api=APOLOGY_API, fallbacks=tuple(failed))
        )
        self.history.append(Turn(user=heard, reply="", interrupted=True, turn_id=turn_id))
        if self.store is not None and turn_id in self._rows:
            self.store.finish(self._rows.pop(turn_id), "", True, "", APOLOGY_API)
        return apology

    def cancel(self) -> None:
        """Stop the generation in flight (its HTTP stream is closed)."""
        if self._current is not None and not self._current.done():
            self._current.cancel()

    def mark_interrupted(self, turn_id: int, heard: str) -> None:
        """The user cut the reply off: remember only what they heard of it."""
        for index, turn in enumerate(self.history):
            if turn.turn_id == turn_id:
                self.history[index] = Turn(turn.user, heard, True, turn.ambient, turn_id)
                if self.store is not None and turn_id in self._done_rows:
                    self.store.cut(self._done_rows[turn_id], heard)
                return
        self._heard[turn_id] = heard  # still generating: applied when the turn ends

    async def chat(self, text: str) -> str:
        """Plain text in, text out (events are still emitted)."""
        return await self.generate_async(text)

    async def send_request(
        self, messages: list[dict[str, str]], model: str | None = None, endpoint: int = 0
    ) -> str:
        """The low-level call: one streamed request to one endpoint (or the embedded
        model when there is none), no fallback, no events; returns the text."""
        if self.backends:
            backend: Backend = self.backends[endpoint]
            model = model or (self.backends[endpoint].cfg.models or ("",))[0]
        else:
            backend, model = await self.load_embedded(), model or self.cfg.embedded.model
        think = ThinkFilter()
        parts = []
        async with asyncio.timeout(self.cfg.timeouts.total):
            async for delta in backend.stream(model, messages, self.cfg.options):
                parts.append(think.feed(delta.text))
        return ("".join(parts) + think.flush()).strip()

    async def check_connection(self) -> bool:
        """True when at least one endpoint answers (or, with none, the embedded model loads)."""
        for backend in self.backends:
            try:
                async with asyncio.timeout(self.cfg.timeouts.connect + 1):
                    await backend.ensure_detected()
                return True
            except (LlmError, TimeoutError):
                backend.forget()
        if self.cfg.embedded.enabled:
            try:
                await self.load_embedded()
                return True
            except LlmError:
                return False
        return False

    async def warm(self) -> None:
        """Load the primary model without generating, so the first answer is quick;
        else have the embedded model read the system prompt and resumed history."""
        for backend in self.backends:
            if backend.cfg.models:
                try:
                    async with asyncio.timeout(self.cfg.timeouts.first_token):
                        await backend.warm(backend.cfg.models[0])
                    return
                except (LlmError, TimeoutError) as err:
                    logger.warning("llm: cannot warm %s: %s", backend.endpoint, err or "timed out")
                    backend.forget()
        prefill = getattr(self.embedded, "prefill", None)
        if prefill is not None and self.cfg.embedded.enabled:
            started = time.perf_counter()
            await asyncio.to_thread(prefill, self.messages_for("Hello."))
            logger.info("llm: embedded model read the context in %.0f ms", (time.perf_counter() - started) * 1000)

    async def diagnose(self) -> list[dict[str, object]]:
        """Per endpoint: reachable, detected api, server version, models, configured models present."""
        return [await backend.report(self.cfg.timeouts.connect + 2) for backend in self.backends]

    async def aclose(self) -> None:
        for backend in self.backends + self._retired:
            await backend.aclose()
        if self.embedded is not None:
            await self.embedded.aclose()


def _forget(backend: Backend) -> None:
    """After a failure an auto endpoint is detected again: it may have been replaced."""
    if isinstance(backend, HttpBackend):
        backend.forget()


class _LazyEmbedded:
    """Stands for the embedded model in the chain until it is first needed."""

    api = "embedded"

    def __init__(self, service: LLMService):
        self.service = service
        self.endpoint = "embedded"

    def stream(self, model: str, messages: list[dict[str, str]], options: object) -> AsyncIterator[Delta]:
        raise NotImplementedError  # LLMService._stream loads the real backend first

    async def aclose(self) -> None:
        return None
