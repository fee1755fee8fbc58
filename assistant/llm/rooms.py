"""Where each turn was heard (SPEECH_DETECTED's ``room``: a satellite's, or ""
for the daemon's own microphone), and what the coach keeps per room: the
conversation the model sees (a question in the kitchen is asked after the
kitchen's own turns), the voice a cut silences and the one a retract withdraws.
A Wyoming peer's turns (reason "remote") are in no room: nothing cuts them, and
they join the home room's conversation. Rooms are the configured ones: every
map here is bounded by them."""

from __future__ import annotations

from collections.abc import Callable

from assistant.core.events import SpeechDetected
from assistant.llm.conversation import Conversation

REMOTE = "\0remote"  # the room of a Wyoming peer's turns

Silence = Callable[[int | None], tuple[int, str] | None]  # TtsService.interrupt
Withdraw = Callable[[int, bool], bool]  # TtsService.withdraw


class Rooms:
    def __init__(self, conversation: Conversation):
        self.home = ""  # the room of a turn heard in none (typed): the daemon's first
        self.conversation = conversation  # the home room's
        self.turns: dict[int, str] = {}  # a turn waiting or being answered -> its room, until it ends
        self._conversations: dict[str, Conversation] = {}  # every other room's
        self._silences: list[tuple[str | None, Silence]] = []
        self._withdraws: dict[str, Withdraw] = {}

    def of(self, event: SpeechDetected) -> str:
        """Where the reply to ``event`` is heard, and can be cut."""
        return REMOTE if event.reason == "remote" else event.room or self.home

    def conversation_of(self, room: str) -> Conversation:
        if room in (REMOTE, self.home, ""):
            return self.conversation
        if room not in self._conversations:
            self._conversations[room] = Conversation(self.conversation.store, self.conversation.keep_ambient)
        return self._conversations[room]

    @property
    def conversations(self) -> list[Conversation]:
        return [self.conversation, *self._conversations.values()]

    def doomed(self, turn_id: int, before: int | None, room: str | None) -> bool:
        """A cut of ``room`` (every room's when None) older than ``before`` takes this turn."""
        where = self.turns.get(turn_id, self.home)
        return where != REMOTE and (room is None or where == room) and (before is None or turn_id < before)

    def on_cut(self, silence: Silence, room: str | None) -> None:
        self._silences.append((room, silence))

    def silence(self, before: int | None, room: str | None) -> list[tuple[int, str]]:
        """The voices of ``room`` (every room's when None) stop the turns older than
        ``before``: (turn, what the user heard of it) for each one being heard."""
        heard = []
        for where, silence in self._silences:
            if (room is None or where is None or where == room) and (said := silence(before)) is not None:
                heard.append(said)
        return heard

    def on_withdraw(self, withdraw: Withdraw, room: str) -> None:
        self._withdraws[room] = withdraw

    def withdraw(self, turn_id: int, heard: bool, room: str | None) -> bool:
        """``room``'s voice (home's when None) withdraws the turn; True when nothing of it was heard."""
        withdraw = self._withdraws.get(self.home if room is None else room)
        return withdraw(turn_id, heard) if withdraw is not None else True

    def mark_interrupted(self, turn_id: int, heard: str) -> None:
        """Whichever room's conversation holds the turn keeps only what was heard of it."""
        for conversation in self.conversations:
            conversation.mark_interrupted(turn_id, heard)

    def discard(self, turn_id: int) -> None:
        for conversation in self.conversations:
            conversation.discard(turn_id)
