"""What the user asks the coach to remember, and to forget. Pure logic.

"Remember that my left knee is sore" is a fact to keep, confirmed aloud; "my
goal is a 5k under 25 minutes" and "I'm vegetarian", said in passing, are kept
too, while the model answers; "forget that my knee is sore" removes the
stored fact that matches best; "what do you know about me?" asks for them all.
A fact is kept in the user's own words ("my left knee is sore") and said back
from the coach's side ("your left knee is sore").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.core.spoken import strip_polite

MAX_FACT_CHARS = 200
MAX_FACTS = 100  # stored at once; the oldest goes past this
MATCH = 0.5  # share of the forget request's words a fact must contain
PROMPT_CHARS = 1600  # facts in the system prompt at most (about 400 tokens), the newest kept


@dataclass(frozen=True, slots=True)
class Remember:
    """``asked``: "remember that ..." (confirmed aloud); else a fact said in
    passing ("I'm vegetarian"), kept while the model answers."""

    fact: str
    asked: bool = True


@dataclass(frozen=True, slots=True)
class Forget:
    """``what``: the words to match; "" forgets everything."""

    what: str


@dataclass(frozen=True, slots=True)
class Recall:
    """"What do you know about me?"; ``about``: "what did I tell you about my
    knee?" (the words: "knee")."""

    about: str = ""


Command = Remember | Forget | Recall


@dataclass(frozen=True, slots=True)
class Fact:
    id: int
    at: float
    text: str


def _plain(text: str) -> str:
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^a-z0-9' .,-]+", " ", text)
    return re.sub(r"\s+", " ", re.sub(r"[.,]+(\s|$)", r"\1", text)).strip(" ,.")


_REMEMBER = re.compile(
    r"(?:please )?(?:remember|note|make a note|keep in mind|don't forget|do not forget|bear in mind)"
    r"(?: that| this)?(?: about me)?:? (?P<fact>.+)")
# Statements about the user that a coach keeps without being asked to.
_DURABLE = re.compile(
    r"(?P<fact>my (?:goal|goals|target|aim|name|birthday|age|weight|height|resting heart rate|max heart rate"
    r"|race|marathon|event) (?:is|are|was) .+"
    r"|i'm (?:a |an )?(?:vegetarian|vegan|pescatarian|diabetic|asthmatic|lactose intolerant|gluten free"
    r"|allergic to .+|left handed|right handed|pregnant|\d+ years old|training for .+)"
    r"|i am (?:a |an )?(?:vegetarian|vegan|pescatarian|diabetic|asthmatic|lactose intolerant|gluten free"
    r"|allergic to .+|left handed|right handed|pregnant|\d+ years old|training for .+)"
    r"|i (?:don't|do not|can't|cannot) eat .+"
    r"|i(?: have|'ve| have got|'ve got) (?:asthma|diabetes|a bad (?:back|knee|shoulder|hip|ankle)"
    r"|an? (?:old |bad )?[a-z]+ injury) ?.*)")
_FORGET = re.compile(r"(?:please )?(?:forget|delete|remove|erase)(?: that| about| the fact that| the note that)?"
                     r" (?P<what>.+)")
_FORGET_ALL = re.compile(r"(?:please )?(?:forget|delete|erase) (?:everything|all)(?: you know)?(?: about me)?"
                         r"|(?:clear|wipe|delete) (?:your|my) memory")
_WH = re.compile(r"(?:what|how|why|when|where|who|which|whether|if)\b")
_ASKS = re.compile(r"\b(?:what|how|why|should|could|can i|do i|is it)\b")
_RECALL = re.compile(r"what do you (?:know|remember) about me|what have i told you(?: about me)?"
                     r"|what do you remember|what's in your memory|what are my facts|tell me what you know about me")


def parse(text: str) -> Command | None:
    s = strip_polite(_plain(text))
    if not s:
        return None
    if _RECALL.fullmatch(s):
        return Recall()
    if _FORGET_ALL.fullmatch(s):
        return Forget("")
    if m := _FORGET.fullmatch(s):
        return forget(m["what"])
    asked = _REMEMBER.fullmatch(s)
    if m := asked or _DURABLE.fullmatch(s):
        return remember(m["fact"], asked=asked is not None)
    return None


def asks(text: str) -> bool:
    """``text`` opens as a question does: "what day it is", "how to stretch"."""
    return bool(_WH.match(text.strip()))


def forget(what: str) -> Forget | None:
    """Forget ``what``; None when it is no fact's name: "forget it" is a remark,
    "forget the diet, what about sleep?" a question."""
    what = what.strip(" ,.")
    if not what or what in ("it", "that", "this") or _ASKS.search(what):
        return None
    return Forget(what)


def remember(fact: str, asked: bool = True) -> Remember | None:
    """Keep ``fact``; None when it is no fact: "remember that", "remember what
    creatine does?" (a question)."""
    fact = fact.strip(" ,.:")
    if len(fact) < 3 or fact in ("it", "that", "this", "me") or asks(fact):
        return None
    return Remember(fact[:MAX_FACT_CHARS], asked=asked)


_STOP = {"my", "i", "me", "a", "an", "the", "is", "am", "are", "that", "to", "of", "and", "i'm", "was", "it", "in"}


def _words(text: str) -> set[str]:
    return {w.rstrip("s") for w in re.findall(r"[a-z0-9']+", text.lower())} - _STOP


def matching(what: str, texts: Sequence[str]) -> list[int]:
    """The indices of ``texts`` that share at least ``MATCH`` of ``what``'s words,
    best first (the later first among equals)."""
    wanted = _words(what)
    if not wanted:
        return []
    shares = [(len(wanted & _words(text)) / len(wanted), i) for i, text in enumerate(texts)]
    return [i for share, i in sorted(shares, reverse=True) if share >= MATCH]


def match(what: str, facts: Sequence[Fact]) -> Fact | None:
    """The stored fact ``what`` names best (the last stored among equals), or None
    when none shares enough words."""
    best = matching(what, [f.text for f in facts])
    return facts[best[0]] if best else None


_SWAP = {"my": "your", "i": "you", "i'm": "you're", "me": "you", "mine": "yours", "myself": "yourself",
         "am": "are", "i've": "you've", "i'll": "you'll", "i'd": "you'd", "was": "were"}


def spoken(fact: str) -> str:
    """The fact from the coach's side: "my knee is sore" -> "your knee is sore"."""
    words = fact.split()
    out = []
    for index, word in enumerate(words):
        if word == "was" and (index == 0 or words[index - 1].lower() != "i"):
            out.append(word)
        else:
            out.append(_SWAP.get(word.lower(), word))  # an interview's answer keeps its capitals: "I run"
    return " ".join(out)


def prompt(facts: Sequence[Fact], chars: int = PROMPT_CHARS) -> str:
    """The facts for the system prompt, in the user's words, oldest first: the
    newest that fit in ``chars``, so the prompt leaves room for the conversation."""
    kept: list[str] = []
    for fact in reversed(facts):
        if sum(len(k) + 4 for k in kept) + len(fact.text) + 4 > chars:
            break
        kept.append(f'"{fact.text}"')
    if not kept:
        return ""
    return "What the user asked you to remember (in their words): " + "; ".join(reversed(kept)) + "."


# -- facts the model proposes (memory.auto) ----------------------------------------------

MAX_PROPOSED = 3  # facts taken from one utterance at most
PROPOSED_CHARS = 120  # a proposed fact's length at most (the schema's), so the JSON ends within max_tokens
GROUNDED = 0.6  # share of a proposed fact's words the user must have said
SCHEMA: dict = {
    "type": "object",
    "properties": {"facts": {"type": "array", "maxItems": MAX_PROPOSED,
                             "items": {"type": "string", "maxLength": PROPOSED_CHARS}}},
    "required": ["facts"],
}
PROPOSE_PROMPT = (
    "You pick out facts worth remembering about a person who trains with a coach: injuries and pain, goals and "
    "dates, diet, schedule, equipment, preferences. Copy them in the person's own first-person words "
    "(\"my left knee is sore\"). Small talk, questions and passing moods are not facts. "
    'Answer with JSON: {"facts": [...]}, an empty list when there are none.'
)
_FIRST_PERSON = {"my", "i", "i'm", "me", "i've", "mine", "myself", "i'll", "i'd"}


def proposals(reply: str, said: str, known: Sequence[Fact]) -> list[str]:
    """The facts a model proposed (``reply``, JSON per ``SCHEMA``) that are worth
    storing: about the user (first person), grounded in what they ``said`` (most of
    the fact's words), not already ``known``, at most ``MAX_PROPOSED``."""
    import json

    try:
        data = json.loads(reply)
    except ValueError:
        return []
    facts = data.get("facts") if isinstance(data, dict) else None
    if not isinstance(facts, list):
        return []
    heard = _words(said)
    kept: list[str] = []
    for fact in facts:
        if not isinstance(fact, str):
            continue
        text = _plain(fact)[:MAX_FACT_CHARS]
        words = _words(text)
        if len(text) < 3 or not words or not (set(text.split()) & _FIRST_PERSON):
            continue
        if len(words & heard) / len(words) < GROUNDED:
            continue  # not what the user said: a model's invention
        if any(len(words & _words(f.text)) / len(words) >= 0.8 for f in known) or text in kept:
            continue
        kept.append(text)
        if len(kept) == MAX_PROPOSED:
            break
    return kept
