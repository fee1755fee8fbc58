"""The conversation context: the system prompt, then the recent turns that fit the
token budget, then the question. Pure logic: counts come from a ``count``
function (assistant.llm.tokens), times from the caller.

The system prompt and the current utterance are never dropped; an over-long
utterance is cut, with a marker, so that it fits.

``Window`` trims in steps, not one turn at a time. Between steps a prompt is the
previous one with the new turns appended, so a server's prefix cache (llama.cpp
in process, llama.cpp's server, Ollama) has read all but the new turns. When the
history no longer fits, its oldest turns go at once, down to ``KEEP_AT_STEP`` of
the room, and the prompt is read afresh once. The system prompt is a snapshot
for the same reason: its lasting part (persona, profile, facts) is taken again
when it changes, its passing part (the week's training, which every logged set
changes) only at a step or after ``SNAPSHOT_S``; in between, the skill turns in
the history tell the model what was just logged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

SKILL_API = "skill"  # a turn's api when a skill answered it without the model
TRUNCATED = " [...]"
KEEP_AT_STEP = 0.5  # at a step the history is cut to this share of its room
SKILLS_KEPT = 3  # skill exchanges ("Timer set.") carried over a step: only the latest
SKILL_REPLY_CHARS = 160  # a skill's reply in the context (a read-out of the log can be long)
SNAPSHOT_S = 1800.0  # the training part of the system prompt is taken afresh at least this often

Count = Callable[[str], int]
Size = Callable[[dict[str, str]], int]  # a message's tokens, its template's included


@dataclass(frozen=True, slots=True)
class Turn:
    """One exchange. ``ambient``: overheard speech, not addressed to the coach;
    ``skill``: answered by a skill, not the model."""

    user: str
    reply: str = ""
    interrupted: bool = False
    ambient: bool = False
    turn_id: int = 0
    skill: bool = False


def turn_messages(turn: Turn) -> list[dict[str, str]]:
    if turn.ambient:
        return [{"role": "user", "content": f"(Overheard nearby, not said to you: \"{turn.user}\")"}]
    messages = [{"role": "user", "content": turn.user}]
    if turn.reply:
        reply = turn.reply
        if turn.skill and len(reply) > SKILL_REPLY_CHARS:
            reply = reply[:SKILL_REPLY_CHARS].rsplit(" ", 1)[0] + TRUNCATED
        reply += " [interrupted]" if turn.interrupted else ""
        messages.append({"role": "assistant", "content": reply})
    return messages


class Window:
    """What of the conversation one backend sees (see the module's docstring).
    Turns are numbered from the conversation's start: ``first`` is the number of
    the oldest turn still in memory."""

    def __init__(self) -> None:
        self.start = 0  # the oldest turn shown
        self.skills_from = 0  # skill turns before this one are not shown
        self.system = ""  # the snapshot of the system prompt
        self.lasting = ""  # its lasting part, to notice a change
        self.taken_at: float | None = None
        self.steps = 0
        self._forced = False

    def messages(
        self,
        lasting: str,
        passing: str,
        history: Sequence[Turn],
        first: int,
        utterance: str,
        budget: int,
        count: Count,
        size: Size,
        now: float,
    ) -> list[dict[str, str]]:
        """The prompt: the system prompt (``lasting`` then ``passing``), the window's
        turns and ``utterance``, within ``budget`` tokens by ``size`` (``count``: a
        text's tokens, to cut an over-long utterance)."""
        if self.taken_at is None or lasting != self.lasting or now - self.taken_at > SNAPSHOT_S:
            self._take(lasting, passing, now)
        per_message = size({"role": "user", "content": ""})
        self.start = max(self.start, first)
        for stepped in (False, True):
            head = {"role": "system", "content": self.system}
            room = budget - size(head)
            current = {"role": "user", "content": _fit(utterance, room - per_message, count)}
            room -= size(current)
            shown = self._shown(history, first)
            if sum(size(m) for m in shown) <= room and not (self._forced and not stepped):
                return [head, *shown, current]
            if stepped:  # even half the room is too small for the newest turn
                return [head, *_newest(shown, room, size), current]
            self._take(lasting, passing, now)
            self.steps += 1
            self._forced = False
            room += size(head) - size({"role": "system", "content": self.system})
            self._step(history, first, int(room * KEEP_AT_STEP), size)
        raise AssertionError("unreachable")

    def step(self) -> None:
        """The next prompt starts at a step (a server refused the last one for length)."""
        self._forced = True

    def _take(self, lasting: str, passing: str, now: float) -> None:
        self.lasting, self.taken_at = lasting, now
        self.system = f"{lasting}\n\n{passing}" if passing else lasting

    def _shown(self, history: Sequence[Turn], first: int) -> list[dict[str, str]]:
        shown: list[dict[str, str]] = []
        for number, turn in enumerate(history, start=first):
            if number >= self.start and (not turn.skill or number >= self.skills_from):
                shown += turn_messages(turn)
        return shown

    def _step(self, history: Sequence[Turn], first: int, room: int, size: Size) -> None:
        """The newest turns that fit ``room``; skill turns only among the latest."""
        end = first + len(history)
        self.skills_from = end - SKILLS_KEPT
        self.start = end
        for number in range(end - 1, first - 1, -1):
            turn = history[number - first]
            if turn.skill and number < self.skills_from:
                continue
            cost = sum(size(m) for m in turn_messages(turn))
            if cost > room:
                break
            room -= cost
            self.start = number


def _newest(messages: list[dict[str, str]], room: int, size: Size) -> list[dict[str, str]]:
    kept: list[dict[str, str]] = []
    for message in reversed(messages):
        room -= size(message)
        if room < 0:
            break
        kept.insert(0, message)
    if kept and kept[0]["role"] == "assistant":  # whole turns only
        kept.pop(0)
    return kept


def _fit(text: str, tokens: int, count: Count) -> str:
    if count(text) <= tokens:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits, marker included
        mid = (low + high + 1) // 2
        if count(text[:mid] + TRUNCATED) <= tokens:
            low = mid
        else:
            high = mid - 1
    return text[:low] + TRUNCATED
