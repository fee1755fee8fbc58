"""LLMService: the coach's brain. Builds the context, streams the reply from the
first backend that answers, falls back down the chain, and always says something.

The chain: each configured endpoint's models in order, then the embedded model,
then the spoken apology from config.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict, deque
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
from .text import ReplyGuard, ThinkFilter

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


MAX_PENDING_TURNS = 256  # questions waiting for an answer; POST /say is refused (429) past this
HISTORY_TURNS = 200  # turns kept in memory for the context (the store keeps more)
ROWS_KEPT = 16  # finished turns whose stored reply a late barge-in may still cut


@dataclass
class _Turn:
    """One addressed utterance on its way to exactly one RESPONSE_GENERATED and one row."""

    turn_id: int
    heard: str
    row: int | None  # the store's handle
    ended: bool = False


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
        self._rows: OrderedDict[int, int] = OrderedDict()  # finished turn -> its row (a barge-in may still cut it)
        self.api_key = api_key
        self.bus = bus or Bus()
        self.embedded = embedded
        self.interrupt = interrupt  # a new utterance cancels the reply in flight
        self.backends = [HttpBackend(e, cfg, api_key) for e in cfg.endpoints]
        self._retired: list[HttpBackend] = []
        self.history: deque[Turn] = deque(maxlen=HISTORY_TURNS)
        self._turns: asyncio.Queue[SpeechDetected] = asyncio.Queue(maxsize=MAX_PENDING_TURNS)
        self._current: asyncio.Task[str] | None = None
        self._active: _Turn | None = None  # the turn being answered
        self._heard: dict[int, str] = {}  # the active turn -> what the user heard of it, once cut

    # -- the bus ---------------------------------------------------------------

    def initialize(self, bus: Bus | None = None) -> None:
        """Subscribe to SPEECH_DETECTED, AMBIENT_SPEECH_DETECTED and SYSTEM_STOPPED."""
        if bus is not None:
            self.bus = bus
        self.bus.on(EventName.SPEECH_DETECTED, self._on_speech)
        self.bus.on(EventName.AMBIENT_SPEECH_DETECTED, self._on_ambient)
        self.bus.on(EventName.SYSTEM_STOPPED, self._on_stopped)

    def accepts(self) -> bool:
        """Room for another question (POST /say asks before it emits one)."""
        return self.interrupt or not self._turns.full()

    def _on_speech(self, event: SpeechDetected) -> None:
        if self.interrupt:  # live: a new question makes the older ones moot
            self.cancel()
            while not self._turns.empty():
                moot = self._turns.get_nowait()
                self._end(self._begin(moot.text, moot.utterance_id), "", interrupted=True)
                self._turns.task_done()
        if self._turns.full():
            turn = self._begin(event.text, event.utterance_id)
            self.bus.error("llm", f"{MAX_PENDING_TURNS} questions already wait; this one is not answered",
                           turn_id=event.utterance_id)
            self._end(turn, "", interrupted=True)
            return
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
            try:
                await self._answer(event)
            finally:
                self._turns.task_done()

    async def _answer(self, event: SpeechDetected) -> None:
        # Begun before the task exists: a task cancelled before its first step never
        # runs its body, and the turn must end all the same (the finally below).
        turn = self._begin(event.text, event.utterance_id)
        task = self._current = asyncio.ensure_future(self._generate(turn))
        try:
            try:
                await asyncio.wait([task])  # a cancelled turn does not cancel this worker
            except asyncio.CancelledError:  # the worker itself is stopping
                task.cancel()
                await asyncio.wait([task], timeout=1.0)  # the turn ends with what it has
                raise
            if not task.cancelled() and task.exception() is not None:
                self.bus.error("llm", task.exception(), turn_id=turn.turn_id)  # type: ignore[arg-type]
        finally:
            self._current = None
            self._end(turn, "", interrupted=True)  # a no-op when the turn has ended

    async def join(self) -> None:
        await self._turns.join()

    # -- one turn: begun, generated, ended exactly once --------------------------

    def _begin(self, heard: str, turn_id: int) -> _Turn:
        row = self.store.begin(heard) if self.store is not None else None  # kept even if we crash
        return _Turn(turn_id, heard, row)

    def _end(
        self,
        turn: _Turn,
        reply: str,
        *,
        interrupted: bool,
        attempt: _Attempt | None = None,
        backend: Backend | None = None,
        model: str = "",
        failed: Sequence[str] = (),
        spoken: str = "",
    ) -> str:
        """Emit the turn's one RESPONSE_GENERATED and write its row. ``spoken``: the
        apology, said but not part of the conversation."""
        if turn.ended:
            return reply
        turn.ended = True
        if self._active is turn:
            self._active = None
        a = attempt or _Attempt()
        total_ms = (time.perf_counter() - a.started) * 1000 if attempt else 0.0
        generating_s = max(total_ms - a.first_token_ms, 1.0) / 1000
        api = backend.api if backend is not None else APOLOGY_API
        self.bus.emit(
            ResponseGenerated(
                turn_id=turn.turn_id,
                text=spoken or reply,
                model=model,
                endpoint=backend.endpoint if backend is not None else "",
                api=api,
                fallbacks=tuple(failed),
                interrupted=interrupted,
                first_token_ms=round(a.first_token_ms, 1),
                total_ms=round(total_ms, 1),
                prompt_tokens=a.prompt_tokens,
                completion_tokens=a.completion_tokens,
                tokens_per_s=round(a.completion_tokens / generating_s, 1),
            )
        )
        heard = self._heard.pop(turn.turn_id, None)
        if heard is not None:  # barge-in: keep what was heard, not what was written
            reply, interrupted = heard, True
        self.history.append(Turn(user=turn.heard, reply=reply, interrupted=interrupted, turn_id=turn.turn_id))
        if self.store is not None and turn.row is not None:
            self.store.finish(turn.row, reply, interrupted, model, api,
                              round(a.first_token_ms, 1) if attempt else None, round(total_ms, 1) if attempt else None)
            self._rows[turn.turn_id] = turn.row
            while len(self._rows) > ROWS_KEPT:
                self._rows.popitem(last=False)
        return spoken or reply

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
        turn = self._begin(text, self.bus.new_turn_id() if turn_id is None else turn_id)
        try:
            return await self._generate(turn)
        finally:
            self._end(turn, "", interrupted=True)  # a no-op when the turn has ended

    async def _generate(self, turn: _Turn) -> str:
        """Down the fallback chain. Whatever a backend raises is a failure of that
        backend, never of the turn: the turn ends in an answer, a partial answer or
        the apology."""
        self._active = turn
        turn_id = turn.turn_id
        try:
            messages = self.messages_for(turn.heard)
        except Exception as err:
            self.bus.error("llm", f"cannot build the context: {type(err).__name__}: {err}", turn_id=turn_id)
            return self._apologize(turn, [])
        failed: list[str] = []
        down: set[int] = set()  # endpoints found dead during this turn
        retries = self.cfg.retries
        for backend, model in self.attempts():
            if id(backend) in down:
                continue
            for tries in range(1, retries.attempts + 1):
                attempt = _Attempt()
                label = f"{backend.api} {backend.endpoint} {model}"
                try:
                    if isinstance(backend, _LazyEmbedded):
                        backend = await self.load_embedded()
                        label = f"{backend.api} {backend.endpoint} {model}"
                    await self._stream(backend, model, messages, turn_id, attempt)
                except asyncio.CancelledError:
                    self._end(turn, attempt.text.strip(), interrupted=True, attempt=attempt, backend=backend,
                              model=model, failed=failed)
                    raise
                except Exception as raised:
                    err = raised if isinstance(raised, LlmError) else LlmError(f"{type(raised).__name__}: {raised}")
                    if not isinstance(raised, LlmError):
                        logger.debug("llm: %s raised", label, exc_info=raised)
                    self.bus.error("llm", f"{label}: {err}", turn_id=turn_id)
                    if attempt.text:  # part of the answer is out: end the turn, do not start over
                        notice = " " + self.cfg.interrupted_notice
                        self.bus.emit(ResponseChunk(turn_id, notice))
                        attempt.text += notice
                        reply = self._end(turn, attempt.text.strip(), interrupted=True, attempt=attempt,
                                          backend=backend, model=model, failed=failed)
                        _forget(backend)  # after the turn named the api it was spoken with
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
                return self._end(turn, attempt.text.strip(), interrupted=False, attempt=attempt, backend=backend,
                                 model=model, failed=failed)
        return self._apologize(turn, failed)

    async def _stream(
        self, backend: Backend, model: str, messages: list[dict[str, str]], turn_id: int, attempt: _Attempt
    ) -> None:
        timeouts = self.cfg.timeouts
        think = ThinkFilter()
        guard = ReplyGuard(self.cfg.embedded.max_sentences if backend.api == "embedded" else None)
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
                over_total = deadline - loop.time() <= wait
                wait = min(wait, deadline - loop.time())
                try:
                    async with asyncio.timeout(max(wait, 0)):
                        delta = await anext(stream)
                except StopAsyncIteration:
                    raise LlmError("the stream ended without its terminator", transient=True) from None
                except TimeoutError:
                    if over_total:
                        raise LlmError(f"the reply took longer than llm.timeouts.total ({timeouts.total:g} s)") from None
                    if not attempt.first_token_ms:
                        raise LlmError(f"no first token within {wait:.1f} s", endpoint_down=True) from None
                    raise LlmError(f"stalled: no token for {wait:.1f} s") from None
                piece = think.feed(delta.text)
                if delta.done:
                    piece += think.flush()
                piece, enough = guard.feed(piece)
                if delta.done and not enough:
                    piece += guard.flush()
                if piece and not attempt.text:
                    piece = piece.lstrip()
                if piece:
                    if not attempt.first_token_ms:
                        attempt.first_token_ms = (time.perf_counter() - attempt.started) * 1000
                    attempt.text += piece
                    self.bus.emit(ResponseChunk(turn_id, piece))
                if enough and attempt.text.strip():
                    logger.info("llm: reply cut at %s", guard.reason)
                    break
                if delta.done:
                    attempt.prompt_tokens = delta.prompt_tokens
                    attempt.completion_tokens = delta.completion_tokens
                    break
        finally:
            await stream.aclose()
        if not attempt.text.strip():
            raise LlmError("the model returned an empty reply")

    def _apologize(self, turn: _Turn, failed: list[str]) -> str:
        apology = self.cfg.apology
        self.bus.emit(ResponseChunk(turn.turn_id, apology))
        return self._end(turn, "", interrupted=True, failed=failed, spoken=apology)

    def cancel(self) -> None:
        """Stop the generation in flight (its HTTP stream is closed)."""
        if self._current is not None and not self._current.done():
            self._current.cancel()

    def mark_interrupted(self, turn_id: int, heard: str) -> None:
        """The user cut the reply off: remember only what they heard of it."""
        for index in range(len(self.history) - 1, -1, -1):
            turn = self.history[index]
            if turn.turn_id == turn_id:
                self.history[index] = Turn(turn.user, heard, True, turn.ambient, turn_id)
                if self.store is not None and turn_id in self._rows:
                    self.store.cut(self._rows[turn_id], heard)
                return
        if self._active is not None and self._active.turn_id == turn_id:
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
