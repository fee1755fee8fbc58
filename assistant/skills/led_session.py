"""A session of the plan led by voice, set by set: what the coach says before
each set, what the user says after it ("done", "done, eight", "only six",
"that was hard", "skip this one", "how many sets left?", "repeat", "finish"),
and where the session stands, as plain data a restart reads back. Pure logic;
``planning.Leader`` keeps it with the notebook and starts the rest timers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from assistant.core import spoken
from assistant.skills.timing import spoken_duration
from assistant.skills.training_plan import BadPlan, Session, Target, session_dict, session_from

Step = Literal["done", "skip", "left", "repeat", "finish"]
SAY_DONE = "Say done after the set."
Effort = Literal["", "easy", "hard"]
MAX_SAID_REPS = 200

# What the user says while a session is led; anything else is handled as usual (a question
# to the model between sets, a timer, a log entry). Matched on ``spoken.normalize``'d text ("one" is 1).
_DONE = re.compile(r"(?:(?:ok(?:ay)? )?(?:done|finished|(?:set|said) done|that's (?:it|done|1)|next set|complete)"
                   r"(?: (?:with )?(?P<n>\d+)(?: reps?)?)?|(?:only|just) (?:got )?(?P<only>\d+)(?: reps?)?"
                   r"|(?:i )?(?:only |just )?(?:did|got|managed|made) (?:only |just |all )?(?P<did>\d+)(?: reps?)?"
                   r"|(?:i )?(?:did|got|made) (?:all of them|them all|all reps|all the reps)"
                   r"|(?P<bare>\d+)(?: reps?)?)(?: (?:this time|today|again))?")
_EFFORT = re.compile(r"(?:that|it|this 1|that 1|this set|that set) (?:was|felt) (?:really |very |pretty |too |a bit )?"
                     r"(?P<e>hard|tough|heavy|brutal|easy|light)")
_SKIP = re.compile(r"(?:(?:can we|could we|let's|let us) )?(?:skip|swap|drop|change) (?:this|that|it|this 1|"
                   r"this exercise|the exercise)(?: please)?|move on to the next exercise")
_LEFT = re.compile(r"how many (?:more )?(?:sets|cents|sense|exercises|more)(?: are)?(?: left| to go)?|what's left"
                   r"|how much (?:is )?left")
_REPEAT = re.compile(r"repeat(?: that| it)?|say (?:that|it) again|come again|what(?:'s| is) (?:the )?(?:next|target)"
                     r"|what was (?:that|the target)|(?:what's the )?next exercise(?: please)?")
_FINISH = re.compile(r"(?:finish|end|stop) (?:the |my |this )?(?:workout|session|training)"
                     r"|(?:(?:i'm|i am) )?done for today|that's (?:it|all) for today|finish")
# "Done for today?" asks; "can we swap it?" asks for the skip.
_ASKING = re.compile(r"(?:can|could) we ")
# tiny.en's mishearings of these few words are in them where nothing else could be meant:
# "said done" (set done), "how many cents left?", "and done for today" (the "and" goes).
# What may come before the words for the session and changes nothing: "ugh, that was brutal".
_SIGH = re.compile(r"(?:ugh|phew|oof|whew|man|wow|yeah|alright|right|okay so|so) ")


def heard(text: str) -> tuple[Step, int | None, Effort] | None:
    """What ``text`` says to a led session: the step, the reps said, the effort;
    None when it says nothing to it ("Done?" asks, it does not report a set)."""
    said = _SIGH.sub("", spoken.strip_polite(spoken.normalize(text)), count=1)
    asked = "?" in text
    if (m := _DONE.fullmatch(said)) is not None and not asked:
        reps = next((int(n) for n in m.group("n", "only", "did", "bare") if n), None)
        return ("done", reps, "") if reps is None or 0 <= reps <= MAX_SAID_REPS else None
    if (m := _EFFORT.fullmatch(said)) is not None and not asked:
        return "done", None, "hard" if m["e"] in ("hard", "tough", "heavy", "brutal") else "easy"
    for step, pattern in (("skip", _SKIP), ("left", _LEFT), ("repeat", _REPEAT), ("finish", _FINISH)):
        if pattern.fullmatch(said) and not (asked and step in ("skip", "finish") and not _ASKING.match(said)):
            return step, None, ""  # type: ignore[return-value]
    return None


@dataclass(frozen=True, slots=True)
class SetDone:
    exercise: str
    set_no: int
    reps: int | None
    seconds: int | None
    load_kg: float | None
    effort: Effort = ""
    km: float | None = None


@dataclass
class Lead:
    """Where a led ``session`` stands: the exercise at ``index``, its set ``set_no``
    (from 1), the sets done so far and the exercises skipped."""

    session: Session
    day: str = ""  # the date it was started on, YYYY-MM-DD
    index: int = 0
    set_no: int = 1
    done: list[SetDone] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def target(self) -> Target | None:
        return self.session.targets[self.index] if self.index < len(self.session.targets) else None

    @property
    def finished(self) -> bool:
        return self.target is None

    def announce(self) -> str:
        """What to do now: "Squats, set 2 of 3: 8 reps at 60 kilos. Say done after the set."."""
        target = self.target
        if target is None:
            return self.summary()
        return f"{_set_of(target, self.set_no)}. {SAY_DONE}"

    def record(self, reps: int | None, effort: Effort) -> tuple[SetDone, int]:
        """The current set done (``reps`` as said, else the target's): the set and
        the rest before the next one (0 after the session's last set)."""
        target = self.target
        assert target is not None
        did = SetDone(target.exercise, self.set_no, reps if reps is not None else target.reps,
                      target.seconds, target.load_kg, effort, target.km)
        self.done.append(did)
        self._advance(last=self.set_no >= target.sets)
        return did, 0 if self.finished else target.rest_s

    def skip(self) -> str:
        target = self.target
        assert target is not None
        self.skipped.append(target.exercise)
        self._advance(last=True)
        return target.exercise

    def _advance(self, last: bool) -> None:
        if last:
            self.index, self.set_no = self.index + 1, 1
        else:
            self.set_no += 1

    def left(self) -> str:
        target = self.target
        if target is None:
            return "Nothing left: that was the last set."
        sets = target.sets - self.set_no + 1
        after = len(self.session.targets) - self.index - 1
        more = f", then {after} more exercise{'s' if after != 1 else ''}" if after else ", and that's the last exercise"
        return f"{sets} set{'s' if sets != 1 else ''} of {target.exercise} left{more}."

    def summary(self) -> str:
        sets = len(self.done)
        skipped = f" Skipped: {', '.join(self.skipped)}." if self.skipped else ""
        hard = sum(1 for s in self.done if s.effort == "hard")
        felt = f" {hard} set{'s' if hard != 1 else ''} felt hard." if hard else ""
        return f"Workout done: {sets} set{'s' if sets != 1 else ''} of {self.session.name}.{skipped}{felt} Well done."

    def as_dict(self) -> dict[str, Any]:
        return {"session": session_dict(self.session), "day": self.day, "index": self.index, "set_no": self.set_no,
                "done": [{name: getattr(s, name) for name in SetDone.__slots__} for s in self.done],
                "skipped": list(self.skipped)}


def _set_of(target: Target, set_no: int) -> str:
    name = target.exercise[:1].upper() + target.exercise[1:]
    load = f" at {target.load_kg:g} kilos" if target.load_kg else ""
    if target.km is not None:
        what = f"{target.km:g} kilometers"
    elif target.reps:
        what = f"{target.reps} reps{load}"
    else:
        what = spoken_duration(target.seconds or 0)
    return f"{name}, set {set_no} of {target.sets}: {what}" if target.sets > 1 else f"{name}: {what}"


def from_dict(data: Any) -> Lead:
    """The lead ``data`` holds, checked (``BadPlan`` says what is wrong)."""
    if not isinstance(data, dict):
        raise BadPlan("not a led session")
    session = session_from(data.get("session"))
    index, set_no = data.get("index"), data.get("set_no")
    if type(index) is not int or not 0 <= index <= len(session.targets) or type(set_no) is not int \
            or not 1 <= set_no <= (session.targets[index].sets if index < len(session.targets) else 1):
        raise BadPlan(f"a led session at exercise {index!r}, set {set_no!r}")
    done, skipped = data.get("done") or [], data.get("skipped") or []
    if not isinstance(done, list) or not isinstance(skipped, list) or len(done) > 100:
        raise BadPlan("a led session's sets or skipped exercises are no list")
    return Lead(session, str(data.get("day", ""))[:10], index, set_no, [_set_done(s) for s in done],
                [str(x)[:60] for x in skipped[:20]])


_NUMBERS = {"set_no": int, "reps": int, "seconds": int, "load_kg": float, "km": float}


def _set_done(raw: Any) -> SetDone:
    if not isinstance(raw, dict) or not isinstance(raw.get("exercise"), str) \
            or raw.get("effort", "") not in ("", "easy", "hard"):
        raise BadPlan(f"not a set done: {raw!r}")
    for key, kind in _NUMBERS.items():
        value = raw.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or (kind is int and value != int(value)) or not 0 <= value <= 100_000):
            raise BadPlan(f"a set done with {key} {value!r}")
    return SetDone(raw["exercise"][:60], int(raw.get("set_no") or 1), _as(raw.get("reps"), int),
                   _as(raw.get("seconds"), int), _as(raw.get("load_kg"), float), raw.get("effort", ""),
                   _as(raw.get("km"), float))


def _as(value: Any, kind: type) -> Any:
    return None if value is None else kind(value)
