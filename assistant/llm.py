"""LLMService: the coach's brain. Builds the context, streams the reply from the
first backend that answers, falls back down the chain, and always says something.

The chain: each configured endpoint's models in order, then the embedded model,
then the spoken apology from config.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass

from . import grounding, understanding
from .config import LlmConfig, PersonaConfig, with_first_endpoint
from .context import SKILL_API, Turn, Window, turn_messages
from .conversation import Conversation
from .errors import ConfigError, LlmError
from .history import HistoryStore
from .grounding import Knowledge
from .events import (
    AmbientSpeechDetected,
    Bus,
    EventName,
    ResponseChunk,
    ResponseGenerated,
    ResponseGenerating,
    SpeakingFinished,
    SpeechDetected,
    SystemStopped,
)
from .llm_embedded import EmbeddedBackend
from .llm_http import HttpBackend, probe
from .llm_types import Backend
from .llm_stream import Attempt, stream_attempt
from .prompt import render_system_prompt
from .text import ThinkFilter
from .tokens import PER_MESSAGE, estimate, named_request, named_window
from .workers import queue_worker

logger = logging.getLogger(__name__)

APOLOGY_API = "none"  # RESPONSE_GENERATED.api when every backend failed and the apology was spoken


READ_AHEAD_ROOM = 48  # tokens left for the question to come when the model reads ahead
UNNAMED_SHORTENINGS = 3  # a prompt dropped for length with no window named is halved at most this often
MAX_PENDING_TURNS = 256  # questions waiting for an answer; POST /say is refused (429) past this


@dataclass
class _Turn:
    """One addressed utterance on its way to exactly one RESPONSE_GENERATED and one row."""

    turn_id: int
    heard: str
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
        # The seed's keywords override the first endpoint exactly as --llm-url, --llm-api
        # and --llm-model do (default_model replaces its model list).
        cfg = with_first_endpoint(config or LlmConfig(), base_url, api_type, [default_model] if default_model else None)
        self.cfg = cfg
        # An explicit prompt is used as given; the config's is a template for the persona.
        self._fixed_prompt = system_prompt is not None
        self.persona = persona or PersonaConfig()
        if system_prompt is None:
            system_prompt = render_system_prompt(cfg.system_prompt, self.persona)
        self.system_prompt = system_prompt
        self.conversation = Conversation(store, cfg.keep_ambient)
        self.api_key = api_key
        self.bus = bus or Bus()
        if embedded is None and cfg.embedded.enabled:
            embedded = EmbeddedBackend(cfg.embedded, cfg.options.context_tokens)  # loaded on first need
        self.embedded = embedded
        self.interrupt = interrupt  # a new utterance cancels the reply in flight
        self.backends = [HttpBackend(e, cfg, api_key) for e in cfg.endpoints]
        self._retired: list[HttpBackend] = []
        self._turns: asyncio.Queue[SpeechDetected] = asyncio.Queue(maxsize=MAX_PENDING_TURNS)
        self._current: asyncio.Future[str] | None = None
        self._current_id = 0  # the turn _current answers
        self._current_turn: _Turn | None = None
        self._answered = 0  # the last turn the model answered in full (retract may still take it back)
        self._cut_listeners: list[Callable[[int | None], tuple[int, str] | None]] = []
        self._withdraw: Callable[[int, bool], bool] = lambda turn_id, heard: True  # the TTS: False once audible
        # The skill router: the reply to a command, or None for the model. It acts at
        # once (a timer starts when it is asked for); its reply waits its turn.
        # It returns (the skill's name, its reply).
        self.skill: Callable[[SpeechDetected], tuple[str, str] | None] | None = None
        self._skill_replies: dict[int, tuple[str, str]] = {}  # turn -> (skill, reply), for the turns waiting
        # For an utterance no skill took, in its turn: a skill's reply after all (a server
        # model read it as a command, ``opinion``), or None.
        self.second_opinion: Callable[[SpeechDetected], Awaitable[tuple[str, str] | None]] | None = None
        # The coaching knowledge base (grounding): beside a server model's question, and the
        # embedded coach's answer to a question it covers.
        self.knowledge: Knowledge | None = None
        # What the system prompt carries after the persona and the profile: the
        # facts the user asked to keep, a summary of recent training.
        self.profile: Callable[[], Mapping[str, str]] = dict
        self.notes: Callable[[], str] = str  # lasting: changes when the user asks
        self.training: Callable[[], str] = str  # passing: changes with every logged set
        self._windows: dict[int, Window] = {}  # per backend: the part of the conversation it sees
        self._read_by: Backend | None = None  # the backend that last answered (or was warmed)
        self._quiet = asyncio.Event()  # the coach finished speaking: time to read ahead
        self.clock: Callable[[], float] = time.monotonic

    @property
    def history(self) -> deque[Turn]:
        """The turns the model sees, oldest first (bounded)."""
        return self.conversation.turns

    # -- the bus ---------------------------------------------------------------

    def initialize(self, bus: Bus | None = None) -> None:
        """Subscribe to SPEECH_DETECTED, AMBIENT_SPEECH_DETECTED and SYSTEM_STOPPED."""
        if bus is not None:
            self.bus = bus
        self.bus.on(EventName.SPEECH_DETECTED, self._on_speech)
        self.bus.on(EventName.AMBIENT_SPEECH_DETECTED, self._on_ambient)
        self.bus.on(EventName.SYSTEM_STOPPED, self._on_stopped)
        self.bus.on(EventName.SPEAKING_FINISHED, self._on_spoken)

    def accepts(self) -> bool:
        """Room for another question (POST /say asks before it emits one)."""
        return self.interrupt or not self._turns.full()

    def on_cut(self, listener: Callable[[int | None], tuple[int, str] | None]) -> None:
        """``listener(before)`` stops the voice of the turns older than ``before`` (all
        when None) and returns (turn, what the user heard of it) for the one that was
        being heard. The TTS registers here, so a cut reply stops sounding."""
        self._cut_listeners.append(listener)

    def cut(self, before: int | None = None) -> None:
        """The one place a reply is cut short (a new question, a barge-in, a stop):
        silence the turns older than ``before`` (every turn when None), stop their
        generation, end the questions still waiting, keep what the user heard."""
        for listener in self._cut_listeners:
            heard = listener(before)
            if heard is not None:
                self.conversation.mark_interrupted(*heard)
        if self._current is not None and (before is None or self._current_id < before):
            self._current.cancel()
        for event in self._take_waiting(lambda e: before is None or e.utterance_id < before):
            self._skill_replies.pop(event.utterance_id, None)
            self._end(self._begin(event.text, event.utterance_id), "", interrupted=True)

    def _take_waiting(self, match: Callable[[SpeechDetected], bool]) -> list[SpeechDetected]:
        """Take the questions still waiting that ``match`` out of the queue, in order."""
        taken = []
        for _ in range(self._turns.qsize()):
            event = self._turns.get_nowait()
            if match(event):
                taken.append(event)
            else:
                self._turns.put_nowait(event)
            self._turns.task_done()
        return taken

    def on_withdraw(self, withdraw: Callable[[int, bool], bool]) -> None:
        """``withdraw(turn)`` silences a turn none of which has been heard and says
        True, or says False once its audio has started. The TTS registers here."""
        self._withdraw = withdraw

    def retract(self, turn_id: int, heard: bool = False) -> bool:
        """The user went on speaking after this turn's end was judged: if none of its
        reply has been heard and no skill acted on it, it goes without a trace (no
        audio, no RESPONSE_GENERATED, no history row) and True is returned; the
        utterance then continues. False: too late, it stays a turn. ``heard``: a
        reply heard only for a moment may be taken back too (the TTS decides), even
        one the model has written in full and reported (a quick model): its
        RESPONSE_GENERATED stands, and the history keeps the question with nothing
        of the answer heard, interrupted."""
        if self._take_waiting(lambda e: e.utterance_id == turn_id and turn_id not in self._skill_replies):
            return self._withdraw(turn_id, heard)
        turn = self._current_turn
        if turn is not None and turn.turn_id == turn_id and not turn.ended and self._current is not None:
            if not self._withdraw(turn_id, heard):
                return False
            turn.ended = True  # nothing more is emitted or written for it
            self.conversation.discard(turn_id)
            self._current.cancel()
            return True
        if heard and turn_id == self._answered and self._withdraw(turn_id, heard):
            self.conversation.mark_interrupted(turn_id, "")
            return True
        return False

    def _on_speech(self, event: SpeechDetected) -> None:
        if self.interrupt:  # live: a new question makes the older ones moot
            self.cut(before=event.utterance_id)
        if self._turns.full():
            turn = self._begin(event.text, event.utterance_id)
            self.bus.error("llm", f"{MAX_PENDING_TURNS} questions already wait; this one is not answered",
                           turn_id=event.utterance_id)
            self._end(turn, "", interrupted=True)
            return
        reply = self._route(event)
        if reply is not None:
            self._skill_replies[event.utterance_id] = reply
        self._turns.put_nowait(event)

    def _route(self, event: SpeechDetected) -> tuple[str, str] | None:
        """The skill's reply when the utterance is a command; a skill that raises
        answers with the apology, and the daemon goes on."""
        if self.skill is None:
            return None
        try:
            return self.skill(event)
        except Exception as err:
            logger.debug("skill raised on %r", event.text, exc_info=err)
            self.bus.error("skill", f"{type(err).__name__}: {err}", turn_id=event.utterance_id)
            return "skill", self.cfg.apology

    def _on_ambient(self, event: AmbientSpeechDetected) -> None:
        self.conversation.overheard(event.text)

    def reconfigure(self, cfg: LlmConfig, persona: PersonaConfig) -> None:
        """A reloaded config: new endpoints and prompt from the next turn on."""
        old = self.backends
        self.cfg = cfg
        self.persona = persona
        self.system_prompt = render_system_prompt(cfg.system_prompt, persona)
        self.conversation.keep_ambient = cfg.keep_ambient
        self.backends = [HttpBackend(e, cfg, self.api_key) for e in cfg.endpoints]
        self._windows.clear()
        self._retired.extend(old)  # closed with the service: a turn may still be using them

    def resume(self, count: int) -> int:
        """Start from the last ``count`` stored turns (after a restart); returns how many."""
        return self.conversation.resume(count)

    def _on_stopped(self, event: SystemStopped) -> None:
        self.cancel()  # the sink is already closed: nothing left to silence

    async def run(self) -> None:
        """Answer addressed utterances one at a time, in order; read ahead while the
        coach is quiet."""

        def report(event: SpeechDetected, err: Exception) -> None:
            self.bus.error("llm", err, turn_id=event.utterance_id)

        async with asyncio.TaskGroup() as group:
            group.create_task(queue_worker(self._turns, self._answer, report), name="llm-turns")
            group.create_task(self._read_ahead(), name="llm-read-ahead")

    def _on_spoken(self, event: SpeakingFinished) -> None:
        self._quiet.set()

    async def _read_ahead(self) -> None:
        """Each time the coach has finished speaking and no question waits, the
        embedded model reads the conversation as it now stands (the skill turns since
        its last answer, a step of the window when one is due), so that the next
        question costs only its own words. A question that comes meanwhile waits for
        the read at most (llama.cpp runs one at a time); it would have paid for it
        whole. Servers keep their own caches: nothing is sent to them."""
        while True:
            await self._quiet.wait()
            self._quiet.clear()
            backend = self._read_by
            if backend is None or backend.api != "embedded" or self._current is not None or not self._turns.empty():
                continue
            try:
                async with asyncio.timeout(self.cfg.timeouts.first_token):
                    messages = await self.prompt(backend, "", reserve=READ_AHEAD_ROOM)
                    await backend.prefill(backend.models[0], messages[:-1])  # not the empty question
            except (LlmError, ConfigError, TimeoutError) as err:
                logger.debug("llm: reading ahead on %s failed: %s", backend.endpoint, err or "timed out")

    async def _answer(self, event: SpeechDetected) -> None:
        # Begun before the task exists: a task cancelled before its first step never
        # runs its body, and the turn must end all the same (the finally below).
        turn = self._begin(event.text, event.utterance_id)
        skill_reply = self._skill_replies.pop(event.utterance_id, None)
        if skill_reply is not None:
            self._say(turn, *skill_reply)
            return
        task = self._current = asyncio.ensure_future(self._reply(turn, event))
        self._current_id = turn.turn_id
        self._current_turn = turn
        try:
            try:
                await asyncio.wait([task])  # a cancelled turn does not cancel this worker
            except asyncio.CancelledError:  # the worker itself is stopping
                task.cancel()
                await asyncio.wait([task], timeout=1.0)  # the turn ends with what it has
                raise
        finally:
            self._current = self._current_turn = None
            self._answered = turn.turn_id
            self._end(turn, "", interrupted=True)  # a no-op when the turn has ended

    async def join(self) -> None:
        await self._turns.join()

    # -- one turn: begun, generated, ended exactly once --------------------------

    def _begin(self, heard: str, turn_id: int) -> _Turn:
        self.conversation.begin(turn_id, heard)
        return _Turn(turn_id, heard)

    def _end(
        self,
        turn: _Turn,
        reply: str,
        *,
        interrupted: bool,
        attempt: Attempt | None = None,
        backend: Backend | None = None,
        model: str = "",
        failed: Sequence[str] = (),
        spoken: str = "",
        api: str = "",
    ) -> str:
        """Emit the turn's one RESPONSE_GENERATED and write its row. ``spoken``: the
        apology, said but not part of the conversation."""
        if turn.ended:
            return reply
        turn.ended = True
        a = attempt or Attempt()
        total_ms = (time.perf_counter() - a.started) * 1000 if attempt else 0.0
        generating_s = max(total_ms - a.first_token_ms, 1.0) / 1000
        api = api or (backend.api if backend is not None else APOLOGY_API)
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
        self.conversation.end(turn.turn_id, turn.heard, reply, interrupted, model, api,
                              round(a.first_token_ms, 1) if attempt else None, round(total_ms, 1) if attempt else None)
        return spoken or reply

    # -- generation ------------------------------------------------------------

    def chain(self) -> list[Backend]:
        """The backends in fallback order: every endpoint, then the embedded model."""
        embedded = [self.embedded] if self.embedded is not None and self.cfg.embedded.enabled else []
        return [*self.backends, *embedded]

    def attempts(self) -> Sequence[tuple[Backend, str]]:
        """(backend, model) pairs in fallback order."""
        return [(backend, model) for backend in self.chain() for model in backend.models]

    def system(self) -> str:
        """The system prompt: persona and profile, then what the coach knows; the
        parts that change least come first, so a server's prompt cache holds."""
        lasting, passing = self._system_parts()
        return f"{lasting}\n\n{passing}" if passing else lasting

    def _system_parts(self) -> tuple[str, str]:
        """(persona, profile and facts; the week's training): see context.Window."""
        base = self.system_prompt if self._fixed_prompt else render_system_prompt(
            self.cfg.system_prompt, self.persona, self.profile())
        notes = self.notes()
        return (f"{base}\n\n{notes}" if notes else base), self.training()

    def budget(self, backend: Backend) -> int:
        """Prompt tokens ``backend`` is given: its window (the config's, or the smaller
        one a refusal named) less room for the reply, no more than it reads fast
        enough, less what it adds itself."""
        options = self.cfg.options
        window = min(options.context_tokens, backend.counter.limit or options.context_tokens)
        tokens = window - options.max_tokens
        if backend.prompt_tokens_max is not None:
            tokens = min(tokens, backend.prompt_tokens_max)
        return tokens - backend.reserved - backend.counter.base

    def window(self, backend: Backend) -> Window:
        return self._windows.setdefault(id(backend), Window())

    def messages_for(self, text: str, backend: Backend | None = None) -> list[dict[str, str]]:
        """The prompt for ``text`` as ``backend`` (the chain's first by default) sees it."""
        chain = self.chain()
        backend = backend or (chain[0] if chain else None)
        return self._messages(text, backend, *self._system_parts())

    def _messages(self, text: str, backend: Backend | None, lasting: str, passing: str,
                  budget: int | None = None) -> list[dict[str, str]]:
        if self.knowledge is not None and text and (backend is None or backend.api != "embedded") \
                and (notes := self.knowledge.grounding(text)):
            text = f"{notes}\n\nThe question: {text}"  # after the stable prefix: a server's cache still holds
        if backend is None:
            return Window().messages(lasting, passing, self.history, self.conversation.first, text,
                                     self.cfg.options.context_tokens - self.cfg.options.max_tokens,
                                     estimate, lambda m: estimate(m["content"]) + PER_MESSAGE, self.clock())
        counter = backend.counter
        return self.window(backend).messages(lasting, passing, self.history, self.conversation.first, text,
                                             self.budget(backend) if budget is None else budget, counter,
                                             counter.message, self.clock())

    async def prompt(self, backend: Backend, text: str, reserve: int = 0) -> list[dict[str, str]]:
        """``messages_for``, after the backend counted what it can: the embedded model
        is loaded (its tokenizer counts), a server with a tokenizer is asked when the
        prompt nears its budget (within the connect timeout; estimates otherwise)."""
        async with asyncio.timeout(self.cfg.timeouts.first_token):
            await backend.prepare()
        lasting, passing = self._system_parts()
        budget = self.budget(backend) - reserve
        texts = [lasting, f"{lasting}\n\n{passing}", text, self.window(backend).system]
        shown = 0
        for turn in reversed(self.history):  # the newest turns, as many as could be shown
            contents = [m["content"] for m in turn_messages(turn)]
            texts += contents
            shown += sum(map(estimate, contents))
            if shown > 2 * budget:
                break
        try:
            async with asyncio.timeout(self.cfg.timeouts.connect):
                await backend.counter.prepare(texts, budget)
        except (TimeoutError, LlmError, ConfigError) as err:
            logger.warning("llm: %s did not count the prompt (%s); it is sized by an estimate",
                           backend.endpoint, err or "timed out")
        return self._messages(text, backend, lasting, passing, budget)

    async def generate_async(self, text: str, turn_id: int | None = None) -> str:
        """Answer ``text``: emits RESPONSE_GENERATING, _CHUNK and _GENERATED; returns the reply."""
        turn = self._begin(text, self.bus.new_turn_id() if turn_id is None else turn_id)
        try:
            return await self._reply(turn)
        finally:
            self._end(turn, "", interrupted=True)  # a no-op when the turn has ended

    async def _reply(self, turn: _Turn, event: SpeechDetected | None = None) -> str:
        """The turn's reply: a skill's on the model's second opinion, else the model's.
        A bug of ours (not a backend's: those fall back in ``_generate``) still ends
        in the spoken apology."""
        if event is not None and self.second_opinion is not None and (said := await self._opinion(event)):
            self._say(turn, *said)
            return said[1]
        try:
            return await self._generate(turn)
        except Exception as err:
            logger.debug("llm: turn %d raised", turn.turn_id, exc_info=err)
            self.bus.error("llm", f"{type(err).__name__}: {err}", turn_id=turn.turn_id)
            return self._apologize(turn, [])

    async def _opinion(self, event: SpeechDetected) -> tuple[str, str] | None:
        """``second_opinion``'s skill reply, or None: a hook that raises is reported,
        and the model answers."""
        assert self.second_opinion is not None
        try:
            return await self.second_opinion(event)
        except Exception as err:
            logger.debug("second opinion raised on %r", event.text, exc_info=err)
            self.bus.error("skill", f"second opinion: {type(err).__name__}: {err}", turn_id=event.utterance_id)
            return None

    async def _generate(self, turn: _Turn) -> str:
        """Down the fallback chain. Whatever a backend raises is a failure of that
        backend, never of the turn: the turn ends in an answer, a partial answer or
        the apology. A refusal for length is not a failure: the prompt is cut at a
        step and sent once more, silently."""
        turn_id = turn.turn_id
        failed: list[str] = []
        down: set[int] = set()  # endpoints found dead during this turn
        retries = self.cfg.retries
        for backend, model in self.attempts():
            if id(backend) in down:
                continue
            if backend.api == "embedded" and (offline := self._offline(turn.heard)) is not None:
                self._say(turn, "knowledge", offline, failed)
                return offline
            tries, shortened = 1, 0
            while True:
                attempt = Attempt()
                label = f"{backend.api} {backend.endpoint} {model}"
                messages: list[dict[str, str]] = []
                try:
                    messages = await self.prompt(backend, turn.heard)
                    await stream_attempt(backend, model, messages, self.cfg, attempt, turn_id, self.bus.emit)
                except asyncio.CancelledError:
                    self._end(turn, attempt.text.strip(), interrupted=True, attempt=attempt, backend=backend,
                              model=model, failed=failed)
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
                    if attempt.text:  # part of the answer is out: end the turn, do not start over
                        notice = " " + self.cfg.interrupted_notice
                        self.bus.emit(ResponseChunk(turn_id, notice))
                        attempt.text += notice
                        reply = self._end(turn, attempt.text.strip(), interrupted=True, attempt=attempt,
                                          backend=backend, model=model, failed=failed)
                        backend.forget()  # after the turn named the api it was spoken with
                        return reply
                    backend.forget()
                    if failure.transient and tries < retries.attempts:
                        delay = retries.backoff * 2 ** (tries - 1) * (1 + random.random())
                        logger.warning("llm: %s: retry %d in %.2f s", label, tries, delay)
                        tries += 1
                        await asyncio.sleep(delay)
                        continue
                    if failure.endpoint_down:
                        down.add(id(backend))
                    failed.append(label)
                    logger.warning("llm: falling back from %s", label)
                    break
                self._read_by = backend
                backend.counter.reported(messages, attempt.prompt_tokens)
                backend.counter.answered = max(backend.counter.answered, backend.counter.total(messages))
                return self._end(turn, attempt.text.strip(), interrupted=False, attempt=attempt, backend=backend,
                                 model=model, failed=failed)
        return self._apologize(turn, failed)

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
        self.window(backend).step()
        logger.warning("llm: %s refused %d tokens for length (%s); its window is now taken as %d tokens",
                       backend.endpoint, asked, refusal[:160], counter.limit)

    def _say(self, turn: _Turn, skill: str, reply: str, failed: Sequence[str] = ()) -> None:
        """A skill's reply: the same events, TTS path and history as the model's.
        ``failed``: the backends tried before it."""
        self.bus.emit(ResponseGenerating(turn.turn_id, "", SKILL_API, skill))
        self.bus.emit(ResponseChunk(turn.turn_id, reply))
        self._end(turn, reply, interrupted=False, model=skill, api=SKILL_API, failed=failed)

    def _offline(self, heard: str) -> str | None:
        """With the embedded model only: the knowledge base's answer to a question
        it covers, the honest one to any other question; None (the embedded model
        answers) for what asks nothing ("thanks", "I'm tired")."""
        if self.knowledge is None:
            return None
        if (found := self.knowledge.answer(heard)) is not None:
            logger.info("knowledge: %s (cover %.2f) answers %r", found.entry.id, found.cover, heard)
            return grounding.adapted(found, heard, self.profile())
        return grounding.OFFLINE if understanding.asks(heard) else None

    def announce(self, skill: str, text: str) -> None:
        """The coach speaks first (an offer, an interview's opening): the reply events
        of a turn no one asked, spoken like any other, not part of the conversation."""
        turn_id = self.bus.new_turn_id()
        self.bus.emit(ResponseGenerating(turn_id, "", SKILL_API, skill))
        self.bus.emit(ResponseChunk(turn_id, text))
        self.bus.emit(ResponseGenerated(turn_id=turn_id, text=text, model=skill, endpoint="", api=SKILL_API,
                                        fallbacks=(), interrupted=False, first_token_ms=0.0, total_ms=0.0,
                                        prompt_tokens=0, completion_tokens=0, tokens_per_s=0.0))

    def _apologize(self, turn: _Turn, failed: list[str]) -> str:
        apology = self.cfg.apology
        self.bus.emit(ResponseChunk(turn.turn_id, apology))
        return self._end(turn, "", interrupted=True, failed=failed, spoken=apology)

    def cancel(self) -> None:
        """Stop the generation in flight (its HTTP stream is closed)."""
        if self._current is not None and not self._current.done():
            self._current.cancel()

    async def send_request(
        self, messages: list[dict[str, str]], model: str | None = None, endpoint: int = 0
    ) -> str:
        """The low-level call: one streamed request to one endpoint (or the embedded
        model when there is none), no fallback, no events; returns the text."""
        backend = self.backends[endpoint] if self.backends else self.embedded
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
                    await backend.prefill(backend.models[0], [{"role": "system", "content": self.system()}, hello])
                    if self.history:
                        await backend.prefill(backend.models[0], await self.prompt(backend, "Hello."))
                logger.info("llm: %s read the context in %.0f ms", backend.endpoint,
                            (time.perf_counter() - started) * 1000)
                self._read_by = backend
                return
            except (LlmError, ConfigError, TimeoutError) as err:
                logger.warning("llm: cannot warm %s: %s", backend.endpoint, err or "timed out")
                backend.forget()

    async def diagnose(self) -> list[dict[str, object]]:
        """Per endpoint, concurrently: reachable, detected api, server version, its
        models, which configured ones it has, the primary model's first token.
        ``assistant diagnose`` reports exactly this."""
        timeouts = self.cfg.timeouts
        reports = await asyncio.gather(*[probe(b, timeouts.connect + 2, timeouts.first_token) for b in self.backends])
        return [dataclasses.asdict(report) for report in reports]

    async def aclose(self) -> None:
        for backend in self.backends + self._retired:
            await backend.aclose()
        if self.embedded is not None:
            await self.embedded.aclose()
