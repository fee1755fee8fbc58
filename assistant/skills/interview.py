"""The coach-creator interview: six questions whose answers become the user's
profile, and the profile as the system prompt carries it. Pure logic.

``Interview.hear(text)`` takes one answer (or "skip", "repeat", "go back",
"stop") and returns what the coach says next; the caller stores
``Interview.answers`` and ``position`` after every step, so an interrupted
interview resumes where it stopped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from assistant.core.spoken import strip_polite

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
_NAME = re.compile(r"(?:you can |just )?(?:call me|my name is|i'm|i am|it's|its|name's|they call me) (?P<n>.+)")


def plain(text: str) -> str:
    return strip_polite(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).strip())


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
        if not _SKIP.fullmatch(said) and said:
            key = QUESTIONS[self.position].key
            self.answers[key] = _answer(key, text)
        self.position += 1
        return self.ask()

    def closing(self) -> str:
        name = self.answers.get("name")
        return f"Thanks{', ' + name if name else ''}. Your coach is ready, and I'll coach you with this in mind."


def _answer(key: str, text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()[:MAX_ANSWER_CHARS]
    if key == "name":
        said = plain(text)
        m = _NAME.fullmatch(said)
        name = m["n"] if m else said
        return " ".join(w.capitalize() for w in name.split()[:3])
    return text.rstrip(".") if text.count(".") <= 1 else text


def render(profile: Mapping[str, str]) -> str:
    """The profile as the system prompt carries it; "" when empty."""
    parts = [f"{q.label}: {profile[q.key]}" for q in QUESTIONS if profile.get(q.key)]
    if not parts:
        return ""
    return "About the user, from their coaching interview. " + ". ".join(p.rstrip(".") for p in parts) + "."
