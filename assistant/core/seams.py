"""The four seams of the daemon: where its audio comes from and goes, and what
turns speech into text and text into speech. The app and the skills see only
these Protocols; `parts` chooses the implementations, once, at start-up:

| seam | today |
| --- | --- |
| AudioSource | `capture.MicSource` (a microphone), `capture.FileSource` (a file), `satellite_audio.SatelliteSource` |
| AudioSink | `playback.SpeakerSink` (a speaker), `playback.WavSink` (a WAV file), `satellite_audio.SatelliteSink` |
| Transcriber | `whisper.WhisperTranscriber` (faster-whisper, in process), `remote.speech.RemoteTranscriber` |
| Synthesizer | `tts.PiperSynthesizer` (Piper, in process), `remote.speech.RemoteSynthesizer` |

A network satellite or a remote speech service is one more implementation of
a seam, chosen in `parts`, and nothing else changes (tests/test_seams.py runs
whole turns through in-memory ones).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # for the annotation only: core imports nothing above it when it runs
    from assistant.audio.echo import FarEnd

SAMPLE_RATE = 16_000  # of every frame, and of what a transcriber hears


@dataclass(frozen=True, slots=True)
class Frame:
    """One VAD frame: ``samples`` is int16 PCM @ 16 kHz mono; ``at``: when its last
    sample was captured (Unix s; from the microphone, PortAudio's ADC time or the
    input's latency, so the time in the buffers counts), or when it was read (from a
    file)."""

    samples: np.ndarray
    at: float


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    stt_ms: float
    hum: bool | None = None  # heard again over a paused reply (``_heard``): a hum, or the words stood
    alternatives: tuple[str, ...] = ()  # other readings of the same audio, likeliest first (``readings``)


@runtime_checkable
class AudioSource(Protocol):
    """16 kHz mono int16 frames, in order, into the daemon's bounded frame queue;
    None when the source ends (a file; a microphone never ends)."""

    @property
    def label(self) -> str: ...  # for SYSTEM_STARTED and the log: "microphone" or the file's path

    async def run(self, queue: asyncio.Queue[Frame | None]) -> None: ...


@runtime_checkable
class AudioSink(Protocol):
    """Where the coach's voice goes: everything the app and the TTS use of it."""

    label: str  # for SYSTEM_STARTED and the log: "speaker" or the file's path
    started_at: float  # time.monotonic() when the current stretch of speech began
    far: FarEnd | None  # what was heard, for the echo canceller (a speaker only)

    async def run(self) -> None: ...  # keep the output alive (a device reopened with backoff)
    async def write(self, samples: np.ndarray) -> None: ...  # int16 mono at the synthesizer's rate
    async def drain(self) -> None: ...  # until everything written has been heard
    def mark(self) -> None: ...  # a new reply starts: count played audio from here
    def stop(self) -> float: ...  # silence now; seconds played since mark()
    def hold(self) -> float | None: ...  # pause the reply (cues go on): seconds played of it; None: none plays
    def release(self) -> None: ...  # the held reply goes on
    def cue(self, samples: np.ndarray, urgent: bool) -> float: ...  # a timer cue; seconds until it is heard
    def cue_left_s(self) -> float: ...  # seconds of cues still to play ahead of the reply
    def speaking(self, tail_s: float = 0.0) -> bool: ...
    def ready(self) -> bool: ...  # a reply written now would be heard (a speaker: a device is open)
    def recent_level_db(self) -> float: ...  # the loudest block played in the last 300 ms (dBFS)
    def close(self) -> None: ...


@runtime_checkable
class Transcriber(Protocol):
    """Speech to text. ``audio``: int16 mono at 16 kHz, one utterance. ``short``:
    a command is likely (a quick decode is welcome); ``aside``: said over the
    coach's paused reply (a hum is likely); ``prompt``: what came before, as a
    hint; ``readings``: how many readings are welcome, the best as ``text`` and
    the others as ``alternatives`` (a transcriber may give fewer). Raises
    ``errors.SttError`` when it cannot transcribe."""

    async def transcribe(self, audio: np.ndarray, short: bool = False, aside: bool = False,
                         prompt: str | None = None, readings: int = 1) -> Transcript: ...


@runtime_checkable
class Synthesizer(Protocol):
    """Text to speech: int16 mono at ``sample_rate``. Called from worker threads,
    one call at a time or safely in parallel. ``steady``: the same audio for the
    same text every time. Raises ``errors.TtsError`` when it cannot speak."""

    @property
    def sample_rate(self) -> int: ...

    def synthesize(self, text: str, steady: bool = False) -> np.ndarray: ...
