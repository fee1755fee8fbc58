"""What the endpointer reports, frame by frame: an ``Onset`` when speech
starts, a ``Pause`` of one of four kinds when it may have ended, a ``Segment``
when it has. Pure values; no audio ever leaves them for the bus."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Onset:
    utterance_id: int
    stream_s: float
    resumes: int = 0  # the claimed utterance this one continues (its turn was withdrawn), else 0


@dataclass(frozen=True, slots=True)
class Pause:
    """Speech paused: this may be the whole utterance. If it ends without another
    voiced frame, its Segment has exactly this ``audio``, so work started now is
    ready sooner. ``end_s`` and ``ended_at`` as in Segment; ``silence_ms``: the
    silence so far. One of four kinds, by what the pause asks for."""

    utterance_id: int
    audio: np.ndarray
    end_s: float = 0.0
    ended_at: float = 0.0
    silence_ms: int = 0
    voice_mark: int = 0  # the same for every pause since the last voiced frame
    lead: int = 0  # samples of pre-roll before the voice's first frames (see Segment)


@dataclass(frozen=True, slots=True)
class Speculate(Pause):
    """``SPECULATE_MS`` of silence (vad.turn: silence): an early transcript."""


@dataclass(frozen=True, slots=True)
class CommandPause(Pause):
    """``COMMAND_MS`` of silence (vad.turn: silence): if the words are a command,
    ``Endpointer.claim`` ends the utterance here."""


@dataclass(frozen=True, slots=True)
class Prepare(Pause):
    """``PREPARE_MS`` of silence (vad.turn: model): start the work of judging; the
    judgement comes at ``COMMAND_MS``."""


@dataclass(frozen=True, slots=True)
class Judge(Pause):
    """``COMMAND_MS`` of silence (vad.turn: model), whatever the length: has the
    user finished? ``Endpointer.claim`` or ``wait``."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A finished utterance. ``audio``: int16 @ 16 kHz mono, pre-roll included.

    ``end_s``: stream time of the end of the last voiced frame.
    ``ended_at``: when that frame arrived (Unix s).
    """

    utterance_id: int
    audio: np.ndarray
    start_s: float
    end_s: float
    ended_at: float
    voiced_s: float
    forced: bool
    silence_ms: int = 0  # the silence that ended it
    # samples of pre-roll before the frames that opened it: over the coach, its echo, not the user
    lead: int = 0
