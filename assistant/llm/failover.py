"""The fallback chain: each configured endpoint's models in order, then the
embedded model. One question goes down it until a backend answers (retrying a
transient failure, shortening a prompt refused for length, skipping an endpoint
found dead); the one-off calls (a structured reply, a probe, a warm-up) use it
too. What the turn makes of the result is ``service.LLMService``'s."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field

from assistant.core.bus import Bus
from assistant.core.config import LlmConfig
from assistant.core.errors import ConfigError, LlmError
from assistant.core.events import ResponseChunk
from assistant.llm.backend import Backend
from assistant.llm.probe import probe
from assistant.llm.prompt import Prompter
from assistant.llm.servers import HttpBackend
from assistant.llm.stream import Attempt, stream_attempt
from assistant.llm.tokens import named_request, named_window
from assistant.speech.text import ThinkFilter

logger = logging.getLogger(__name__)

UNNAMED_SHORTENINGS = 3  # a prompt dropped for length with no window named is halved at most this often


@dataclass
class Outcome:
    """What the chain gave for one question, filled in as it goes (a cancelled
    question leaves what it had): the knowledge base's answer (``offline``), a
    backend's whole answer (``complete``), part of one (``attempt.text``), or
    nothing but ``failed``."""

    offline: str | None = None
    attempt: Attempt | None = None
    backend: Backend | None = None
    model: str = ""
    api: str = ""  # set when a failed backend forgets what it detected; else the backend's own, read at the end
    complete: bool = False
    failed: list[str] = field(default_factory=list)  # the backends that failed, as "api endpoint model"


class Failover:
    def __init__(self, cfg: LlmConfig, embedded: Backend | None, prompter: Prompter, bus: Bus,
                 api_key: str | None = None):
        self.cfg = cfg
        self.embedded = embedded
        self.prompter = prompter
        self.bus = bus
        self.api_key = api_key
        self.servers = [HttpBackend(e, cfg, api_key) for e in cfg.endpoints]
        self._retired: list[HttpBackend] = []
        self.read_by: tuple[Backend, str] | None = None  # the backend and model that last answered (or were warmed)

    def reconfigure(self, cfg: LlmConfig) -> None:
        """A reloaded config: new endpoints from the next question on."""
        self._retired.extend(self.servers)  # closed with the service: a turn may still be using them
        self.cfg = cfg
        self.servers = [HttpBackend(e, cfg, self.api_key) for e in cfg.endpoints]
        self.read_by = None  # nothing is read ahead on a retired endpoint

    def chain(self) -> list[Backend]:
        """The backends in fallback order: every endpoint, then the embedded model."""
        embedded = [self.embedded] if self.embedded is not None and self.cfg.embedded.enabled else []
        return [*self.servers, *embedded]

    def attempts(self) -> Sequence[tuple[Backend, str]]:
        """(backend, model) pairs in fallback order."""
        return [(backend, model) for backend in self.chain() for model in backend.models]

    async def answer(self, turn_id: int, heard: str, outcome: Outcome,
                     offline: Callable[[str], str | None]) -> None:
        """Down the chain for ``heard``, streaming RESPONSE_GENERATING and _CHUNK.
        Whatever a backend raises is a failure of that backend, never of the turn.
        A refusal for length is not a failure: the prompt is cut at a step and sent
        once more, silently. ``offline(heard)``: the embedded model's stand-in (the
        knowledge base), asked when the chain reaches it."""
        down: set[int] = set()  # endpoints found dead during this question
        retries = self.cfg.retries
        for backend, model in self.attempts():
            if id(backend) in down:
                continue
            if backend.api == "embedded" and (said := offline(heard)) is not None:
                outcome.offline = said
                return
            tries, shortened = 1, 0
            while True:
                attempt = outcome.attempt = Attempt()
                outcome.backend, outcome.model, outcome.api = backend, model, ""
                label = f"{backend.api} {backend.endpoint} {model}"
                messages: list[dict[str, str]] = []
                try:
                    messages = await self.prompter.prompt(backend, heard)
                    await stream_attempt(backend, model, messages, self.cfg, attempt, turn_id, self.bus.emit)
                except asyncio.CancelledError:
                    raise
                except Exception as raised:
                    failure = raised if isinstance(raised, LlmError) else LlmError(f"{type(raised).__name__}: {raised}")
                    if isinstance(raised, TimeoutError):  # not ready in time (detection, loading)
                        failure = LlmError(f"no answer within {self.cfg.timeouts.first_token:.1f} s",
                                           endpoint_down=True)
                    # A stream that dies before its first token, on a longer prompt than the server
                    # ever answered, is taken for a refusal for length that names no window: the
                    # prompt is halved, up to three times. A refusal that names it is retried once.
                    unnamed = failure.dropped and backend.counter.total(messages) > backend.counter.answered
                    if messages and not attempt.text and (
                            (failure.too_long and not shortened) or (unnamed and shortened < UNNAMED_SHORTENINGS)):
                        self._shorten(backend, messages, str(failure))
                        backend.forget()
                        shortened += 1
                        continue
                    if not isinstance(raised, LlmError):
                        logger.debug("llm: %s raised", label, exc_info=raised)
                    self.bus.error("llm", f"{label}: {failure}", turn_id=turn_id)
                    if attempt.text:  # part of the answer is out: the turn ends with it, no starting over
                        notice = " " + self.cfg.interrupted_notice
                        self.bus.emit(ResponseChunk(turn_id, notice))
                        attempt.text += notice
                        outcome.api = backend.api  # before forget(): the turn names the api it was spoken with
                        backend.forget()
                        return
                    backend.forget()
                    if failure.transient and tries < retries.attempts:
                        delay = retries.backoff * 2 ** (tries - 1) * (1 + random.random())
                        logger.warning("llm: %s: retry %d in %.2f s", label, tries, delay)
                        tries += 1
                        outcome.attempt, outcome.backend, outcome.model, outcome.api = None, None, "", ""
                        await asyncio.sleep(delay)
                        continue
                    if failure.endpoint_down:
                        down.add(id(backend))
                    outcome.failed.append(label)
                    outcome.attempt, outcome.backend, outcome.model, outcome.api = None, None, "", ""
                    logger.warning("llm: falling back from %s", label)
                    break
                self.read_by = backend, model
                backend.counter.reported(messages, attempt.prompt_tokens)
                backend.counter.answered = max(backend.counter.answered, backend.counter.total(messages))
                outcome.complete = True
                return

    def _shorten(self, backend: Backend, messages: list[dict[str, str]], refusal: str) -> None:
        """``backend`` refused ``messages`` for length: from now on its window is the
        one the refusal names (or, if it names none, half what was sent), and the next
        prompt starts at a step."""
        counter = backend.counter
        sent = counter.total(messages) + backend.reserved
        asked = named_request(refusal) or sent
        named = named_window(refusal)
        if named is None:  # the window is unknown; what was sent is too much for it
            named = int(min(max(sent, asked) + self.cfg.options.max_tokens, counter.limit or sys.maxsize) / 2)
        counter.refused(sent, named_request(refusal))
        counter.limit = max(named, self.cfg.options.max_tokens + 64)
        self.prompter.window(backend).step()
        logger.warning("llm: %s refused %d tokens for length (%s); its window is now taken as %d tokens",
                       backend.endpoint, asked, refusal[:160], counter.limit)

    async def send_request(self, messages: list[dict[str, str]], model: str | None = None, endpoint: int = 0) -> str:
        """The low-level call: one streamed request to one endpoint (or the embedded
        model when there is none), no fallback, no events; returns the text."""
        backend = self.servers[endpoint] if self.servers else self.embedded
        if backend is None:
            raise LlmError("no endpoint and no embedded model to send to")
        model = model or (backend.models or ("",))[0]
        think = ThinkFilter()
        parts = []
        async with asyncio.timeout(self.cfg.timeouts.total):
            await backend.prepare()
            async with aclosing(backend.stream(model, messages, self.cfg.options)) as deltas:
                async for delta in deltas:
                    parts.append(think.feed(delta.text))
        return ("".join(parts) + think.flush()).strip()

    async def structured(self, messages: list[dict[str, str]], schema: dict, max_tokens: int = 200,
                         servers_only: bool = False) -> str:
        """A reply that follows ``schema`` (JSON), from the first backend of the chain
        that gives one (``servers_only``: not the embedded model); no events, no
        history. Raises LlmError when none does."""
        options = dataclasses.replace(self.cfg.options, max_tokens=max_tokens, temperature=0.0)
        failed = []
        for backend, model in self.attempts():
            if servers_only and backend.api == "embedded":
                continue
            try:
                async with asyncio.timeout(self.cfg.timeouts.total):
                    await backend.prepare()
                    async with aclosing(backend.stream(model, messages, options, schema)) as deltas:
                        parts = [delta.text async for delta in deltas]
                return "".join(parts).strip()
            except (LlmError, ConfigError, TimeoutError) as err:
                failed.append(f"{model}: {err}")
        raise LlmError("no model gave a structured reply: " + "; ".join(failed))

    async def check_connection(self) -> bool:
        """True when a backend of the chain is ready: an endpoint answers, or the
        embedded model loads."""
        for backend in self.chain():
            try:
                async with asyncio.timeout(self.cfg.timeouts.connect + 1):
                    await backend.prepare()
                return True
            except (LlmError, ConfigError, TimeoutError):
                backend.forget()
        return False

    async def warm(self) -> None:
        """Before the first question: the first backend of the chain that can be
        warmed reads the system prompt and resumed history (Ollama loads the model,
        the embedded model prefills its cache), so the first answer is quick. The
        system prompt alone is read first: the embedded model times it to size its
        prompts (``prompt_tokens_max``) before the history is chosen."""
        for backend in self.chain():
            if not backend.models:
                continue
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.cfg.timeouts.first_token):
                    await backend.prepare()
                    hello = {"role": "user", "content": "Hello."}
                    system = {"role": "system", "content": self.prompter.system()}
                    await backend.prefill(backend.models[0], [system, hello] if backend.reads_ahead else [])
                    if backend.reads_ahead and self.prompter.conversation.turns:
                        await backend.prefill(backend.models[0], await self.prompter.prompt(backend, "Hello."))
                logger.info("llm: %s read the context in %.0f ms", backend.endpoint,
                            (time.perf_counter() - started) * 1000)
                self.read_by = backend, backend.models[0]
                return
            except (LlmError, ConfigError, TimeoutError) as err:
                logger.warning("llm: cannot warm %s: %s", backend.endpoint, err or "timed out")
                backend.forget()

    async def diagnose(self) -> list[dict[str, object]]:
        """Per endpoint, concurrently: reachable, detected api, server version, its
        models, which configured ones it has, the primary model's first token.
        ``assistant diagnose`` reports exactly this."""
        timeouts = self.cfg.timeouts
        reports = await asyncio.gather(*[probe(b, timeouts.connect + 2, timeouts.first_token) for b in self.servers])
        return [dataclasses.asdict(report) for report in reports]

    async def aclose(self) -> None:
        for backend in self.servers + self._retired:
            await backend.aclose()
        if self.embedded is not None:
            await self.embedded.aclose()
