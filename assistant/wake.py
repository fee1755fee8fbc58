"""Addressing: is an utterance meant for the coach? Pure logic.

In ``phrase`` mode an utterance is addressed when it contains a wake phrase,
matched fuzzily word window by word window ("hey couch" counts for
"hey coach"), or when it comes within ``follow_up_s`` of the coach's last words.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from .config import WakeConfig

_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def phrase_score(text: str, phrase: str) -> float:
    """Best similarity (0..1) of ``phrase`` to any run of as many words in ``text``."""
    target = " ".join(words(phrase))
    said = words(text)
    size = len(target.split())
    if not target or not said:
        return 0.0
    best = 0.0
    for width in {max(1, size - 1), size, size + 1}:
        for start in range(max(1, len(said) - width + 1)):
            window = " ".join(said[start : start + width])
            best = max(best, SequenceMatcher(None, window, target).ratio())
    return best


def addressed_reason(text: str, now: float, last_spoke_at: float | None, cfg: WakeConfig) -> str | None:
    """Why the utterance is addressed ("always", "wake-phrase", "follow-up"), or None."""
    if cfg.mode == "always":
        return "always"
    if any(phrase_score(text, phrase) >= cfg.threshold for phrase in cfg.phrases):
        return "wake-phrase"
    if last_spoke_at is not None and now - last_spoke_at <= cfg.follow_up_s:
        return "follow-up"
    return None
