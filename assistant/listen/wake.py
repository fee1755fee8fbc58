"""Addressing: is an utterance meant for the coach? Pure logic.

In ``phrase`` mode an utterance is addressed when it contains a wake phrase,
matched fuzzily word window by word window ("hey couch" counts for
"hey coach"), or when it comes within ``follow_up_s`` of the coach's last words.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from assistant.core.config import WakeConfig
from assistant.core.events import Reason

_WORD = re.compile(r"[a-z0-9']+")


_SAME = {"ok": "okay", "hi": "hey", "hay": "hey"}


def words(text: str) -> list[str]:
    return [_SAME.get(w, w) for w in _WORD.findall(text.lower())]


# Said over the coach to show one listens, not to take the turn ("mm-hmm", "okay",
# "got it", "all right"; whisper writes "Mm-hmm." as "M" or "mm" too): every word one
# of these, and at most three.
BACKCHANNEL_WORDS = {
    "m", "mm", "mmm", "hm", "hmm", "mhm", "uh", "huh", "um", "ah", "aha", "oh", "yeah", "yep", "yes", "okay", "right",
    "alright", "all", "sure", "got", "it", "i", "see", "cool", "nice", "good", "great",
}


_HUM = re.compile(r"[mnh]+")  # whisper's spellings of a hum: "M", "mm", "N m m", "hmm"
# What whisper puts before a hum for a click, a breath or what the echo canceller
# left of the coach's voice ("in m m m m m m m m", heard over a reply on the rig).
NOISE_WORDS = {"in", "a", "an", "the", "and", "you", "i"}


def is_backchannel(text: str, prompted: bool = False) -> bool:
    """Said to show one listens, not to take the turn: hums, or up to three words
    of acknowledgement; a run of hums may follow one word of whisper's noise.
    ``prompted``: heard again with hums in whisper's prompt, where one hum after
    the word of noise is enough ("In Mm-" for what it first heard as "in a month")."""
    said = words(text)
    if said and all(_HUM.fullmatch(w) for w in said):
        return True
    if len(said) >= (2 if prompted else 3) and said[0] in NOISE_WORDS and all(_HUM.fullmatch(w) for w in said[1:]):
        return True
    return 0 < len(said) <= 3 and all(w in BACKCHANNEL_WORDS for w in said)


def phrase_score(text: str, phrase: str) -> float:
    """How well ``phrase`` occurs in ``text``, 0..1: over every run of as many words,
    the similarity of its *least* similar word, so each word must be close
    ("hey couch" scores 0.8 for "hey coach", "the coach" only 0.67)."""
    target = words(phrase)
    said = words(text)
    if not target or len(said) < len(target):
        return 0.0
    best = 0.0
    for start in range(len(said) - len(target) + 1):
        window = said[start : start + len(target)]
        best = max(best, min(SequenceMatcher(None, a, b).ratio() for a, b in zip(window, target, strict=True)))
    return best


def addressed_reason(text: str, now: float, last_spoke_at: float | None, cfg: WakeConfig) -> Reason | None:
    """Why the utterance is addressed ("always", "wake-phrase", "follow-up"), or None."""
    if cfg.mode == "always":
        return "always"
    if any(phrase_score(text, phrase) >= cfg.threshold for phrase in cfg.phrases):
        return "wake-phrase"
    if last_spoke_at is not None and now - last_spoke_at <= cfg.follow_up_s:
        return "follow-up"
    return None
