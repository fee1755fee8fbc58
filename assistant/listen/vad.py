"""Endpointing: webrtcvad plus an adaptive energy gate, as pure logic.

``Endpointer.process`` takes one frame and the time it arrived and returns what
happened: an ``Onset`` when speech starts, a ``Pause`` when it may have ended
(for an early transcript), a ``Segment`` when it has.
A frame counts as voiced when webrtcvad says so *and* its level stands above
the noise floor (the quietest frame of the last few seconds) by
``energy_margin_db`` to open an utterance, and by half that to keep one open.
Steady noise never opens an utterance; the softer bar inside one keeps a
speaker's breath pauses (about half a second in jfk.flac) from splitting it.

With ``vad.turn: model`` an utterance does not end on a fixed silence: at
``COMMAND_MS`` of it a ``Judge`` pause asks whether the user has finished
(assistant/listen/turn.py), and the answer either ends it there (``claim``) or sets
the silence it still needs (``wait``), ``max_silence_ms`` at most. A claimed
utterance is held a while: if the voice comes back before the reply is heard
(``retract`` says so), the utterance goes on as if never ended.
"""

from __future__ import annotations

import enum
import itertools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from assistant.audio.capture import SAMPLE_RATE
from assistant.audio.levels import VOICE_BELOW_PEAK_DB, frame_db, window_db
from assistant.core.config import VadConfig
from assistant.listen.utterances import CommandPause, Judge, Onset, Pause, Prepare, Segment, Speculate

logger = logging.getLogger(__name__)

FLOOR_WINDOW_S = 5.0
SILENCE_DB = -70.0  # frames quieter than this are silence whatever the floor
ONSET_WINDOW = 4  # onset: this many recent frames are looked at ...
ONSET_VOICED = 3  # ... and this many of them must be voiced
TAIL_MS = 150  # silence kept after the last voiced frame
SPECULATE_MS = 300  # a pause this long starts an early transcription
COMMAND_MS = 210  # a pause this long asks whether the utterance is a command (answered at once)
PREPARE_MS = 120  # vad.turn: model: a pause this long starts the judgement's work, ready by COMMAND_MS or soon after
COMMAND_MAX_S = 4.0  # ... if it is this short: the longest command phrasing takes about 3.5 s


class TurnState(enum.Enum):
    """Where the endpointer is in the user's turn. Every change goes through
    ``Endpointer._to``, which refuses one the table below does not allow:

        QUIET    --onset--------------------------> SPEAKING
        SPEAKING --a silent frame-----------------> PAUSED
        PAUSED   --a voiced frame-----------------> SPEAKING
        PAUSED   --claim (retract can take it back)-> CLAIMED
        PAUSED   --enough silence, live-----------> CLAIMED   (a Segment; retract can take it back too)
        PAUSED   --claim, or enough silence-------> QUIET     (a Segment, unless claimed)
        SPEAKING --too long (max_utterance_s)-----> QUIET     (a forced Segment)
        CLAIMED  --the voice again, in time-------> SPEAKING  (the same utterance, resumed)
        CLAIMED  --max_silence_ms with no voice---> QUIET
        any      --reset (the coach spoke, half-duplex)--> QUIET
    """

    QUIET = "quiet"  # no utterance open
    SPEAKING = "speaking"  # an utterance open, its last frame voiced
    PAUSED = "paused"  # an utterance open, silent since its last voiced frame: its end may be judged
    CLAIMED = "claimed"  # ended (at a judged pause, or live by its silence); a voice soon after may yet continue it


_MOVES = {
    TurnState.QUIET: {TurnState.SPEAKING},
    TurnState.SPEAKING: {TurnState.PAUSED, TurnState.QUIET},
    TurnState.PAUSED: {TurnState.SPEAKING, TurnState.CLAIMED, TurnState.QUIET},
    TurnState.CLAIMED: {TurnState.SPEAKING, TurnState.QUIET},
}


def webrtc_detector(aggressiveness: int) -> Callable[[np.ndarray], bool]:
    import webrtcvad

    vad = webrtcvad.Vad(aggressiveness)
    return lambda samples: vad.is_speech(samples.tobytes(), SAMPLE_RATE)


class Endpointer:
    def __init__(
        self,
        cfg: VadConfig,
        is_speech: Callable[[np.ndarray], bool] | None = None,
        new_id: Callable[[], int] | None = None,
        retract: Callable[[int], bool] | None = None,
    ):
        """``new_id``: where utterance ids come from (the daemon's one turn-id source).
        ``retract(utterance_id)``: the voice came back soon after a claimed end; True
        when that turn was withdrawn unheard, so the utterance continues."""
        self.cfg = cfg
        self.retract = retract
        self.model_turns = cfg.turn == "model"
        self.new_id = new_id or itertools.count(1).__next__
        self.is_speech = is_speech or webrtc_detector(cfg.aggressiveness)
        self.frame_s = cfg.frame_ms / 1000
        self._frames_for = lambda ms: max(1, round(ms / cfg.frame_ms))
        self._levels: deque[float] = deque(maxlen=self._frames_for(FLOOR_WINDOW_S * 1000))
        self._preroll: deque[np.ndarray] = deque(maxlen=self._frames_for(cfg.preroll_ms))
        self._recent: deque[bool] = deque(maxlen=ONSET_WINDOW)
        self._id = 0  # the open utterance's id
        self._index = 0  # frames seen
        self._speech: list[np.ndarray] | None = None  # frames of the open utterance
        self._start_s = 0.0
        self._lead = 0  # samples of the open utterance's pre-roll before its opening frames
        self._voiced = 0
        self._last_voiced_len = 0  # len(_speech) just after its last voiced frame
        self._last_voiced_at = 0.0
        self._silent_run = 0
        self._peak_db = -100.0  # the open utterance's loudest 10 ms
        self._checked = False  # the pause since the last voiced frame has been judged
        self._prepared = False  # ... and its judgement started
        self._claimable = -1  # _last_voiced_len at the command pause
        self._default_end = self._frames_for(cfg.max_silence_ms if self.model_turns else cfg.end_silence_ms)
        self._end_frames = self._default_end  # silence that ends the open utterance
        self._held: _Held | None = None  # a claimed utterance the voice may yet continue
        self.state = TurnState.QUIET

    @property
    def in_speech(self) -> bool:
        return self.state in (TurnState.SPEAKING, TurnState.PAUSED)

    def _to(self, state: TurnState) -> None:
        """The one place the turn's state changes (see ``TurnState``)."""
        if state is not self.state and state not in _MOVES[self.state]:
            raise RuntimeError(f"endpointer: no move from {self.state.value} to {state.value}")
        self.state = state

    @property
    def utterance_id(self) -> int:
        """The open (or last) utterance's id."""
        return self._id

    @property
    def voiced_s(self) -> float:
        """Seconds of voiced frames in the open utterance."""
        return self._voiced * self.frame_s

    def voiced(self, samples: np.ndarray, echo_db: float | None = None) -> bool:
        level = frame_db(samples)
        self._levels.append(level)
        margin = self.cfg.energy_margin_db / (2 if self.in_speech else 1)
        speech = bool(self.is_speech(samples))  # every frame: webrtcvad adapts to what it hears
        if echo_db is not None and level < echo_db + self.cfg.energy_margin_db:
            return False  # not above the coach's own voice coming back
        return speech and level >= SILENCE_DB and level >= min(self._levels) + margin

    def reset(self) -> None:
        """Forget an open utterance (after the coach spoke over half-duplex)."""
        self._speech = None
        self._held = None
        self.state = TurnState.QUIET  # from any state: what was said under the coach's voice is gone
        self._preroll.clear()
        self._recent.clear()

    def _retracted(self, held: _Held) -> bool:
        if self.retract is None or held.refused:
            return False
        held.refused = not self.retract(held.utterance_id)
        return not held.refused

    @property
    def holding(self) -> bool:
        """A claimed utterance may still go on (its frames are kept, ``max_silence_ms``)."""
        return self.state is TurnState.CLAIMED

    def process(
        self, samples: np.ndarray, at: float, echo_db: float | None = None, detect: np.ndarray | None = None,
        resume_only: bool = False,
    ) -> list[Onset | Pause | Segment]:
        """``echo_db``: while the coach speaks, the level its echo may reach; only
        louder speech counts (barge-in). ``detect``: the same frame as the voice
        is told by (behind an echo canceller that removes more echo than
        ``samples`` keeps, and fewer words); ``samples`` is what is transcribed.
        ``resume_only``: a voice may only continue the claimed utterance (the coach
        speaks, half-duplex), never open one of its own."""
        events: list[Onset | Pause | Segment] = []
        voiced = self.voiced(samples if detect is None else detect, echo_db)
        self._index += 1
        stream_s = self._index * self.frame_s
        if self._speech is None:
            self._preroll.append(samples)
            self._recent.append(voiced)
            held = self._hold(samples)
            if sum(self._recent) >= ONSET_VOICED:
                resumes = held.utterance_id if held and self._retracted(held) else 0
                if resume_only and not resumes:
                    return events
                self._open(stream_s, at, held if resumes else None)
                events.append(Onset(self._id, self._start_s, resumes))
            return events
        self._speech.append(samples)
        self._to(TurnState.SPEAKING if voiced else TurnState.PAUSED)
        if voiced:
            self._voiced += 1
            self._silent_run = 0
            self._checked = self._prepared = False
            self._last_voiced_len = len(self._speech)
            tail = self._quiet_tail(samples)
            if tail is not None:  # a fading tail after it is not speech yet to come
                self._last_voiced_at = at - tail
                self._end_s = stream_s - tail
            self._end_frames = self._default_end
        else:
            self._silent_run += 1
        length_s = len(self._speech) * self.frame_s
        enough = self._voiced * self.frame_s * 1000 >= self.cfg.min_speech_ms
        judged = enough and (length_s <= COMMAND_MAX_S or self.model_turns) and self._silent_run \
            and self._silent_run < self._end_frames
        quiet_ms = (stream_s - self._end_s) * 1000  # since the end of the voice, its fading tail included
        half = self.cfg.frame_ms / 2
        if judged and self.model_turns and not self._prepared and quiet_ms >= PREPARE_MS - half:
            self._prepared = True
            events.append(Prepare(self._id, self._audio(), self._end_s, self._last_voiced_at,
                                  silence_ms=round(quiet_ms), voice_mark=self._last_voiced_len, lead=self._lead))
        if judged and not self._checked and quiet_ms >= COMMAND_MS - half:
            self._checked = True
            self._claimable = self._last_voiced_len
            kind = Judge if self.model_turns else CommandPause
            events.append(kind(self._id, self._audio(), self._end_s, self._last_voiced_at,
                               silence_ms=round(quiet_ms), voice_mark=self._last_voiced_len, lead=self._lead))
        if not self.model_turns and self._silent_run == self._frames_for(SPECULATE_MS) < self._end_frames:
            events.append(Speculate(self._id, self._audio(), lead=self._lead))
        if self._silent_run >= self._end_frames:
            events.extend(self._close(forced=False))
        elif len(self._speech) * self.frame_s >= self.cfg.max_utterance_s:
            events.extend(self._close(forced=True))
        return events

    def claim(self, utterance_id: int) -> bool:
        """The command pause's words were a command: end the utterance there, unless
        it is over already or the voice came back since (then it goes on as usual).
        True when claimed; the utterance then gives no Segment."""
        if not self._paused(utterance_id):
            return False
        self._end(keep=True)
        return True

    def wait(self, utterance_id: int, silence_ms: int) -> None:
        """The turn judged at the pause is not over yet: the utterance ends after
        ``silence_ms`` of silence instead, unless the voice came back (then the next
        pause is judged again)."""
        if self._paused(utterance_id):
            self._end_frames = self._frames_for(silence_ms)

    def _paused(self, utterance_id: int) -> bool:
        """The utterance is open and silent since its judged pause."""
        return self._speech is not None and self._id == utterance_id and self._last_voiced_len == self._claimable

    def _hold(self, samples: np.ndarray) -> _Held | None:
        """Between utterances: keep the frames after a claimed end, for as long as
        the voice may still continue it (``max_silence_ms``)."""
        held = self._held
        if held is None:
            return None
        held.frames.append(samples)
        held.since += 1
        if held.since > self._frames_for(self.cfg.max_silence_ms):
            self._held = None
            self._to(TurnState.QUIET)
        return self._held

    def flush(self) -> list[Segment]:
        """End of stream: close an open utterance."""
        return self._close(forced=False) if self._speech is not None else []

    def _open(self, stream_s: float, at: float, held: _Held | None = None) -> None:
        """A new utterance, or (``held``) the claimed one going on under a new id."""
        self._id = self.new_id()
        self._held = None
        self._to(TurnState.SPEAKING)
        if held is not None:
            self._speech = held.frames
            self._start_s = held.start_s
            self._voiced = held.voiced + sum(self._recent)
            self._lead = held.lead
        else:
            self._speech = list(self._preroll)
            self._lead = sum(len(f) for f in self._speech[: max(0, len(self._speech) - ONSET_WINDOW)])
            self._start_s = stream_s - len(self._speech) * self.frame_s
            self._voiced = sum(self._recent)
        self._end_frames = self._default_end
        self._checked = self._prepared = False
        if held is None:
            self._peak_db = -100.0
        self._last_voiced_len = len(self._speech)
        self._last_voiced_at = at
        self._end_s = stream_s
        self._silent_run = 0
        self._preroll.clear()
        self._recent.clear()

    def _quiet_tail(self, samples: np.ndarray) -> float | None:
        """Seconds at the end of a voiced frame quieter than the voice (more than
        ``VOICE_BELOW_PEAK_DB`` under the utterance's loudest 10 ms so far): a word
        fading out. None when the whole frame is that quiet."""
        levels = window_db(samples, SAMPLE_RATE // 100)
        if not len(levels):
            return 0.0
        self._peak_db = max(self._peak_db, float(levels.max()))
        loud = np.flatnonzero(levels >= self._peak_db - VOICE_BELOW_PEAK_DB)
        if not len(loud):
            return None
        return (len(levels) - 1 - int(loud[-1])) * 0.01

    def _audio(self) -> np.ndarray:
        """The open utterance up to its last voiced frame, plus a short tail."""
        frames = self._speech or []
        keep = min(len(frames), self._last_voiced_len + self._frames_for(TAIL_MS))
        return np.concatenate(frames[:keep]) if keep else np.zeros(0, np.int16)

    def _close(self, forced: bool) -> list[Segment]:
        segment = Segment(
            utterance_id=self._id,
            audio=self._audio(),
            start_s=self._start_s,
            end_s=self._end_s,
            ended_at=self._last_voiced_at,
            voiced_s=self._voiced * self.frame_s,
            forced=forced,
            silence_ms=round((self._index * self.frame_s - self._end_s) * 1000),
            lead=self._lead,
        )
        if segment.voiced_s * 1000 < self.cfg.min_speech_ms:
            self._end(keep=False)
            return []
        # live, the voice may come back as after a claim (for max_silence_ms more: a pause
        # of 1.3 s is often 1.5 s of unvoiced frames); never after a forced end
        self._end(keep=not forced)
        return [segment]

    def _end(self, keep: bool) -> None:
        """The open utterance ends. Live (with ``retract``) and ``keep``: its frames are
        kept, so a voice soon after may continue it (CLAIMED)."""
        if self.retract is not None and keep:
            self._held = _Held(self._id, self._speech or [], self._start_s, self._voiced, lead=self._lead)
        self._speech = None
        self._to(TurnState.CLAIMED if self._held is not None else TurnState.QUIET)


@dataclass(slots=True)
class _Held:
    """A claimed utterance (or one ended by its silence) and every frame since: what
    it becomes if the voice comes back."""

    utterance_id: int
    frames: list[np.ndarray]
    start_s: float
    voiced: int
    since: int = 0  # frames since the claim or the end
    refused: bool = False  # retract said too late: it is not asked again
    lead: int = 0  # its Segment.lead
