"""What a timer or an interval session says, and when. Pure logic.

``plan`` turns a command into its phases (lead-in, work, rest) and its cues,
each at an offset in seconds from the start: "Three." "Two." "One." "Go! Round
2 of 4." "Halfway." "Ten seconds." "Rest." "Done!". ``Running`` is one timer on
a clock: paused, resumed and skipped by moving its origin, so every cue keeps
its place in the plan. Nothing here reads a clock; callers pass ``now``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from assistant.skills.router import StartSession, StartTimer

LEAD_IN_S = 8.0  # a session starts this long after it is set: the confirmation is said, then 3, 2, 1
COUNTDOWN = ("Three.", "Two.", "One.")
ACK = "Okay!"  # a confirmation's first sentence: synthesized ahead, so it is heard at once
# Every first sentence of a timer reply that does not depend on the numbers in it:
# the TTS synthesizes them ahead (the rest is synthesized while they play).
THINKING = ("Let me think.", "One moment.", "Good question.", "Let me see.")  # a slow model's first audio
FIRST_SENTENCES = (ACK, "Paused.", "Go on.", "Skipping ahead.", "Timer stopped.", "Session stopped.",
                   "No timer is running.")


@dataclass(frozen=True, slots=True)
class Cue:
    """``offset_s`` from the start; ``round`` 1-based in a session (0: a timer).
    A countdown cue is urgent: it cuts into a reply at once."""

    offset_s: float
    kind: str
    text: str
    round: int = 0

    @property
    def urgent(self) -> bool:
        return self.kind == "countdown"


@dataclass(frozen=True, slots=True)
class Phase:
    start_s: float
    end_s: float
    kind: str  # lead-in, work, rest
    round: int = 0


@dataclass(frozen=True, slots=True)
class Plan:
    kind: str  # timer, reminder, intervals, tabata, emom
    label: str
    total_s: float
    rounds: int
    work_s: float
    rest_s: float
    phases: tuple[Phase, ...]
    cues: tuple[Cue, ...]


def spoken_duration(seconds: float) -> str:
    """"45 seconds", "1 minute", "2 minutes 30 seconds", "1 hour 5 minutes"."""
    total = max(0, math.ceil(seconds - 1e-6))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)

    def part(n: int, unit: str) -> str:
        return f"{n} {unit}{'' if n == 1 else 's'}"

    parts = [part(n, u) for n, u in ((hours, "hour"), (minutes, "minute"), (secs, "second")) if n]
    return " ".join(parts) or "0 seconds"


def _countdown(end: float) -> list[Cue]:
    return [Cue(end - 3 + i, "countdown", text) for i, text in enumerate(COUNTDOWN)]


def _within(start: float, length: float, round_: int = 0) -> list[Cue]:
    """The cues inside a stretch of work: halfway, ten seconds, a minute left, the countdown."""
    end = start + length
    cues = []
    if length >= 20:
        cues.append(Cue(start + length / 2, "halfway", "Halfway.", round_))
    if length >= 30 and length / 2 - 10 >= 3:
        cues.append(Cue(end - 10, "ten-seconds", "Ten seconds.", round_))
    if length >= 180:
        cues.append(Cue(end - 60, "minute-left", "One minute left.", round_))
    if length >= 10:
        cues += [Cue(c.offset_s, c.kind, c.text, round_) for c in _countdown(end)]
    return cues


REST_LABEL = "set rest"  # a led session's rest between sets: its end says the next set (``planning.Leader``)


def plan(command: StartTimer | StartSession) -> Plan:
    if isinstance(command, StartTimer):
        d = command.seconds
        if command.label == "reminder":
            text = f"Reminder: {command.reminder}." if command.reminder else f"Your {spoken_duration(d)} reminder."
            return Plan("reminder", command.reminder, d, 1, d, 0, (Phase(0, d, "work"),), (Cue(d, "done", text),))
        done = "Time's up!" if not command.reminder else f"Time's up! Reminder: {command.reminder}."
        if command.label == REST_LABEL and command.reminder:  # a led session's rest: the next set
            done = f"Rest over. {command.reminder}"
        cues = [*_within(0, d), Cue(d, "done", done)]
        return Plan("timer", command.label, d, 1, d, 0, (Phase(0, d, "work"),), _ordered(cues))
    n, work, rest = command.rounds, command.work_s, command.rest_s
    unit = "Minute" if command.name == "emom" and work == 60 else "Round"
    phases = [Phase(0, LEAD_IN_S, "lead-in")]
    cues = _countdown(LEAD_IN_S)
    for i in range(n):
        start = LEAD_IN_S + i * (work + rest)
        end = start + work
        phases.append(Phase(start, end, "work", i + 1))
        go = "Go!" if n == 1 else f"Go! {unit} {i + 1} of {n}."
        cues.append(Cue(start, "go", go, i + 1))
        cues += _within(start, work, i + 1)
        if i == n - 1:
            cues.append(Cue(end, "done", f"Done! That's {n} {unit.lower()}{'' if n == 1 else 's'}.", i + 1))
        elif rest > 0:
            phases.append(Phase(end, end + rest, "rest", i + 1))
            cues.append(Cue(end, "rest", "Rest.", i + 1))
            if rest >= 6:
                cues += [Cue(c.offset_s, c.kind, c.text, i + 1) for c in _countdown(end + rest)]
    total = LEAD_IN_S + n * work + (n - 1) * rest
    return Plan(command.name, "", total, n, work, rest, tuple(phases), _ordered(cues))


_RANK = {kind: rank for rank, kind in enumerate(("done", "go", "rest", "countdown", "minute-left", "ten-seconds",
                                                 "halfway"))}


def _ordered(cues: list[Cue]) -> tuple[Cue, ...]:
    """By time; of cues at the same moment, the one that matters most."""
    kept: dict[float, Cue] = {}
    for cue in cues:
        at = round(cue.offset_s, 3)
        if at not in kept or _RANK[cue.kind] < _RANK[kept[at].kind]:
            kept[at] = cue
    return tuple(kept[at] for at in sorted(kept))


def confirmation(command: StartTimer | StartSession) -> str:
    """What the coach says when the timer is set."""
    if isinstance(command, StartTimer):
        d = spoken_duration(command.seconds)
        if command.label == "reminder":
            what = f" to {command.reminder}" if command.reminder else ""
            return f"Okay, I'll remind you{what} in {d}."
        if command.label:
            return f"{command.label.capitalize()}, {d}. Go!"
        return f"{ACK} {d}, starting now."
    if command.name == "tabata":
        what = "Tabata" if command.rounds == 8 else f"Tabata, {command.rounds} rounds"
        return f"{ACK} {what}: 20 seconds on, 10 off."
    if command.name == "emom":
        every = "minute" if command.work_s == 60 else spoken_duration(command.work_s)
        return f"{ACK} Every {every} for {spoken_duration(command.work_s * command.rounds)}."
    rounds = f"{command.rounds} rounds" if command.rounds > 1 else "One round"
    work = spoken_duration(command.work_s)
    if command.rest_s:  # "3 rounds: 5 seconds on, 3 off": short, said before the countdown
        same_unit = command.work_s < 60 and command.rest_s < 60
        rest = f"{command.rest_s:g}" if same_unit else spoken_duration(command.rest_s)
        return f"{ACK} {rounds}: {work} on, {rest} off."
    return f"{ACK} {rounds} of {work}."


@dataclass
class Running:
    """One timer on a clock. ``origin``: the clock time of offset 0 (moved by pause
    and skip); ``next_cue``: index of the next cue to play."""

    id: int
    command: StartTimer | StartSession
    plan: Plan
    origin: float
    paused_at: float | None = None
    next_cue: int = 0
    room: str = ""  # where it was set and is cued ("": the home room)

    @classmethod
    def start(cls, timer_id: int, command: StartTimer | StartSession, now: float) -> Running:
        return cls(timer_id, command, plan(command), now)

    @property
    def finished(self) -> bool:
        return self.next_cue >= len(self.plan.cues)

    def elapsed(self, now: float) -> float:
        return (self.paused_at if self.paused_at is not None else now) - self.origin

    def next_due(self) -> float | None:
        """The clock time the next cue is due; None while paused or when done."""
        if self.paused_at is not None or self.finished:
            return None
        return self.origin + self.plan.cues[self.next_cue].offset_s

    def ends_at(self) -> float:
        return self.origin + self.plan.total_s

    def pause(self, now: float) -> None:
        if self.paused_at is None:
            self.paused_at = now

    def resume(self, now: float) -> None:
        if self.paused_at is not None:
            self.origin += now - self.paused_at
            self.paused_at = None

    def phase(self, now: float) -> Phase:
        elapsed = self.elapsed(now)
        for phase in self.plan.phases:
            if elapsed < phase.end_s:
                return phase
        return self.plan.phases[-1]

    def skip(self, now: float) -> None:
        """Jump to the end of the current phase: its remaining cues are not played."""
        end = self.phase(now).end_s
        self.origin -= end - self.elapsed(now)
        while not self.finished and self.plan.cues[self.next_cue].offset_s < end:
            self.next_cue += 1

    def remaining(self, now: float) -> str:
        """"12 seconds left.", "Round 2 of 4: 12 seconds of work left." """
        left = spoken_duration(self.ends_at() - (self.paused_at if self.paused_at is not None else now))
        paused = " (paused)" if self.paused_at is not None else ""
        p = self.plan
        if p.kind in ("timer", "reminder"):
            what = f" on your {p.label} timer" if p.kind == "timer" and p.label else ""
            what = f" until I remind you to {p.label}" if p.kind == "reminder" and p.label else what
            return f"{left} left{what}{paused}."
        phase = self.phase(now)
        in_phase = spoken_duration(phase.end_s - self.elapsed(now))
        if phase.kind == "lead-in":
            return f"Starting in {in_phase}{paused}."
        if phase.kind == "rest":
            return f"Rest: {in_phase} before round {phase.round + 1} of {p.rounds}{paused}."
        return f"Round {phase.round} of {p.rounds}: {in_phase} of work left{paused}."

    def describe(self) -> str:
        """For ``assistant timers``: "intervals 4 x 30 s on / 15 s off"."""
        p = self.plan
        if p.kind in ("timer", "reminder"):
            name = f"{p.kind} ({p.label})" if p.label else p.kind
            return f"{name} {spoken_duration(p.total_s)}"
        rest = f" / {p.rest_s:g} s off" if p.rest_s else ""
        return f"{p.kind} {p.rounds} x {p.work_s:g} s on{rest}"

    def record(self) -> dict[str, object]:
        """What is stored, so a restart resumes on the original schedule."""
        kind = "timer" if isinstance(self.command, StartTimer) else "session"
        return {"kind": kind, "command": asdict(self.command), "origin": self.origin,
                "paused_at": self.paused_at, "next_cue": self.next_cue, "room": self.room}

    @classmethod
    def from_record(cls, timer_id: int, record: dict) -> Running:
        command: StartTimer | StartSession
        if record["kind"] == "timer":
            command = StartTimer(**record["command"])
        else:
            command = StartSession(**record["command"])
        return cls(timer_id, command, plan(command), float(record["origin"]), record.get("paused_at"),
                   int(record.get("next_cue", 0)), str(record.get("room", "")))
