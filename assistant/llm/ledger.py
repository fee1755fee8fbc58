"""The turn invariant's bookkeeping: each addressed utterance ends in exactly
one RESPONSE_GENERATED and one stored turn."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.core.bus import Bus
from assistant.core.events import ResponseChunk, ResponseGenerated, ResponseGenerating
from assistant.llm.backend import Backend
from assistant.llm.context import SKILL_API
from assistant.llm.conversation import Conversation
from assistant.llm.stream import Attempt

APOLOGY_API = "none"  # RESPONSE_GENERATED.api when every backend failed and the apology was spoken


@dataclass
class Turn:
    """One addressed utterance on its way to exactly one RESPONSE_GENERATED and one row."""

    turn_id: int
    heard: str
    conversation: Conversation  # the room's where it was asked
    ended: bool = False


class Ledger:
    """Every turn begun once and ended once: one RESPONSE_GENERATED and one row
    in the conversation (``Conversation.begin`` / ``end``), whatever ends it (an
    answer, a skill's reply, a cut, the apology). ``end`` on an ended turn does
    nothing, so every path may end a turn and only the first counts."""

    def __init__(self, bus: Bus, conversation: Conversation, apology: Callable[[], str]):
        self.bus = bus
        self.conversation = conversation
        self.apology = apology  # the config's, as it is now (a reload may change it)

    def begin(self, heard: str, turn_id: int, conversation: Conversation | None = None) -> Turn:
        """``conversation``: the room's (the home room's by default)."""
        conversation = conversation or self.conversation
        conversation.begin(turn_id, heard)
        return Turn(turn_id, heard, conversation)

    def end(
        self,
        turn: Turn,
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
        turn.conversation.end(turn.turn_id, turn.heard, reply, interrupted, model, api,
                              round(a.first_token_ms, 1) if attempt else None, round(total_ms, 1) if attempt else None)
        return spoken or reply

    def say(self, turn: Turn, skill: str, reply: str, failed: Sequence[str] = ()) -> None:
        """A skill's reply: the same events, TTS path and history as the model's.
        ``failed``: the backends tried before it."""
        self.bus.emit(ResponseGenerating(turn.turn_id, "", SKILL_API, skill))
        self.bus.emit(ResponseChunk(turn.turn_id, reply))
        self.end(turn, reply, interrupted=False, model=skill, api=SKILL_API, failed=failed)

    def announce(self, skill: str, text: str) -> None:
        """The coach speaks first (an offer, an interview's opening): the reply events
        of a turn no one asked, spoken like any other, not part of the conversation."""
        turn_id = self.bus.new_turn_id()
        self.bus.emit(ResponseGenerating(turn_id, "", SKILL_API, skill))
        self.bus.emit(ResponseChunk(turn_id, text))
        self.bus.emit(ResponseGenerated(turn_id=turn_id, text=text, model=skill, endpoint="", api=SKILL_API,
                                        fallbacks=(), interrupted=False, first_token_ms=0.0, total_ms=0.0,
                                        prompt_tokens=0, completion_tokens=0, tokens_per_s=0.0))

    def apologize(self, turn: Turn, failed: list[str]) -> str:
        apology = self.apology()
        self.bus.emit(ResponseChunk(turn.turn_id, apology))
        return self.end(turn, "", interrupted=True, failed=failed, spoken=apology)

