"""The conversation context: the system prompt, then as many recent turns as fit
the token budget, oldest dropped first. Pure logic.

The system prompt and the current utterance are never dropped; an over-long
utterance is cut, with a marker, so that it fits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

TRUNCATED = " [...]"
PER_MESSAGE = 4  # tokens a chat template spends around each message


@dataclass(frozen=True, slots=True)
class Turn:
    """One exchange. ``ambient``: overheard speech, not addressed to the coach."""

    user: str
    reply: str = ""
    interrupted: bool = False
    ambient: bool = False
    turn_id: int = 0


def approx_tokens(text: str) -> int:
    """A cheap token estimate: about four characters per token for English."""
    return len(text) // 4 + 1


def turn_messages(turn: Turn) -> list[dict[str, str]]:
    if turn.ambient:
        return [{"role": "user", "content": f"(Overheard nearby, not said to you: \"{turn.user}\")"}]
    messages = [{"role": "user", "content": turn.user}]
    if turn.reply:
        reply = turn.reply + (" [interrupted]" if turn.interrupted else "")
        messages.append({"role": "assistant", "content": reply})
    return messages


def build_messages(
    system: str,
    history: Sequence[Turn],
    utterance: str,
    budget: int,
    count: Callable[[str], int] = approx_tokens,
) -> list[dict[str, str]]:
    """Messages for the model: ``budget`` is context tokens minus room for the reply."""
    size = lambda message: count(message["content"]) + PER_MESSAGE  # noqa: E731
    head = {"role": "system", "content": system}
    left = budget - size(head)
    current = {"role": "user", "content": _fit(utterance, left - PER_MESSAGE, count)}
    left -= size(current)
    kept: list[dict[str, str]] = []
    for turn in reversed(history):
        messages = turn_messages(turn)
        cost = sum(size(m) for m in messages)
        if cost > left:
            break
        kept[:0] = messages
        left -= cost
    return [head, *kept, current]


def _fit(text: str, tokens: int, count: Callable[[str], int]) -> str:
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
