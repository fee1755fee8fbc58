"""The conversation: what was said, as the model sees it and as it is stored.

One owner for the turns kept in memory (bounded), their rows in the history
store, and what the user actually heard of a reply cut short. LLMService
decides *when* a turn begins and ends; this class keeps the record. The memory
and workout log of later skills plug in here.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from assistant.llm.context import SKILL_API, Turn
from assistant.store.history import HistoryStore

TURNS_KEPT = 200  # turns kept in memory for the context (the store keeps more)
ROWS_KEPT = 16  # finished turns whose stored reply a late barge-in may still cut


class Conversation:
    def __init__(self, store: HistoryStore | None = None, keep_ambient: bool = False, turns_kept: int = TURNS_KEPT):
        self.store = store
        self.keep_ambient = keep_ambient  # overheard speech enters the context as notes
        self.turns: deque[Turn] = deque(maxlen=turns_kept)
        self.added = 0  # turns appended since the start: the context's windows count turns by it
        self._open: dict[int, int | None] = {}  # turns being answered -> their row
        self._rows: OrderedDict[int, int | None] = OrderedDict()  # the latest finished turns -> their row
        self._heard: dict[int, str] = {}  # an open turn -> what the user heard of it, once cut

    def resume(self, count: int) -> int:
        """Start from the last ``count`` stored turns (after a restart); returns how many."""
        if self.store is None:
            return 0
        for row in self.store.last(count):
            if row.addressed or self.keep_ambient:
                self._append(Turn(row.heard, row.reply, row.interrupted, ambient=not row.addressed,
                                  skill=row.api == SKILL_API))
        return len(self.turns)

    @property
    def first(self) -> int:
        """The number of the oldest turn still in memory (turns are numbered from 0)."""
        return self.added - len(self.turns)

    def _append(self, turn: Turn) -> None:
        self.turns.append(turn)
        self.added += 1

    def overheard(self, text: str) -> None:
        """Speech not addressed to the coach: stored, and a note in the context if so configured."""
        if self.store is not None:
            self.store.begin(text, addressed=False)
        if self.keep_ambient:
            self._append(Turn(user=text, ambient=True))

    def begin(self, turn_id: int, heard: str) -> None:
        """A question: its row is written now, so a crash while answering keeps it."""
        self._open[turn_id] = self.store.begin(heard) if self.store is not None else None

    def discard(self, turn_id: int) -> None:
        """A question withdrawn before any of its answer was heard: its row goes."""
        row = self._open.pop(turn_id, None)
        self._heard.pop(turn_id, None)
        if self.store is not None and row is not None:
            self.store.discard(row)

    def end(self, turn_id: int, heard: str, reply: str, interrupted: bool, model: str = "", api: str = "",
            first_token_ms: float | None = None, total_ms: float | None = None) -> None:
        """The answer (or what the user heard of it, if it was cut while being written)."""
        row = self._open.pop(turn_id, None)
        cut = self._heard.pop(turn_id, None)
        if cut is not None:
            reply, interrupted = cut, True
        self._append(Turn(user=heard, reply=reply, interrupted=interrupted, turn_id=turn_id, skill=api == SKILL_API))
        if self.store is not None and row is not None:
            self.store.finish(row, reply, interrupted, model, api, first_token_ms, total_ms)
        self._rows[turn_id] = row
        while len(self._rows) > ROWS_KEPT:
            self._rows.popitem(last=False)

    def mark_interrupted(self, turn_id: int, heard: str) -> None:
        """The user cut the reply off: remember only what they heard of it."""
        if turn_id in self._open:
            self._heard[turn_id] = heard  # still being written: applied when it ends
            return
        for index in range(len(self.turns) - 1, -1, -1):
            turn = self.turns[index]
            if turn.turn_id == turn_id:
                self.turns[index] = Turn(turn.user, heard, True, turn.ambient, turn_id, turn.skill)
                row = self._rows.get(turn_id)
                if self.store is not None and row is not None:
                    self.store.cut(row, heard)
                return
