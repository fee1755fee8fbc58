"""Spoken text in a plain form: lower case, numbers in digits, durations folded
("a minute and a half" -> "1.5 minute"), a wake word and politeness off both
ends. Pure logic; every skill's grammar and the sentence templates read
their text through it.
"""

from __future__ import annotations

import re

_SMALL = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
NUMBER_WORDS = (*_SMALL, *_TENS, "hundred", "thousand")


def _number_words(words: list[str]) -> list[str]:
    """Runs of number words become digits: "forty five" -> "45", "one hundred and
    twenty" -> "120"."""
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word not in _SMALL and word not in _TENS:
            out.append(word)
            i += 1
            continue
        total, current = 0, 0
        while i < len(words):
            word = words[i]
            if word in _TENS and current % 100 == 0:
                current += _TENS[word]
            elif word in _SMALL and current % 10 == 0 and (current % 100 == 0 or current % 100 >= 20):
                current += _SMALL[word]
            elif word == "hundred" and 0 < current < 10:
                current *= 100
            elif word == "thousand" and 0 < current < 1000 and not total:
                total, current = current * 1000, 0
            elif (word == "and" and current % 100 == 0 and current and i + 1 < len(words)
                  and (words[i + 1] in _SMALL or words[i + 1] in _TENS)):
                pass
            else:
                break
            i += 1
        out.append(str(total + current))
    return out


UNIT_WORDS = ("second", "seconds", "sec", "secs", "minute", "minutes", "min", "mins", "hour", "hours", "kilos",
              "kilograms", "pounds", "miles", "kilometers", "kilometres", "meters", "metres", "reps", "sets")
UNIT_S = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
}
NUM = r"\d+(?:\.\d+)?"
UNIT = r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|s|m|h)"
_ONE = rf"{NUM} ?{UNIT}\b"
DUR = rf"{_ONE}(?:(?:,| and)? {_ONE})*"  # "2 minutes and 30 seconds"
DUR_OR_NUM = rf"(?:{DUR}|{NUM})"  # "15 off": the unit of the other duration


def normalize(text: str) -> str:
    """Lower case, words for digits, fractions folded: "a minute and a half" ->
    "1.5 minute"; punctuation dropped except inside numbers."""
    text = re.sub(r"\ba hundred\b", "one hundred", text.lower().replace("’", "'"))
    text = re.sub(r"(?<![\w.])-\s*(?=\d)", "minus ", text)  # "-5 minutes" is no 5-minute timer
    text = re.sub(r"(\d+):([0-5]\d)\b", lambda m: f"{int(m[1]) * 60 + int(m[2])} seconds", text)  # 1:30, not 10:99
    text = re.sub(r"(\d),(\d{3})\b", r"\1\2", text)
    text = re.sub(r"(?<=\d)(?=[a-z])", " ", text)  # 30s, 1.5min
    text = re.sub(r"[^a-z0-9.' ]+", " ", text)
    text = re.sub(r"\.(?!\d)|(?<!\d)\.", " ", text)  # sentence full stops, not decimal points
    words = _number_words(text.split())
    text = " ".join(words)
    text = re.sub(rf"\b({NUM}) and a half\b", lambda m: str(float(m[1]) + 0.5), text)
    text = re.sub(r"\ban? (hour|minute|second) and a half\b", r"1.5 \1", text)
    text = re.sub(rf"\b({NUM}) (hour|minute|second)s? and a half\b", lambda m: f"{float(m[1]) + 0.5} {m[2]}s", text)
    text = re.sub(r"\bhalf an? (hour|minute)\b", r"0.5 \1", text)
    text = re.sub(r"\b3 quarters? (?:of )?an hour\b", "45 minutes", text)
    text = re.sub(r"\b(?:a |1 )?quarter (?:of )?an hour\b", "15 minutes", text)
    text = re.sub(r"\ban? (hour|minute|second)\b", r"1 \1", text)
    text = re.sub(r"\ba couple of (hours|minutes|seconds)\b", r"2 \1", text)
    # "1 min 30": the seconds of a minute said without their unit
    text = re.sub(r"\b(\d+) ?(minutes?|mins?) ([1-5]?\d)\b(?! ?(?:\.|seconds?|secs?|s|minutes?|mins?|hours?)\b)",
                  r"\1 \2 \3 seconds", text)
    return text


def seconds(duration: str, unit_s: float | None = None) -> float:
    """The seconds in a DUR match ("2 minutes and 30 seconds" -> 150); a bare
    number takes ``unit_s``."""
    parts = re.findall(rf"({NUM}) ?({UNIT})\b", duration)
    if not parts:
        return float(duration) * (unit_s or 1)
    return sum(float(n) * UNIT_S[u] for n, u in parts)


def unit_of(duration: str) -> float:
    found = re.search(rf"{NUM} ?({UNIT})\b", duration)
    return UNIT_S[found[1]] if found else 1


_LEAD = re.compile(
    r"^(?:(?:hey|hi|ok|okay|yo)\s+)?(?:coach|couch)\s+|^(?:please|okay|ok|alright|all right|so|now|and|um|uh|"
    r"hold on|hang on|wait|"
    r"can you|could you|would you|will you|would you please|can you please|i need you to|i want you to)\s+"
)
_TAIL = re.compile(r"\s+(?:please|now|for me|thanks|thank you|coach|right now)$")


def strip_polite(text: str) -> str:
    """A wake word, politeness and fillers off both ends: "okay coach, can you please ..."."""
    for _ in range(4):  # "okay coach, can you please ..."
        stripped = _TAIL.sub("", _LEAD.sub("", text)).strip()
        if stripped == text:
            break
        text = stripped
    return text


# a question as whisper writes it: a question mark, a question's first word or words ("was that", "should"),
# at the start or after a comma or a word that only opens ("hey, what's ...", "..., where do I even start"),
# or asked in other words ("how many times a week is fine", "can you help me", "any tips")
_ASKING = re.compile(r"\?|(?:^|[,.;:!]|\b(?:hey|so|ok|okay|well|um|uh|coach)\b)\W*(?:what|whats|how|hows|why|when|"
                     r"where|who|which|is|are|was|were|do|does|did|can|could|should|would|will|am)\b"
                     r"|\b(?:should|is that|was that|is it|enough)\b|\bhow (?:many|much|long|often|far|fast)\b"
                     r"|\bcan you (?:help|tell|explain|show|give)\b|\bany (?:tips|advice|ideas|suggestions)\b")


def asks(text: str) -> bool:
    """``text`` is put as a question: a question mark, a question's first words, "should"."""
    return bool(_ASKING.search(text.lower()))
