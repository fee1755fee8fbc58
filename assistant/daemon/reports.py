"""What the daemon tells the person running it: every event as a JSON line
(``--events``), and one human line per finished turn with its latency."""

from __future__ import annotations

import json
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from assistant.core.bus import event_record
from assistant.core.events import (
    Event,
    ResponseChunk,
    ResponseGenerated,
    SpeakingFinished,
    SpeakingStarted,
    SpeechDetected,
)

REPORTS_KEPT = 100  # finished turns a TurnReport keeps for a benchmark to read


class EventLog:
    """Writes every bus event as one JSON line: {"event", "time", "data"}."""

    def __init__(self, stream: IO[str]):
        self.stream = stream

    def __call__(self, at: float, event: Event) -> None:
        self.stream.write(json.dumps(event_record(at, event)) + "\n")
        self.stream.flush()


@dataclass
class TurnTimes:
    """One turn's moments (Unix s): the end of speech, and what followed."""

    heard: str = ""
    speech_ended_at: float = 0.0
    transcribed_at: float = 0.0
    first_token_at: float = 0.0
    first_audio_at: float = 0.0
    reply: str = ""

    def since_speech_ms(self, at: float) -> float:
        return (at - self.speech_ended_at) * 1000


@dataclass
class TurnReport:
    """Prints one human line per finished turn: heard, answered, latency breakdown."""

    out: IO[str] = field(default_factory=lambda: sys.stdout)
    turns: dict[int, TurnTimes] = field(default_factory=dict)
    finished: deque[tuple[int, TurnTimes]] = field(default_factory=lambda: deque(maxlen=REPORTS_KEPT))

    def __call__(self, at: float, event: Event) -> None:
        if isinstance(event, SpeechDetected):
            self.turns[event.utterance_id] = TurnTimes(event.text, event.speech_ended_at, at)
            while len(self.turns) > REPORTS_KEPT:  # turns that never spoke (cut before a word)
                self.turns.pop(next(iter(self.turns)))
        elif isinstance(event, ResponseChunk):
            turn = self.turns.get(event.turn_id)
            if turn and not turn.first_token_at:
                turn.first_token_at = at
        elif isinstance(event, SpeakingStarted):
            turn = self.turns.get(event.turn_id)
            if turn:
                turn.first_audio_at = at + event.latency_s  # heard
        elif isinstance(event, ResponseGenerated):
            turn = self.turns.get(event.turn_id)
            if turn:
                turn.reply = event.text
        elif isinstance(event, SpeakingFinished):
            turn = self.turns.pop(event.turn_id, None)
            if turn:
                self.finished.append((event.turn_id, turn))
                self.out.write(self.line(event.turn_id, turn) + "\n")
                self.out.flush()

    @staticmethod
    def line(turn_id: int, t: TurnTimes) -> str:
        def ms(at: float) -> str:
            return f"{t.since_speech_ms(at):.0f} ms" if at else "-"

        return (
            f"[turn {turn_id}] heard: {t.heard!r} | answered: {t.reply!r} | from end of speech: "
            f"transcript {ms(t.transcribed_at)}, first token {ms(t.first_token_at)}, "
            f"first audio {ms(t.first_audio_at)}"
        )


def open_event_log(path: Path | None) -> IO[str] | None:
    return None if path is None else path.open("w", encoding="utf-8")
