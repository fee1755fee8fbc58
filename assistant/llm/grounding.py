"""The coach's knowledge base (``assistant/llm/knowledge/*.yaml``): short entries
written for this project, each with the questions it answers and its sources,
found for a question by BM25 (``bm25s``, stop words and question words out,
Snowball stems), one document per way an entry is asked and one per answer.
A found entry carries a ``cover``: the share of the question's words (weighted
by how rare they are in the knowledge base) that the entry's own words hold,
lowered when much of the question is in words the base never uses. Entries go
best first by BM25 times cover. A low cover says nothing matches: "what's the
capital of France" finds an entry, but one that covers none of it.

A server model gets the best entries beside the question and is told to stay
within them; with the embedded model alone, a question an entry covers well is
answered with the entry itself, and any other question honestly, without it.
Pure logic but for the one read of the files.
"""

from __future__ import annotations

import difflib
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import bm25s
import Stemmer
import yaml

from assistant.core import spoken
from assistant.llm.words import STOP, WORD, read

logger = logging.getLogger(__name__)

GROUND = 0.5  # an entry covering this much of a question goes into a server model's prompt ...
SPEAK = 0.5  # ... and is the embedded coach's answer (no question outside coaching came above 0.44)
EVIDENCE = 2.4  # ... if the question's words it holds weigh this much (idf): a word in a sixth of the
# entries or more is none on its own ("What time is it?": "time", 1.95), one in a few is ("squat", 2.5)
SHOWN = 3  # entries a server model is given at most
LEAD = 1.1  # an entry whose BM25 score is this many times the next one's answers on less cover ...
LEAD_COVER = 0.35  # ... if it covers this much of the question ...
LEAD_HELD = 3  # ... with this many of its words (two let "who won the football last night" in)
DOMAIN = 0.7  # a question less in the base's words than this is covered less (by the square of the share)
MAX_CHARS = 300  # a question is searched by its beginning: the work on the event loop stays a few ms
ANSWERED = 0.5  # a word of the question only in an entry's answer, not in how it is asked, counts this much
TIE = 0.3  # how much a document's closeness in all its words adds to its BM25 score
OFFLINE = "I can't answer that well offline. With a language model server, I can."
TOLD = "What the user told you before that bears on it (in their words):"
BORNE = 3  # the user's notes given beside a question at most
_VAGUE = frozenset(("today", "yesterday", "tomorrow", "morn", "evening", "night", "week", "day", "time", "bit", "home",
                    "lot"))  # stems no note is about on their own ("today", rare in the base, weighs much)
# when a question is asked about weighs no more than a word in a fifth of the entries: "lower back aching
# after deadlifts yesterday" is the back's entry, and "I don't want to train today" still motivation's
_WHEN = frozenset(("today", "yesterday", "tomorrow", "tonight"))
WHEN_WEIGHT = 1.7
# what is looked up in the world, which no entry knows, whatever words it shares with one: a place's hours
# ("what time does my gym close today"), the weather's forecast ("what's the weather like tomorrow"), a
# match's result ("did my team win the football match"); the verb ends its clause ("when do my hips open
# up", "when does the eating window close if ..." are coaching)
_THEN = r"(?:\s+(?:today|tonight|tomorrow|later|on \w+days?|at (?:the )?weekends?|this \w+))?\s*(?:[?.!]|$)"
_LOOKUP = re.compile(rf"\bwhat time (?:does|do|will) (?!i |we |you )(?:\w+ ){{1,6}}?(?:open|close|shut)s?{_THEN}"
                     r"|\b(?:opening|closing) (?:hours|times?)\b|\bweather forecast\b"
                     rf"|\bwhat(?:'s|s| is) the weather(?: like)?{_THEN}|\bwill it (?:rain|snow){_THEN}"
                     r"|\bwho (?:won|scored|is winning)\b|\bdid (?:my|the|our) (?:\w+ ){0,2}(?:team|side|club) win\b"
                     r"|\bwhat(?: was|'s|s| is) the (?:final )?score\b"
                     # sums: "whats 15 percent of 80" is no treadmill's incline
                     r"|\b(?:what(?:'s|s| is)|how much is|calculate|work out)\s+\d[\d.,]*\s*"
                     r"(?:(?:percent|per cent|%) of|times|plus|minus|divided by|multiplied by)\s+\d[\d.,]*"
                     r"(?:\s+(?:kg|kilos?|pounds?|lbs?|minutes?|seconds?|sets?|reps?|then|please|exactly|again))?\W*$"
                     r"|\b(?:what(?:'s|s| is)|how much is)\s+\d[\d.,]*\s+squared\W*$", re.I)
NOTES = ("Coaching notes for the user's next question. Answer from these notes in your own words, briefly; "
         "if they do not cover the question, say you are not sure rather than guess.")

_RACE = re.compile(r"\d+k")  # a race ("5k", "10k") is a topic; any other number is none
# The parts of the body a question or a user's limits name, by one name each: an entry
# about another part is no answer ("my knee hurts after a run" is not the heel's entry).
# "back" only as one ("get back into it" is none).
_PARTS = {
    "knee": "knees?", "ankle": "ankles?", "hip": "hips?", "shoulder": "shoulders?", "wrist": "wrists?",
    "elbow": "elbows?", "heel": "heels?", "achilles": "achilles", "shin": "shins?", "calf": "calf|calves",
    "hamstring": "hamstrings?", "groin": "groin", "neck": "neck", "foot": "foot|feet|arch(?:es)?",
    "chest": "chest", "arm": "arms?", "back": r"(?:my|lower|upper|the|your|sore|bad|stiff)\s+back",
}
_TROUBLE = re.compile(r"\b(?:sore|bad|hurt(?:s|ing)?|pain|painful|ach(?:e|es|ing)|achy|injur\w*|sprain\w*|strain\w*"
                      r"|torn|tear|broken?|broke|surgery|operation|weak|stiff|arthritis|tendin\w*|replace\w*|dodgy|problem|kill\w*"
                      r"|click\w*|pop\w*|crack\w*|grind\w*|cav(?:e|es|ing)|wobbl\w*|tight|twinge\w*|tweak\w*)\b",
                      re.I)
_SYMPTOM = re.compile(r"\b(?:dizzy|dizziness|light[- ]?headed\w*|faint\w*|fever\w*|chest (?:pain|tight\w*)"
                      r"|short of breath|breathless\w*|numb(?:ness|ed|s)?|tingl\w*|palpitations?|swollen|swelling"
                      r"|vomit\w*"
                      r"|blacked out|passed out|nause\w*|heart (?:is )?(?:racing|pounding)"
                      r"|cough\w* (?:up )?(?:(?:some|a|bit|bits|little|lot|of|specks?|streaks?|traces?) ){0,4}blood"
                      r"|(?:pee|urine|wee)(?:'s)?(?: (?:is|was|has|been|looks?|looked|went|turned|came|out|seems?|like"
                      r"|really|very|quite|so|kind|sort|of|almost|a|dark|darker|reddish|coca)){0,5}[ -](?:brown|cola)"
                      r"|(?:brown|cola)[- ](?:colou?red )?(?:pee|urine|wee))\b",  # ... and urine the colour of cola
                      re.I)
_REQUEST = re.compile(r"\bhow (?:do|can|could|should|would) (?:i|you|we)\b|(?<!whether )\bor (?:no|not)\W*$"
                      r"|\bwhat (?:do|should|can) i\b|\bhelp me\b|\bshould(?:n't|nt)\b"
                      r"|\bi (?:wonder|don't know|dont know) (?:if|whether|how|what|why)\b"
                      # asked inside a sentence: "... can I keep doing my workouts", "..., whats the least I can do"
                      r"|\b(?:can|could|should|do|may) i (?:still |just |really |even )?(?:keep|start|do|go|run|train"
                      r"|lift|eat|drink|take|use|try|get|work|exercise|skip|stretch|swim|play|walk|have|be)\b"
                      r"|\bis it (?:ok|okay|safe|bad|fine|normal|true|worth)\b"
                      r"|\bwhat(?:'s|s| is) the (?:least|most|best|worst|right|fastest|easiest|safest|cheapest"
                      r"|difference)\b"
                      # a request as a noun phrase: "cheapest way to get into town", "best time to run"
                      r"|^(?:best|cheapest|fastest|easiest|safest|right) (?:way|time|place|age) (?:to|for)\b"
                      r"|^(?:any )?tips?\b|\btips (?:for|on)\b"
                      # an order: "so tell me about creatine", "translate good morning" (not "tell me something nice",
                      # nor a story, which is the embedded model's to tell)
                      r"|^(?:(?:ok|okay|so|please|coach|hey)\W+)*(?:tell me|translate|explain|describe|define|recommend"
                      r"|suggest|calculate|convert|look up|find out|teach me)\b"
                      r"(?!\W+(?:something|anything|more)\b)(?!.*\b(?:story|stories|joke|jokes|poem)\b)", re.I)
# Wants an answer, though no entry may answer it as a question on one word of its own (``offline`` keeps
# its rule for remarks): a question asked inside a sentence ("tabata whats the work rest thing again") or
# tagged on at its end ("rowing machine its mostly arms right", not "you are totally right"), a training
# problem told ("... and nothing changes").
# the words before "right" that make it an agreement ("that is right", "you are totally right", "did it right")
_AGREEING = (r"(?!(?:that|this|it|you|your|the|is|are|am|was|'s|s|did|do|got|done|sounds?|seems?|looks?|all"
             r"|exactly|totally|about|quite|absolutely|so|just|very|dead|spot|on|to)\W)")
_WANTS = re.compile(r"\bwhat(?:'s|s| is) the\b"
                    rf"|^(?:\S+ ){{2,}}{_AGREEING}\S+ {_AGREEING}\S+ (?:right|correct)\W*$"
                    r"|\bnothing (?:changes|changed|works)\b|\bstuck at (?:\d|the same)"
                    r"|\bnot (?:getting|seeing) (?:any )?(?:stronger|faster|fitter|leaner|better|results|progress)\b",
                    re.I)
# how an entry names a symptom said in other words: "light headed" as "lightheaded", "pounding" as "heartbeat"
_SYMPTOM_KEY = {"headed": "light", "pounding": "heartbeat", "racing": "heartbeat", "palpitation": "heartbeat",
                "palpitations": "heartbeat", "out": "faint", "blood": "up blood",
                **dict.fromkeys(("brown", "cola", "pee", "urine", "wee"), "brown")}
REMARK = 0.75  # what an entry must cover of a remark (no question) to answer it
LONG = 8  # words: a remark about the body longer than this describes a problem
_PART = re.compile("|".join(rf"(?P<{name}>\b(?:{words})\b)" for name, words in _PARTS.items()), re.I)


def body_parts(text: str) -> frozenset[str]:
    """The parts of the body ``text`` names ("my knees" -> knee)."""
    return frozenset(m.lastgroup for m in _PART.finditer(text) if m.lastgroup)


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    topic: str
    questions: tuple[str, ...]
    answer: str
    caution: bool
    sources: tuple[str, ...]
    any_part: bool = False  # care for any part of the body (ice or heat): found whatever part a question names


@dataclass(frozen=True, slots=True)
class Found:
    entry: Entry
    score: float  # BM25's, for the order
    cover: float  # 0-1: the share of the question the entry holds
    evidence: float = 0.0  # the weight (idf) of the question's words it holds
    held: int = 0  # how many of the question's words it holds


def entries() -> tuple[Entry, ...]:
    """Every entry of every file, in order; a file that breaks the schema raises."""
    found = []
    folder = resources.files(__package__).joinpath("knowledge")
    for item in sorted(folder.iterdir(), key=lambda f: f.name):
        if item.name.endswith(".yaml"):
            found += [_entry(raw, item.name) for raw in yaml.safe_load(item.read_text())["entries"]]
    return tuple(found)


def _entry(raw: dict[str, Any], file: str) -> Entry:
    try:
        entry = Entry(str(raw["id"]), str(raw["topic"]), tuple(str(q) for q in raw["questions"]),
                      " ".join(str(raw["answer"]).split()), bool(raw["caution"]),
                      tuple(str(s) for s in raw["sources"]), bool(raw.get("any_part", False)))
    except (KeyError, TypeError) as err:
        raise ValueError(f"knowledge/{file}: entry {raw.get('id', '?')!r}: {err}") from err
    if not entry.questions or not entry.sources or not entry.answer:
        raise ValueError(f"knowledge/{file}: entry {entry.id!r} needs questions, an answer and a source")
    return entry


class Knowledge:
    """The entries, indexed once (a few milliseconds for a few hundred)."""

    def __init__(self, known: tuple[Entry, ...]):
        self.entries = known
        self._stemmer = Stemmer.Stemmer("english")
        # One document per question and one per answer, each pointing at its entry: a
        # question is matched to the nearest way an entry is asked, or to its answer.
        documents = [(i, text) for i, e in enumerate(known) for text in (*e.questions, e.answer)]
        self._of = [i for i, _ in documents]
        self._texts = [text.lower() for _, text in documents]
        self._stemmed = [frozenset(self._stems(text)) for _, text in documents]
        self._index = bm25s.BM25()
        self._index.index(self._tokens([text for _, text in documents]), show_progress=False)
        texts = [" ".join((*e.questions, e.answer)) for e in known]
        self._words = [set(self._stems(text)) for text in texts]
        self._asked = [set(self._stems(" ".join(e.questions))) for e in known]
        self._parts = [body_parts(text) for text in texts]
        seen: dict[str, int] = {}
        for words in self._words:
            for word in words:
                seen[word] = seen.get(word, 0) + 1
        self._idf = {w: math.log(1 + len(known) / n) for w, n in seen.items()}
        for word in _WHEN & self._idf.keys():  # rare in the base, yet no topic
            self._idf[word] = min(self._idf[word], WHEN_WEIGHT)
        self._unknown = math.log(1 + len(known))  # a word no entry has: as rare as can be

    def _tokens(self, texts: list[str]) -> Any:
        return bm25s.tokenize([read(t) for t in texts], stopwords=list(STOP), stemmer=self._stemmer,
                              show_progress=False)

    def _stems(self, text: str) -> list[str]:
        """The words that say what is asked, as stems: no stop words, no numbers (a
        "5" or an "80" is no topic), irregular forms and units by one name."""
        words = [w for w in WORD.findall(read(text)) if w not in STOP and (not w[0].isdigit() or _RACE.fullmatch(w))]
        return self._stemmer.stemWords(words)

    def search(self, question: str, k: int = SHOWN) -> list[Found]:
        """The ``k`` best entries for ``question``, best first, with their cover."""
        question = question[:MAX_CHARS]
        stems = self._stems(question)
        if not stems or _LOOKUP.search(question) and not _SYMPTOM.search(question):  # a symptom said is answered
            return []
        tokens = self._tokens([question])
        if not any(len(ids) for ids in tokens.ids):
            return []
        results, scores = self._index.retrieve(tokens, k=min(k * 8, len(self._of)), show_progress=False)
        asked = set(stems)
        weight = sum(self._idf.get(s, self._unknown) for s in asked)
        known = sum(self._idf[s] for s in asked if s in self._idf)
        domain = known / weight  # how much of the question is in the base's words at all
        found: dict[int, Found] = {}
        said = question.lower()
        parts = body_parts(question)
        for document, score in zip(results[0], scores[0], strict=True):
            index = self._of[document]
            if score <= 0 or (parts and not parts & self._parts[index] and not self.entries[index].any_part):
                continue  # about other parts of the body, or none and no care for any (ice or heat is)
            # BM25 ties, or nearly, when only stop words tell documents apart ("what should I DO on a rest
            # day"): the document closest in all its words goes first
            both = self._stemmed[document]
            alike = difflib.SequenceMatcher(None, said, self._texts[document]).ratio()
            score = float(score) + TIE * (alike + len(asked & both) / len(asked | both)) / 2
            if index not in found or found[index].score < score:
                shared = asked & self._words[index]
                held = sum(self._idf[s] * (1.0 if s in self._asked[index] else ANSWERED) for s in shared)
                cover = held / known * min(1.0, domain / DOMAIN) ** 2 if known else 0.0
                found[index] = Found(self.entries[index], score, cover, held, len(shared))
        return sorted(found.values(), key=lambda f: -f.score * f.cover)[:k]

    def grounding(self, question: str) -> str:
        """The notes a server model gets beside ``question``: the entries that cover
        it, or "" when none does."""
        shown = [f.entry.answer for f in self.search(question) if f.cover >= GROUND and f.evidence >= EVIDENCE]
        return NOTES + "\n" + "\n".join(f"- {answer}" for answer in shown) if shown else ""

    def bearing(self, question: str, notes: Sequence[str]) -> list[str]:
        """The user's own ``notes`` (the facts they asked the coach to keep) that
        bear on ``question``: those that name a part of the body it names, or hold
        its words of weight ``EVIDENCE`` (one rare word, "5k" or "diet", or two
        common ones), best first."""
        question = question[:MAX_CHARS]
        asked, parts = set(self._stems(question)) - _VAGUE, body_parts(question)
        weighed = [(sum(self._idf.get(s, self._unknown) for s in asked & set(self._stems(note)))
                    + EVIDENCE * bool(parts & body_parts(note)), i) for i, note in enumerate(notes)]
        return [notes[i] for weight, i in sorted(weighed, key=lambda w: (-w[0], -w[1]))[:BORNE]
                if weight >= EVIDENCE]

    def answer(self, question: str) -> Found | None:
        """The entry that answers ``question`` on its own (the embedded coach), or None:
        one that covers it by ``SPEAK``, or else one that stands out (``LEAD``): words
        said in passing ("my son has 14 years", "for my run tomorrow") lower every
        entry's cover, and the entry the question is about still leads the others."""
        found = self.search(question, k=3)
        if not found:
            return None
        if found[0].cover >= SPEAK and found[0].evidence >= EVIDENCE:
            return found[0]
        lead = max(found, key=lambda f: f.score)
        runner_up = max((f.score for f in found if f is not lead), default=0.0)  # by score, of the best three
        stands_out = lead.score >= LEAD * runner_up and lead.cover >= LEAD_COVER and lead.held >= LEAD_HELD
        return lead if stands_out and lead.evidence >= EVIDENCE else None


def addressed(answer: str, name: str) -> str:
    """``answer`` said to the user by the name the interview gave ("Sam, rest two to
    five minutes ..."); as it is without one."""
    first, _, rest = answer.partition(" ")
    if not name or not rest:
        return answer
    keep = first == "I" or first.startswith("I'") or (first.isupper() and len(first) > 1)  # "I", "NHS"
    return f"{name}, {first if keep else first[0].lower() + first[1:]} {rest}"


def answers_for(known: Sequence[Entry], name: str) -> list[str]:
    """Every answer the knowledge base gives a user called ``name`` (as ``addressed``;
    notes on a limit come after), the honest one first."""
    return [OFFLINE, *(addressed(entry.answer, name) for entry in known)]


def troubled_parts(profile: Mapping[str, str], notes: Sequence[str] = ()) -> frozenset[str]:
    """The parts of the body the user said give them trouble: in the interview's
    limits, or in a note that names a trouble ("my left knee is sore")."""
    troubled = [body_parts(note) for note in notes if _TROUBLE.search(note)]  # each note on its own
    return body_parts(profile.get("limits", "")).union(*troubled)


def adapted(found: Found, question: str, profile: Mapping[str, str], notes: Sequence[str] = ()) -> str:
    """The entry's answer for this user: by their name, and with a word on a limit
    the interview or their notes gave ("bad left knee") when the question or the
    answer concerns that part of the body ("With your knee, stay in a range that
    does not hurt ...")."""
    answer = addressed(found.entry.answer, profile.get("name", ""))
    concerned = sorted(troubled_parts(profile, notes) & (body_parts(question) | body_parts(found.entry.answer)))
    if not concerned:
        return answer
    return f"{answer} With your {' and '.join(concerned)}, stay in a range that does not hurt, and stop if it does."


def offline(knowledge: Knowledge, heard: str, profile: Mapping[str, str], notes: Sequence[str] = ()) -> str | None:
    """With the embedded model only: the knowledge base's answer to a question it
    covers, the honest one (``OFFLINE``) to anything else that wants an answer
    (``wants_answer``); None for small talk ("thanks", "I'm tired": the
    embedded model answers). What is not put as a question (``_questioned``) is
    answered by an entry only when that holds two of its words, of twice the
    weight ``EVIDENCE``, and covers it by ``REMARK`` (or half of a long one),
    and by an entry that warns only when it names a symptom or a trouble. A
    symptom said ("feeling dizzy halfway through my class") is answered only by
    an entry that warns of it."""
    found, questioned = knowledge.answer(heard), _questioned(heard)
    said = [m.group().lower() for m in _SYMPTOM.finditer(heard)]
    symptoms = {_SYMPTOM_KEY.get(WORD.findall(symptom)[-1], symptom[:5]) for symptom in said}

    def warns(f: Found) -> bool:
        return f.entry.caution and any(s in f.entry.answer.lower() for s in symptoms)

    if found is not None and (not questioned and not _remark_answer(found, heard)
                              or symptoms and not found.entry.caution):
        found = None  # "ok cool" is not the cool-down's entry, nor "my heart is pounding" low-impact cardio's
    if symptoms and (found is None or not warns(found)):  # "I coughed up blood": not the smokers' entry
        found = next((f for f in knowledge.search(heard, k=8) if f.evidence >= EVIDENCE and warns(f)), found)
    if found is not None:
        logger.info("knowledge: %s (cover %.2f) answers %r", found.entry.id, found.cover, heard)
        return adapted(found, heard, profile, notes)
    return OFFLINE if questioned or _WANTS.search(heard) or _troubled(heard, bool(said)) else None


def _remark_answer(found: Found, heard: str) -> bool:
    """An entry answers what was not asked as a question only on two words in
    common, most of it covered, and, for an entry that warns, a symptom or a
    trouble said."""
    if found.held < 2 or found.evidence < 2 * EVIDENCE or found.cover < REMARK and len(heard.split()) <= LONG:
        return False
    return not found.entry.caution or bool(_SYMPTOM.search(heard) or _TROUBLE.search(heard))


def wants_answer(heard: str) -> bool:
    """What a 135M model must not answer on its own: a question, a request for
    help without a question mark ("... how do I fix it", "gym today or no"), a
    symptom, or a body that troubles or is described at length ("overhead press
    kills my lower back", "I mostly feel my rows in my biceps, not my back")."""
    return _questioned(heard) or bool(_WANTS.search(heard)) or _troubled(heard, bool(_SYMPTOM.search(heard)))


def _questioned(heard: str) -> bool:
    """Put as a question (``spoken.asks``) or a request (``_REQUEST``)."""
    return spoken.asks(heard) or bool(_REQUEST.search(heard))


def _troubled(heard: str, symptom: bool) -> bool:
    """A symptom said, or a part of the body in trouble or described at length."""
    return symptom or bool(body_parts(heard)) and (bool(_TROUBLE.search(heard)) or len(heard.split()) > LONG)


@cache
def knowledge() -> Knowledge:
    return Knowledge(entries())
