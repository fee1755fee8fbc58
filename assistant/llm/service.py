"""LLMService: the coach's brain, one turn at a time. Every addressed utterance
ends in exactly one RESPONSE_GENERATED and one stored turn: a skill's reply, the
answer of the first backend down the chain (``failover``), the knowledge base's
(the embedded model's stand-in), or the spoken apology from config. A reply is
cut by a new question or a barge-in, and withdrawn when the user goes on. The
prompt is ``prompt.Prompter``'s.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from assistant.core.bus import Bus
from assistant.core.config import LlmConfig, PersonaConfig, with_first_endpoint
from assistant.core.events import (
    AmbientSpeechDetected,
    EventName,
    SpeakingFinished,
    SpeechDetected,
    SystemStopped,
)
from assistant.core.workers import queue_worker
from assistant.llm import grounding
from assistant.llm.backend import Backend
from assistant.llm.context import Turn as SeenTurn
from assistant.llm.conversation import Conversation
from assistant.llm.embedded import EmbeddedBackend
from assistant.llm.failover import Failover, Outcome
from assistant.llm.ledger import Ledger, Turn
from assistant.llm.prompt import Prompter
from assistant.llm.read_ahead import ReadAhead
from assistant.llm.rooms import REMOTE, Rooms
from assistant.llm.servers import HttpBackend
from assistant.store.history import HistoryStore

logger = logging.getLogger(__name__)

# A skill's reply: (its name, the text, or what gives it when it waits: a server model's plan).
Later = Callable[[], Awaitable[str]]
SkillReply = tuple[str, str | Later]

MAX_PENDING_TURNS = 256  # questions waiting for an answer; POST /say is refused (429) past this


class LLMService:
    def __init__(
        self,
        base_url: str | None = None,
        api_type: str | None = None,
        default_model: str | None = None,
        config: LlmConfig | None = None,
        *,
        bus: Bus | None = None,
        embedded: Backend | None = None,
        interrupt: bool = True,
        persona: PersonaConfig | None = None,
        store: HistoryStore | None = None,
    ):
        """``base_url``, ``api_type`` and ``default_model`` replace the first
        endpoint exactly as --llm-url, --llm-api and --llm-model do
        (``default_model`` replaces its model list)."""
        cfg = with_first_endpoint(config or LlmConfig(), base_url, api_type, [default_model] if default_model else None)
        self.cfg = cfg
        self.conversation = Conversation(store, cfg.keep_ambient)
        self.prompter = Prompter(cfg, persona or PersonaConfig(), self.conversation)
        self.bus = bus or Bus()
        if embedded is None and cfg.embedded.enabled:
            embedded = EmbeddedBackend(cfg.embedded, cfg.options.context_tokens)  # loaded on first need
        self.failover = Failover(cfg, embedded, self.prompter, self.bus)
        self.ledger = Ledger(self.bus, self.conversation, lambda: self.cfg.apology)
        self.interrupt = interrupt  # a new utterance cancels the reply in flight
        self._turns: asyncio.Queue[SpeechDetected] = asyncio.Queue(maxsize=MAX_PENDING_TURNS)
        self._current: asyncio.Future[str] | None = None
        self._current_id = 0  # the turn _current answers
        self._current_turn: Turn | None = None
        self._current_acted = False  # the turn in flight is a skill's, whose reply waits on something
        self.rooms = Rooms(self.conversation)  # where each turn was heard; each room's conversation and voice
        self._answered: dict[str, int] = {}  # room -> the last turn the model answered (retract may take it back)
        # The skill router: (the skill's name, its reply) to a command, or None for the model.
        # It acts at once (a timer starts when it is asked for); its reply waits its turn.
        self.skill: Callable[[SpeechDetected], SkillReply | None] | None = None
        self._skill_replies: dict[int, SkillReply] = {}  # turn -> (skill, reply), for the turns waiting
        # For an utterance no skill took: a skill's reply after all (``opinion``), or None.
        self.second_opinion: Callable[[SpeechDetected], Awaitable[SkillReply | None]] | None = None
        self.reader = ReadAhead(self.failover, self.prompter, self._busy)  # while the coach is quiet

    @property
    def embedded(self) -> Backend | None:
        return self.failover.embedded

    @property
    def backends(self) -> list[HttpBackend]:
        """The configured endpoints' backends, in order."""
        return self.failover.servers

    @property
    def history(self) -> deque[SeenTurn]:
        """The turns the model sees, oldest first (bounded)."""
        return self.conversation.turns

    # -- the bus ---------------------------------------------------------------

    def initialize(self) -> None:
        """Subscribe to SPEECH_DETECTED, AMBIENT_SPEECH_DETECTED, SPEAKING_FINISHED and SYSTEM_STOPPED."""
        self.bus.on(EventName.SPEECH_DETECTED, self._on_speech)
        self.bus.on(EventName.AMBIENT_SPEECH_DETECTED, self._on_ambient)
        self.bus.on(EventName.SYSTEM_STOPPED, self._on_stopped)
        self.bus.on(EventName.SPEAKING_FINISHED, self._on_spoken)

    def accepts(self) -> bool:
        """Room for another question (POST /say asks before it emits one)."""
        return self.interrupt or not self._turns.full()

    def on_cut(self, listener: Callable[[int | None], tuple[int, str] | None], room: str | None = None) -> None:
        """``listener(before)`` stops the voice of the turns older than ``before`` (all
        when None) and returns (turn, what the user heard of it) for the one that was
        being heard. The TTS of ``room`` (None: of every room) registers here, so a
        cut reply stops sounding."""
        self.rooms.on_cut(listener, room)

    def cut(self, before: int | None = None, room: str | None = None) -> None:
        """The one place a reply is cut short (a new question, a barge-in, a stop):
        silence the turns of ``room`` (of every room when None) older than ``before``
        (every turn when None), stop their generation, end the questions still
        waiting, keep what the user heard. A Wyoming peer's turns are no room's."""
        for heard in self.rooms.silence(before, room):
            self.rooms.mark_interrupted(*heard)
        if self._current is not None and self.rooms.doomed(self._current_id, before, room):
            self._current.cancel()
        for event in self._take_waiting(lambda e: self.rooms.doomed(e.utterance_id, before, room)):
            self._skill_replies.pop(event.utterance_id, None)
            turn = self._begin(event)
            self.rooms.turns.pop(event.utterance_id, None)
            self.ledger.end(turn, "", interrupted=True)

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

    def on_withdraw(self, withdraw: Callable[[int, bool], bool], room: str = "") -> None:
        """``withdraw(turn)`` silences a turn none of which has been heard and says True,
        or False once its audio has started. The TTS of ``room`` registers here."""
        self.rooms.on_withdraw(withdraw, room)

    def retract(self, turn_id: int, heard: bool = False, room: str | None = None) -> bool:
        """The user went on speaking after this turn's end was judged: if none of its
        reply has been heard and no skill acted on it, it goes without a trace (no
        audio, no RESPONSE_GENERATED, no history row) and True is returned; the
        utterance then continues. False: too late, it stays a turn. ``heard``: a
        reply heard only for a moment may be taken back too (the TTS decides), even
        one the model has written in full and reported (a quick model): its
        RESPONSE_GENERATED stands, and the history keeps the question with nothing
        of the answer heard, interrupted. ``room``: where it was heard (None: home)."""
        if self._take_waiting(lambda e: e.utterance_id == turn_id and turn_id not in self._skill_replies):
            self.rooms.turns.pop(turn_id, None)
            return self.rooms.withdraw(turn_id, heard, room)
        turn = self._current_turn
        if turn is not None and turn.turn_id == turn_id and not turn.ended and self._current is not None \
                and not self._current_acted:  # a skill's reply that waits: the skill has acted
            if not self.rooms.withdraw(turn_id, heard, room):
                return False
            turn.ended = True  # nothing more is emitted or written for it
            self.rooms.discard(turn_id)
            self._current.cancel()
            return True
        if heard and turn_id == self._answered.get(self.rooms.home if room is None else room) \
                and self.rooms.withdraw(turn_id, heard, room):
            self.rooms.mark_interrupted(turn_id, "")
            return True
        return False

    def _on_speech(self, event: SpeechDetected) -> None:
        room = self.rooms.of(event)
        if self.interrupt and room != REMOTE:  # live: a new question makes this room's older ones moot
            self.cut(before=event.utterance_id, room=room)
        if self._turns.full():
            turn = self._begin(event)
            self.bus.error("llm", f"{MAX_PENDING_TURNS} questions already wait; this one is not answered",
                           turn_id=event.utterance_id)
            self.ledger.end(turn, "", interrupted=True)
            return
        reply = self._route(event)
        if reply is not None:
            self._skill_replies[event.utterance_id] = reply
        self.rooms.turns[event.utterance_id] = room
        self._turns.put_nowait(event)

    def _route(self, event: SpeechDetected) -> SkillReply | None:
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

    def _begin(self, event: SpeechDetected) -> Turn:
        """The turn of ``event``, in its room's conversation."""
        return self.ledger.begin(event.text, event.utterance_id,
                                 self.rooms.conversation_of(self.rooms.turns.get(event.utterance_id, event.room)))

    def _on_ambient(self, event: AmbientSpeechDetected) -> None:
        self.rooms.conversation_of(event.room).overheard(event.text)

    def reconfigure(self, cfg: LlmConfig, persona: PersonaConfig) -> None:
        """A reloaded config: new endpoints and prompt from the next turn on."""
        self.cfg = cfg
        for conversation in self.rooms.conversations:
            conversation.keep_ambient = cfg.keep_ambient
        self.prompter.reconfigure(cfg, persona)
        self.failover.reconfigure(cfg)

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
            group.create_task(self.reader.run(), name="llm-read-ahead")

    def _busy(self) -> bool:
        """A question is answered or waits."""
        return self._current is not None or not self._turns.empty()

    def _on_spoken(self, event: SpeakingFinished) -> None:
        self.reader.quiet()

    async def _answer(self, event: SpeechDetected) -> None:
        # Begun before the task exists: a task cancelled before its first step never
        # runs its body, and the turn must end all the same (the finally below).
        turn = self._begin(event)
        skill_reply = self._skill_replies.pop(event.utterance_id, None)
        if skill_reply is not None and isinstance(skill_reply[1], str):
            self.rooms.turns.pop(event.utterance_id, None)
            self.ledger.say(turn, skill_reply[0], skill_reply[1])
            return
        work = self._reply(turn, event) if skill_reply is None else self._later(turn, *skill_reply)
        self._current_acted = skill_reply is not None
        task = self._current = asyncio.ensure_future(work)
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
            room = self.rooms.turns.pop(turn.turn_id, self.rooms.home)
            if self._current_acted:
                self._answered.pop(room, None)  # a skill acted on it: retract must not let it act twice
            else:
                self._answered[room] = turn.turn_id
            self.ledger.end(turn, "", interrupted=True)  # a no-op when the turn has ended

    async def join(self) -> None:
        await self._turns.join()

    def messages_for(self, text: str, backend: Backend | None = None) -> list[dict[str, str]]:
        """The prompt for ``text`` as ``backend`` (the chain's first by default) sees it."""
        chain = self.failover.chain()
        return self.prompter.messages(text, backend or (chain[0] if chain else None))

    async def generate_async(self, text: str, turn_id: int | None = None) -> str:
        """Answer ``text``: emits RESPONSE_GENERATING, _CHUNK and _GENERATED; returns the reply."""
        turn = self.ledger.begin(text, self.bus.new_turn_id() if turn_id is None else turn_id)
        try:
            return await self._reply(turn)
        finally:
            self.ledger.end(turn, "", interrupted=True)  # a no-op when the turn has ended

    async def _reply(self, turn: Turn, event: SpeechDetected | None = None) -> str:
        """The turn's reply: a skill's on the model's second opinion, else the model's.
        A bug of ours (not a backend's: those fall back in ``Failover.answer``) still ends
        in the spoken apology."""
        if event is not None and self.second_opinion is not None and (said := await self._opinion(event)):
            self._current_acted = True  # the skill has acted: the turn is never taken back
            return await self._later(turn, *said)
        try:
            return await self._generate(turn)
        except Exception as err:
            logger.debug("llm: turn %d raised", turn.turn_id, exc_info=err)
            self.bus.error("llm", f"{type(err).__name__}: {err}", turn_id=turn.turn_id)
            return self.ledger.apologize(turn, [])

    async def _later(self, turn: Turn, skill: str, later: str | Later) -> str:
        """A skill's reply that waits on something (a server model's plan), said when
        it comes; a skill that raises answers with the apology."""
        try:
            text = later if isinstance(later, str) else await later()
        except Exception as err:
            logger.debug("skill %s raised in turn %d", skill, turn.turn_id, exc_info=err)
            self.bus.error("skill", f"{type(err).__name__}: {err}", turn_id=turn.turn_id)
            text = self.cfg.apology
        self.ledger.say(turn, skill, text)
        return text

    async def _opinion(self, event: SpeechDetected) -> SkillReply | None:
        """``second_opinion``'s skill reply, or None: a hook that raises is reported,
        and the model answers."""
        assert self.second_opinion is not None
        try:
            return await self.second_opinion(event)
        except Exception as err:
            logger.debug("second opinion raised on %r", event.text, exc_info=err)
            self.bus.error("skill", f"second opinion: {type(err).__name__}: {err}", turn_id=event.utterance_id)
            return None

    async def _generate(self, turn: Turn) -> str:
        """Down the fallback chain (``Failover.answer``): the turn ends in an answer,
        a partial answer, the knowledge base's, or the apology."""
        outcome = Outcome()
        self.prompter.conversation = turn.conversation  # the turn's room's: the model sees its turns
        await self.reader.done()  # or the question pays for the read again
        try:
            await self.failover.answer(turn.turn_id, turn.heard, outcome, self._offline)
        except asyncio.CancelledError:
            text = outcome.attempt.text.strip() if outcome.attempt else ""
            self.ledger.end(turn, text, interrupted=True, attempt=outcome.attempt, backend=outcome.backend,
                      model=outcome.model, failed=outcome.failed, api=outcome.api)
            raise
        if outcome.offline is not None:
            self.ledger.say(turn, "knowledge", outcome.offline, outcome.failed)
            return outcome.offline
        if outcome.attempt is None:
            return self.ledger.apologize(turn, outcome.failed)
        return self.ledger.end(turn, outcome.attempt.text.strip(), interrupted=not outcome.complete,
                         attempt=outcome.attempt, backend=outcome.backend, model=outcome.model,
                         failed=outcome.failed, api=outcome.api)

    def _offline(self, heard: str) -> str | None:
        """With the embedded model only: ``grounding.offline``."""
        knowledge = self.prompter.knowledge
        if knowledge is None:
            return None
        return grounding.offline(knowledge, heard, self.prompter.profile(), self.prompter.facts())

    def announce(self, skill: str, text: str) -> None:
        """The coach speaks first: ``Ledger.announce``."""
        self.ledger.announce(skill, text)

    def cancel(self) -> None:
        """Stop the generation in flight (its HTTP stream is closed)."""
        if self._current is not None and not self._current.done():
            self._current.cancel()

    async def structured(self, messages: list[dict[str, str]], schema: dict, max_tokens: int = 200,
                         servers_only: bool = False) -> str:
        """A reply that follows ``schema`` (JSON): ``Failover.structured``."""
        return await self.failover.structured(messages, schema, max_tokens, servers_only)

    async def warm(self) -> None:
        await self.failover.warm()

    async def aclose(self) -> None:
        await self.failover.aclose()
