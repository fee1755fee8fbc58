"""The event catalogue (the bus that carries it is ``bus.Bus``).

Every event is a frozen dataclass whose ``name`` is its public event name.
Times called ``*_at`` are Unix seconds (``time.time()``); ``*_ms`` are
milliseconds; ``*_s`` are seconds of audio. Audio itself never travels here.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

logger = logging.getLogger(__name__)


Reason = Literal["always", "wake-phrase", "follow-up", "typed", "remote"]  # why an utterance counts as addressed


class EventName(str, enum.Enum):
    SPEECH_STARTED = "SPEECH_STARTED"
    SPEECH_DETECTED = "SPEECH_DETECTED"
    AMBIENT_SPEECH_DETECTED = "AMBIENT_SPEECH_DETECTED"
    RESPONSE_GENERATING = "RESPONSE_GENERATING"
    RESPONSE_CHUNK = "RESPONSE_CHUNK"
    RESPONSE_GENERATED = "RESPONSE_GENERATED"
    SPEAKING_STARTED = "SPEAKING_STARTED"
    SPEAKING_FINISHED = "SPEAKING_FINISHED"
    ERROR_OCCURRED = "ERROR_OCCURRED"
    SYSTEM_STARTED = "SYSTEM_STARTED"
    LISTENING = "LISTENING"
    SYSTEM_STOPPED = "SYSTEM_STOPPED"
    TIMER_STARTED = "TIMER_STARTED"
    TIMER_CUE = "TIMER_CUE"
    TIMER_FINISHED = "TIMER_FINISHED"
    TIMER_CANCELLED = "TIMER_CANCELLED"
    TIMER_UPDATED = "TIMER_UPDATED"
    WORKOUT_LOGGED = "WORKOUT_LOGGED"
    MEMORY_UPDATED = "MEMORY_UPDATED"
    THINKING_CUE = "THINKING_CUE"
    SPEAKING_PAUSED = "SPEAKING_PAUSED"
    SPEAKING_RESUMED = "SPEAKING_RESUMED"


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Voice onset. ``stream_s``: seconds into the audio stream."""

    name: ClassVar[EventName] = EventName.SPEECH_STARTED
    utterance_id: int
    stream_s: float


@dataclass(frozen=True, slots=True)
class SpeechDetected:
    """A transcribed utterance addressed to the coach.

    ``reason``: "always", "wake-phrase", "follow-up", "typed" (POST /say), or "remote"
    (a Wyoming peer's transcript: answered to that peer, not spoken in this room).
    ``speech_ended_at``: when the last voiced frame arrived (Unix s).
    ``stt_ms``: time spent transcribing.
    ``end_s``: the end of the last voiced frame, in seconds into the audio stream
    (0 for typed text).
    ``silence_ms``: the silence after it when the turn was judged over (210 at a
    short pause, ``vad.end_silence_ms`` or more when the endpointer waited; 0 typed).
    ``room``: the satellite whose microphone heard it (``satellites``); "" for the
    daemon's own microphone, a file, typed text or a Wyoming peer.
    """

    name: ClassVar[EventName] = EventName.SPEECH_DETECTED
    utterance_id: int
    text: str
    reason: Reason
    duration_s: float
    speech_ended_at: float
    stt_ms: float
    end_s: float = 0.0
    silence_ms: int = 0
    room: str = ""


@dataclass(frozen=True, slots=True)
class AmbientSpeechDetected:
    """A transcribed utterance not addressed to the coach. ``room``: as SPEECH_DETECTED's."""

    name: ClassVar[EventName] = EventName.AMBIENT_SPEECH_DETECTED
    utterance_id: int
    text: str
    duration_s: float
    speech_ended_at: float
    stt_ms: float
    room: str = ""


@dataclass(frozen=True, slots=True)
class ResponseGenerating:
    """A generation started. ``api``: ollama-chat, ollama-generate, openai or embedded."""

    name: ClassVar[EventName] = EventName.RESPONSE_GENERATING
    turn_id: int
    endpoint: str
    api: str
    model: str


@dataclass(frozen=True, slots=True)
class ResponseChunk:
    """A piece of the reply as it streams (reasoning already removed)."""

    name: ClassVar[EventName] = EventName.RESPONSE_CHUNK
    turn_id: int
    text: str


@dataclass(frozen=True, slots=True)
class ResponseGenerated:
    """The whole reply, with where it came from and how long it took.

    ``first_token_ms`` and ``total_ms`` count from the start of generation.
    ``fallbacks``: the "api:endpoint:model" attempts that failed before this one.
    """

    name: ClassVar[EventName] = EventName.RESPONSE_GENERATED
    turn_id: int
    text: str
    model: str
    endpoint: str
    api: str
    fallbacks: tuple[str, ...] = ()
    interrupted: bool = False
    first_token_ms: float = 0.0
    total_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_per_s: float = 0.0


@dataclass(frozen=True, slots=True)
class SpeakingStarted:
    """The first audio sample of a reply reached the output. ``latency_s``: the
    output's own latency (PortAudio's estimate), so the sample is heard this much
    after the event."""

    name: ClassVar[EventName] = EventName.SPEAKING_STARTED
    turn_id: int
    latency_s: float = 0.0


@dataclass(frozen=True, slots=True)
class ThinkingCue:
    """No answer could be heard ``tts.thinking_cue_ms`` after the end of speech: a
    short acknowledgement went to the output. ``after_ms``: from the end of speech
    to its first sample heard (estimated). Never the answer's first audio."""

    name: ClassVar[EventName] = EventName.THINKING_CUE
    turn_id: int
    text: str
    after_ms: float


@dataclass(frozen=True, slots=True)
class SpeakingFinished:
    """The last audio of a reply left the output. ``audio_s``: seconds spoken."""

    name: ClassVar[EventName] = EventName.SPEAKING_FINISHED
    turn_id: int
    interrupted: bool
    audio_s: float


@dataclass(frozen=True, slots=True)
class SpeakingPaused:
    """The user started to speak over the reply (barge-in): it stopped where it
    was until their words are known. Then either SPEAKING_RESUMED (a backchannel,
    "mm-hmm", "okay", or no words) or SPEAKING_FINISHED(interrupted).
    ``audio_s``: seconds of the reply heard so far."""

    name: ClassVar[EventName] = EventName.SPEAKING_PAUSED
    turn_id: int
    audio_s: float


@dataclass(frozen=True, slots=True)
class SpeakingResumed:
    """A paused reply goes on from where it stopped. ``paused_s``: how long it
    was silent."""

    name: ClassVar[EventName] = EventName.SPEAKING_RESUMED
    turn_id: int
    paused_s: float


@dataclass(frozen=True, slots=True)
class ErrorOccurred:
    """A fault the daemon survived. ``source``: the stage or handler that failed."""

    name: ClassVar[EventName] = EventName.ERROR_OCCURRED
    source: str
    message: str
    turn_id: int | None = None


@dataclass(frozen=True, slots=True)
class SystemStarted:
    name: ClassVar[EventName] = EventName.SYSTEM_STARTED
    version: str
    input: str
    output: str


@dataclass(frozen=True, slots=True)
class Listening:
    """The models are loaded and the first frame of ``input`` has arrived: what is
    said from now on is heard (systemd's READY=1 is sent at the same moment)."""

    name: ClassVar[EventName] = EventName.LISTENING
    input: str


@dataclass(frozen=True, slots=True)
class SystemStopped:
    name: ClassVar[EventName] = EventName.SYSTEM_STOPPED
    reason: str


@dataclass(frozen=True, slots=True)
class TimerStarted:
    """A timer, reminder or interval session was set.

    ``kind``: timer, reminder, intervals, tabata or emom. ``clock``: "wall" (times
    are Unix s) or "stream" (seconds into the input file, for ``run --input``).
    ``started_s`` / ``ends_s``: offset 0 and the end of the plan on that clock.
    ``turn_id``: the utterance that set it. ``room``: the satellite whose room
    hears its cues ("" without satellites).
    """

    name: ClassVar[EventName] = EventName.TIMER_STARTED
    timer_id: int
    kind: str
    label: str
    rounds: int
    work_s: float
    rest_s: float
    total_s: float
    clock: str
    started_s: float
    ends_s: float
    turn_id: int | None = None
    room: str = ""


@dataclass(frozen=True, slots=True)
class TimerCue:
    """A cue was handed to the output. ``cue``: countdown, go, halfway, ten-seconds,
    minute-left, rest or done; ``round``: 1-based (0 for a timer).
    ``due_s``: when it was due, ``played_s``: when its first sample leaves the
    output (estimated for the speaker), both on the timer's clock;
    ``late_ms`` = played_s - due_s in milliseconds."""

    name: ClassVar[EventName] = EventName.TIMER_CUE
    timer_id: int
    cue: str
    text: str
    round: int
    due_s: float
    played_s: float
    late_ms: float


@dataclass(frozen=True, slots=True)
class TimerFinished:
    """A timer or session ran to its end. ``at_s``: its end on the timer's clock.
    ``missed``: it ended while the daemon was not running. ``room``: TIMER_STARTED's."""

    name: ClassVar[EventName] = EventName.TIMER_FINISHED
    timer_id: int
    at_s: float
    missed: bool = False
    room: str = ""


@dataclass(frozen=True, slots=True)
class TimerCancelled:
    """A timer or session was stopped before its end (by voice, or typed).
    ``room``: TIMER_STARTED's."""

    name: ClassVar[EventName] = EventName.TIMER_CANCELLED
    timer_id: int
    at_s: float
    room: str = ""


@dataclass(frozen=True, slots=True)
class TimerUpdated:
    """A running timer or session was paused, resumed or skipped ahead.
    ``active``: it runs; ``left_s``: what is left of it, on its clock.
    ``room``: TIMER_STARTED's."""

    name: ClassVar[EventName] = EventName.TIMER_UPDATED
    timer_id: int
    active: bool
    left_s: float
    room: str = ""


@dataclass(frozen=True, slots=True)
class WorkoutLogged:
    """The workout log changed. ``action``: logged or removed (by "undo that").
    ``entry``: the entry's fields (workouts.Entry: exercise, sets, reps, weight,
    weight_unit kg|lb, distance, distance_unit km|mi|m, duration_s in seconds);
    ``text``: how the coach said it; ``turn_id``: the utterance that asked."""

    name: ClassVar[EventName] = EventName.WORKOUT_LOGGED
    entry_id: int
    action: str
    entry: dict[str, Any]
    text: str
    turn_id: int | None = None


@dataclass(frozen=True, slots=True)
class MemoryUpdated:
    """What the coach knows about the user changed. ``kind``: fact or profile;
    ``action``: added, forgotten or cleared (facts), answered or completed
    (profile); ``item_id``: the fact's id (0 for the profile); ``text``: the fact,
    or the answer, in the user's words."""

    name: ClassVar[EventName] = EventName.MEMORY_UPDATED
    kind: str
    action: str
    item_id: int
    text: str
    turn_id: int | None = None


Event = (
    SpeechStarted
    | SpeechDetected
    | AmbientSpeechDetected
    | ResponseGenerating
    | ResponseChunk
    | ResponseGenerated
    | SpeakingStarted
    | ThinkingCue
    | SpeakingFinished
    | SpeakingPaused
    | SpeakingResumed
    | ErrorOccurred
    | SystemStarted
    | Listening
    | SystemStopped
    | TimerStarted
    | TimerCue
    | TimerFinished
    | TimerCancelled
    | TimerUpdated
    | WorkoutLogged
    | MemoryUpdated
)
