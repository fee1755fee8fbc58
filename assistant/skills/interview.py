"""The coach-creator interview: six questions whose answers become the user's
profile, and the profile as the system prompt carries it. Pure logic.

``Interview.hear(text)`` takes one answer (or "skip", "repeat", "go back",
"stop") and returns what the coach says next; the caller stores
``Interview.answers`` and ``position`` after every step, so an interrupted
interview resumes where it stopped.
"""

from __future__ import annotations

import functools
import importlib
import logging
import pkgutil
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from assistant.core.spoken import strip_polite

logger = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 300


@dataclass(frozen=True, slots=True)
class Question:
    key: str
    text: str
    label: str  # how the profile names the answer


QUESTIONS = (
    Question("name", "What should I call you?", "Call them"),
    Question("goal", "What is your main goal, and by when?", "Main goal"),
    Question("level", "Where are you now? For example, how often you train and what you can do today.",
             "Where they are now"),
    Question("schedule", "How many days a week can you train, and for how long each time?", "Schedule"),
    Question("limits", "Any injuries or limits I should know about?", "Injuries or limits"),
    Question("style", "How do you like to be coached? For example gentle, firm, detailed or short.",
             "How they like to be coached"),
)
KEYS = tuple(q.key for q in QUESTIONS)
INTRO = "Let's set up your coaching. I'll ask six short questions. Say skip, repeat or go back at any time."
OFFER = "Hi, I'm your coach. To tailor my coaching, I can ask you six quick questions. Say: set up my coach."
START = re.compile(r"(?:let's |let us )?(?:start|begin|do|resume|continue|set up|setup|restart)?(?: the| my)? ?"
                   r"(?:interview|onboarding|setup|set up my coach|setup my coach|coach setup|profile|questions)"
                   r"|(?:set up|setup) my(?: coach| coaching| profile)?|onboard me")  # "coach" at the end is stripped

_SKIP = re.compile(r"skip(?: it| that| this| this one| this question)?|next(?: question)?|pass|no answer|"
                   r"i don't know|not sure|none|nothing|no")
_REPEAT = re.compile(r"repeat(?: that| the question| it)?|say (?:that|it) again|what|sorry|pardon|come again|"
                     r"what was the question|again")
_BACK = re.compile(r"go back|back|previous(?: question)?|the last question|undo")
_STOP = re.compile(r"stop(?: the interview)?|pause(?: the interview)?|later|not now|let's stop|quit|exit|cancel"
                   r"(?: the interview)?|finish later|stop here")
_ASKED = {"my", "name", "call", "me", "i", "i'm", "it's", "its", "just", "you"}  # words of _NAME's openings
_NAME = re.compile(r"(?:(?:hi|hello|hey) )?(?:you can |just )?"
                   r"(?:call me|my name is|my name's|i'm|i am|it's|its|name's|they call me) (?P<n>.+)")


def plain(text: str) -> str:
    return strip_polite(" ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()))


@dataclass
class Interview:
    answers: dict[str, str] = field(default_factory=dict)
    position: int = 0  # the question being asked; len(QUESTIONS) when done
    stopped: bool = False

    @property
    def done(self) -> bool:
        return self.position >= len(QUESTIONS)

    def ask(self) -> str:
        """The current question with where the user is: "Question 3 of 6. ..."."""
        if self.done:
            return self.closing()
        question = QUESTIONS[self.position]
        return f"Question {self.position + 1} of {len(QUESTIONS)}. {question.text}"

    def opening(self) -> str:
        resumed = " Picking up where we stopped." if self.answers or self.position else ""
        return f"{INTRO}{resumed} {self.ask()}"

    def hear(self, text: str) -> str:
        """One utterance during the interview; returns what the coach says next."""
        said = plain(text)
        self.stopped = False
        if _STOP.fullmatch(said):
            self.stopped = True
            return "Okay, we'll stop here. Your answers are saved; say: set up my coach, to go on."
        if _REPEAT.fullmatch(said):
            return self.ask()
        if _BACK.fullmatch(said):
            self.position = max(0, self.position - 1)
            return self.ask()
        greeting = ""
        if not _SKIP.fullmatch(said) and said:
            key = QUESTIONS[self.position].key
            self.answers[key] = _answer(key, text)
            if key == "name" and self.answers[key]:  # said back: a name misheard is heard now, "go back" mends it
                greeting = f"Nice to meet you, {self.answers[key]}. "
        self.position += 1
        return greeting + self.ask()

    def closing(self) -> str:
        name = self.answers.get("name")
        return f"Thanks{', ' + name if name else ''}. Your coach is ready, and I'll coach you with this in mind."


def _answer(key: str, text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()[:MAX_ANSWER_CHARS]
    if key == "name":
        return heard_name(text)
    return text.rstrip(".") if text.count(".") <= 1 else text


def heard_name(text: str) -> str:
    """The name an answer to "What should I call you?" gives: "Call me sam." -> "Sam"."""
    said = plain(_folded(text[:MAX_ANSWER_CHARS]))  # "José" -> "Jose", not "Jos"
    m = _NAME.fullmatch(said)
    name = m["n"] if m else said
    return " ".join(w.capitalize() for w in name.split()[:3])


@functools.cache
def _given_names() -> frozenset[str]:
    """The given names of Faker's person providers, all its locales (about 30,000,
    lower case, accents dropped: "jose"), as whisper writes them; none (logged)
    if Faker cannot give them."""
    try:
        from faker.providers import person

        found: set[str] = set()
        for module in pkgutil.iter_modules(person.__path__):
            provider = getattr(importlib.import_module(f"{person.__name__}.{module.name}"), "Provider", None)
            for kind in ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary"):
                if isinstance(names := vars(provider).get(kind) if provider else None, (list, tuple, dict)):
                    found.update(_folded(name) for name in names if isinstance(name, str))
        return frozenset(found)
    except Exception as err:  # an install without Faker, or a Faker of another shape: no name is doubted
        logger.warning("interview: no given names from Faker (%s): names are taken as heard", err)
        return frozenset()


def _folded(name: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)).lower()


def load_names() -> None:
    """Read the given names (about 230 ms) off the event loop: an interview started."""
    threading.Thread(target=_given_names, name="given-names", daemon=True).start()


def given_name(name: str) -> bool:
    """``name`` starts with a given name ("Sam", "Mary Jane", "Siobhan"; not
    "Send"). Some real names are not among them: this only tells which of
    whisper's readings of an answer to prefer."""
    first = _folded(name.split()[0]) if name else ""
    return first in _given_names() and first not in _ASKED  # "My Name Is" is no name


def doubtful_name(text: str) -> bool:
    """An answer to the name question whose name is no given name ("Call me
    send."), where whisper may have misheard one; no skip, repeat, back or stop."""
    said = plain(text)
    return bool(said) and not _control(said) and not given_name(heard_name(text))


def _control(said: str) -> bool:
    return any(p.fullmatch(said) for p in (_STOP, _REPEAT, _BACK, _SKIP))


def a_name(readings: Iterable[str]) -> str | None:
    """The likeliest of whisper's readings of an answer whose name is a given name,
    and that is no skip, repeat, back or stop ("Skip it.": Skip is a given name)."""
    return next((text for text in readings if given_name(heard_name(text)) and not _control(plain(text))), None)


class Asking:
    """The interview as the ears see it (``TranscriptionService.asking``): the
    question it waits on an answer to, and whether words answer it misheard."""

    def __init__(self, running: Callable[[], Interview | None]):
        self.running = running  # the interview under way, if any

    def question(self) -> str | None:
        interview = self.running()
        return None if interview is None or interview.done else QUESTIONS[interview.position].text

    def doubted(self, text: str) -> bool:
        """A name that is no given name, to the name question ("Call me send.");
        never while the names are read (``load_names``) or if there are none."""
        interview = self.running()
        return interview is not None and not interview.done and QUESTIONS[interview.position].key == "name" \
            and _given_names.cache_info().currsize > 0 and bool(_given_names()) and doubtful_name(text)

    @staticmethod
    def chosen(readings: Sequence[str]) -> str | None:
        return a_name(readings)


def render(profile: Mapping[str, str]) -> str:
    """The profile as the system prompt carries it; "" when empty."""
    parts = [f"{q.label}: {profile[q.key]}" for q in QUESTIONS if profile.get(q.key)]
    if not parts:
        return ""
    return "About the user, from their coaching interview. " + ". ".join(p.rstrip(".") for p in parts) + "."
