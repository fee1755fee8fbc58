"""``memory.auto``: facts worth keeping, proposed by the model after the turns it
answered, checked by ``memory.proposals`` and kept in the notebook; off the
latency path, and giving way as soon as the user speaks."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from assistant.core.bus import Bus
from assistant.core.events import EventName, MemoryUpdated, ResponseGenerated, SpeechDetected, SpeechStarted
from assistant.llm.context import SKILL_API
from assistant.llm.ledger import APOLOGY_API
from assistant.llm.service import LLMService
from assistant.skills import memory
from assistant.skills.coaching import Coaching

logger = logging.getLogger(__name__)


class AutoMemory:
    """``memory.auto``: after a turn the model answered, the model is asked, off the
    latency path, which facts in what the user said are worth keeping (structured
    output, ``memory.SCHEMA``); ``memory.proposals`` checks them before they are
    stored. It waits until no question is waiting, and gives way (is cancelled)
    as soon as the user speaks again."""

    QUEUED = 8  # turns waiting to be read; more are dropped (it is a nicety, not a record)
    HEARD_KEPT = 16

    def __init__(self, bus: Bus, llm: LLMService, coaching: Coaching):
        self.bus = bus
        self.llm = llm
        self.coaching = coaching
        self._heard: OrderedDict[int, str] = OrderedDict()  # turn -> what the user said
        self._queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue(maxsize=self.QUEUED)
        self._current: asyncio.Future[None] | None = None
        bus.on(EventName.SPEECH_DETECTED, self._on_speech)
        bus.on(EventName.SPEECH_STARTED, self._on_voice)
        bus.on(EventName.RESPONSE_GENERATED, self._on_answer)

    def _on_speech(self, event: SpeechDetected) -> None:
        self._heard[event.utterance_id] = event.text
        while len(self._heard) > self.HEARD_KEPT:
            self._heard.popitem(last=False)

    def _on_voice(self, event: SpeechStarted) -> None:
        if self._current is not None:
            self._current.cancel()  # the user speaks: the model is theirs

    def _on_answer(self, event: ResponseGenerated) -> None:
        said = self._heard.pop(event.turn_id, None)
        if said is None or event.interrupted or event.api in (SKILL_API, APOLOGY_API):
            return
        try:
            self._queue.put_nowait((event.turn_id, said))
        except asyncio.QueueFull:
            logger.info("memory.auto: busy, turn %d not read for facts", event.turn_id)

    async def run(self) -> None:
        while True:
            turn_id, said = await self._queue.get()
            await self.llm.join()  # no question waits for the model
            self._current = task = asyncio.ensure_future(self._read(turn_id, said))
            try:
                await asyncio.wait([task])
            finally:
                self._current = None
                if not task.done():
                    task.cancel()
                self._queue.task_done()
            if not task.cancelled() and (err := task.exception()) is not None:
                self.bus.error("memory", f"proposing facts failed: {err}", turn_id=turn_id)

    async def join(self) -> None:
        """Every answered turn read (a run from a file waits for this before it ends)."""
        await self._queue.join()

    async def _read(self, turn_id: int, said: str) -> None:
        messages = [{"role": "system", "content": memory.PROPOSE_PROMPT}, {"role": "user", "content": said}]
        reply = await self.llm.structured(messages, memory.SCHEMA)
        for text in memory.proposals(reply, said, self.coaching.notebook.facts()):
            fact = self.coaching.notebook.remember(text)
            self.bus.emit(MemoryUpdated("fact", "added", fact.id, fact.text, turn_id))
            logger.info("memory.auto: keeping %r", text)
