"""Heard wrong, still understood: the words of an utterance the templates do
not know, replaced by template words that sound alike (spelling and metaphone,
Jaro-Winkler), and the templates asked again. How tiny.en mishears commands
("paws the timer", "Deadless 120 for 5") is matched without a list of its misses."""

from __future__ import annotations

import itertools
import re
from functools import cache, lru_cache

import jellyfish

from assistant.core import spoken
from assistant.skills import memory, workouts
from assistant.skills.templates import Command, StartInterview, exercises, from_templates, prepare, sentence_file

SOUNDS_LIKE = 0.85  # how alike (0-1: spelling and sound, Jaro-Winkler) a word must be to one the templates use
# how alike two or three words said together must be to an exercise's name of as many ("caff raises", "power
# claims", "hit thrust"): the name's words are template words too, so each alone is known and no word is swapped
NAME_ALIKE = 0.925  # ("chid ups" is 0.91 like "child pose", 0.89 like "chin ups": no name)
# the words that count what was done are no part of a name ("at set, squat 100 kg": no "side squat")
_COUNTING = frozenset(("set", "rep", "round", "rounds", "time", "times", "kg", "lb", "lbs", "km", "mile", "kilo",
                       "pound", "meter", "metre", *spoken.UNIT_WORDS))
# ... and what was not done is no workout: "I won't be running 5k" is no "went running"
_NOT_DONE = re.compile(r"\b(?:not|never|no|nothing|want|wanna|will|would|could|gonna|going to|plan|planning|should"
                       r"|might)\b|n't\b|\b\w+'(?:ll|d)\b", re.I)
# names that begin with a verb ("went running", "did yoga"): a word heard is no verb said
_VERB_LED = frozenset(("went", "go", "goes", "going", "gone", "got", "get"))
MAX_WORDS = 10  # longer utterances are no command misheard
# what a word's sound never decides: what deletes or keeps the user's data, or reads it out
_NOT_BY_SOUND = (memory.Remember, memory.Forget, memory.Recall, workouts.Undo, workouts.Query, workouts.LogLast,
                 StartInterview)
# words no misheard command word becomes: "almost" is no "also", "dad" no "did", "plates" no "please"
_FUNCTION_WORDS = frozenset((
    "the", "and", "for", "with", "from", "that", "this", "then", "than", "also", "did", "does", "done", "doing", "have",
    "has", "had", "was", "were", "are", "will", "would", "can", "could", "should", "just", "please", "some", "any",
    "all", "you", "your", "yours", "our", "they", "them", "their", "there", "here", "what", "when", "why", "how", "who",
    "which", "not", "now", "too", "very", "really", "like", "okay", "yeah", "yes", "coach", "couch"))


MAX_UNKNOWN = 2  # words the templates do not know, at most: more is no command misheard
CANDIDATES = 3  # words tried for each unknown one
TRIES = 3  # template runs at most


@cache
def vocabulary() -> dict[tuple[str, int], list[tuple[str, str]]]:
    """The words the templates and the exercise list are made of, with their
    sound (metaphone), by first letter and length: a misheard word keeps its
    first sound ("paws" "pause", "timber" "timer", "lug" "log"), and looking
    among those alone keeps a new word's first look at about a millisecond."""
    data = sentence_file("en.yaml")
    texts = [sentence for intent in data["intents"].values() for block in intent["data"]
             for sentence in block["sentences"]]
    texts += [str(rule) for rule in data["expansion_rules"].values()]
    texts += [str(value.get("in", "")) if isinstance(value, dict) else str(value)
              for spec in data["lists"].values() for value in spec.get("values", ())]
    texts += list(exercises())
    texts += [" ".join(spoken.UNIT_WORDS)]  # said before prepare turns them into seconds: "2 men" is "2 min"
    words = {w for text in texts for w in re.findall(r"[a-z']+", text.lower()) if len(w) >= 3}
    words -= _FUNCTION_WORDS | set(spoken.NUMBER_WORDS)  # known, but no misheard word becomes one
    by_length: dict[tuple[str, int], list[tuple[str, str]]] = {}
    for word in sorted(words):
        by_length.setdefault((word[0], len(word)), []).append((word, jellyfish.metaphone(word)))
    return by_length


@cache
def _known() -> frozenset[str]:
    words = frozenset(word for words in vocabulary().values() for word, _ in words)
    return words | _FUNCTION_WORDS | set(spoken.NUMBER_WORDS)


@lru_cache(maxsize=4096)  # every unknown word heard, for weeks: bounded
def sounds_like(word: str) -> tuple[tuple[str, float], ...]:
    """The template words ``word`` sounds most like, best first, with how alike
    ("paws" -> "pause", "deadless" -> "deadlift", "timber" -> "timer"); () when
    none is close."""
    sound = jellyfish.metaphone(word)
    alike = []
    for length in range(len(word) - 2, len(word) + 3):
        for known, known_sound in vocabulary().get((word[0], length), ()):
            score = (jellyfish.jaro_winkler_similarity(word, known)
                     + jellyfish.jaro_winkler_similarity(sound, known_sound)) / 2
            if score >= SOUNDS_LIKE and not _inflected(word, known):
                alike.append((known, score))
    return tuple(sorted(alike, key=lambda pair: -pair[1])[:CANDIDATES])


def _inflected(word: str, known: str) -> bool:
    """``word`` is ``known`` with an ending, or ``known`` is its stem with another
    ("rested" "rest", "deleted" "delete", "skipping" "skip"), or a tense of it
    ("forgot" "forget"): a real word the user said, not a mishearing."""
    stem = re.sub(r"(?:ed|d|ing|es|s)$", "", word)
    return (word.startswith(known) or (len(stem) >= 3 and known.startswith(stem))
            or _PAST.get(word) == known)


_PAST = {"forgot": "forget", "forgotten": "forget", "kept": "keep", "stood": "stand", "said": "say", "told": "tell"}


def sounding_alike(text: str) -> tuple[Command | None, str]:
    """The templates again, the words they do not know replaced by words they
    use that sound alike: how tiny.en mishears commands ("Deadless 120 for 5",
    "paws the timer", "start a tabatha") matched without a list of its misses.
    The likeliest replacements are tried first, at most ``TRIES`` of them.
    (None, "") when no word was unknown or still nothing matched."""
    words = prepare(text, polite=True).split()
    if not words or len(words) > MAX_WORDS or spoken.asks(text):
        return None, ""
    unknown = [i for i, w in enumerate(words) if len(w) >= 3 and w.isalpha() and w not in _known()]
    if any(words[i].endswith(("ed", "ing")) for i in unknown):  # "I skipped 5k", "planning": said, not misheard
        return None, ""
    if len(unknown) > MAX_UNKNOWN:  # a question or a remark: words no command has
        return None, ""
    options = [sounds_like(words[i]) for i in unknown]
    tries = sorted(itertools.product(*options), key=lambda combo: -sum(score for _, score in combo))[:TRIES] \
        if unknown and all(options) else []
    for combo in tries:
        heard = list(words)
        for index, (alike, _) in zip(unknown, combo, strict=True):
            heard[index] = alike
        command, why = from_templates(" ".join(heard))
        if command is not None and not isinstance(command, _NOT_BY_SOUND):
            swapped = ", ".join(f"{words[i]!r} as {alike!r}" for i, (alike, _) in zip(unknown, combo, strict=True))
            return command, f"heard {swapped}; {why}"
    return _named_by_sound(words)


def _named_by_sound(words: list[str]) -> tuple[Command | None, str]:
    """A workout logged with its exercise's name misheard word by word ("did 5 sets of
    3 power claims at 70", "caff raises, 3 sets of 20"): two or three words in a row
    that sound like a name of as many words in the exercise list are that name, if
    the templates then read a logged workout. Only where a number is said with what
    it counts ("sets", "reps", "kilos", "minutes": not "I have 2 sled dogs") and
    nothing says it was not done ("won't", "want to", "I'd like"), never over the
    words that count it, the likeliest name only."""
    said_all = " ".join(words)
    counted = any(w.isdigit() or w in spoken.NUMBER_WORDS for w in words) and _COUNTING & set(words)
    if not counted or _NOT_DONE.search(said_all):  # "I have 2 sled dogs" counts nothing done
        return None, ""
    found = []
    for size in (2, 3):
        for start in range(len(words) - size + 1):
            said = words[start:start + size]
            if all(w.isalpha() or w.endswith("'s") and w[:-2].isalpha() for w in said) \
                    and not _COUNTING & set(said) and " ".join(said) not in exercises() \
                    and (alike := _name_like("".join(said).replace("'", ""), size)) is not None:
                found.append((alike[1], start, size, alike[0]))
    if not found:
        return None, ""
    _score, start, size, name = max(found)  # the likeliest only: each try is a run of the templates
    command, why = from_templates(" ".join((*words[:start], name, *words[start + size:])))
    if isinstance(command, workouts.LogEntry):
        return command, f"heard {' '.join(words[start:start + size])!r} as {name!r}; {why}"
    return None, ""


@cache
def _names() -> dict[tuple[str, int, int], list[tuple[str, str, str]]]:
    """The exercise list's names of two or three words, no verb first ("went
    running"): (name, its letters, their sound), by first letter, length of the
    letters and count of words."""
    by_length: dict[tuple[str, int, int], list[tuple[str, str, str]]] = {}
    for name in exercises():
        words = name.split()
        if 2 <= len(words) <= 3 and not (_VERB_LED | _FUNCTION_WORDS) & set(words) \
                and (letters := re.sub(r"[^a-z]", "", name)):
            by_length.setdefault((letters[0], len(letters), len(words)), []).append(
                (name, letters, jellyfish.metaphone(letters)))
    return by_length


@lru_cache(maxsize=4096)  # every pair and triple of words heard in a workout said: bounded
def _name_like(letters: str, size: int) -> tuple[str, float] | None:
    """The exercise name of ``size`` words that ``letters`` (as many words heard,
    run together) sounds most like, and how alike; None when none is ``NAME_ALIKE``."""
    sound = jellyfish.metaphone(letters)
    best: tuple[str, float] | None = None
    for length in range(len(letters) - 2, len(letters) + 3):
        for name, name_letters, name_sound in _names().get((letters[:1], length, size), ()):
            score = (jellyfish.jaro_winkler_similarity(letters, name_letters)
                     + jellyfish.jaro_winkler_similarity(sound, name_sound)) / 2
            if score >= NAME_ALIKE and (best is None or score > best[1]):
                best = (name, score)
    return best


def warm() -> None:
    """The words' sounds, now."""
    sounding_alike("paws the timer")
    _names()
