"""Whole turns through in-memory implementations of the four seams
(``assistant.core.seams``): a source of frames, a sink that keeps what it is given,
a transcriber and a synthesizer that need no model. The app, the endpointer,
the skills, the language-model service, the TTS service and the history are
the real ones: a satellite or a remote speech service plugs in here and nothing
else changes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pytest

from assistant.audio.capture import SAMPLE_RATE, Frame, split_frames
from assistant.audio.echo import FarEnd
from assistant.core.bus import Bus
from assistant.core.config import parse_settings
from assistant.core.events import EventName
from assistant.core.seams import AudioSink, AudioSource, Synthesizer, Transcriber, Transcript
from assistant.daemon.app import Assistant
from assistant.daemon.parts import Models, phrases_of
from assistant.store.history import HistoryStore

FRAME_MS = 30


def buzz(f0: float, seconds: float) -> np.ndarray:
    """A voiced sound at pitch ``f0`` (harmonics, soft edges): speech to the VAD."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 20))
    edges = np.minimum(1.0, np.minimum(t / 0.05, (seconds - t) / 0.05))
    return (wave / np.abs(wave).max() * 0.5 * edges * 32767).astype(np.int16)


def pitch(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio.astype(np.float64)))
    return float(np.argmax(spectrum[1:]) + 1) * SAMPLE_RATE / len(audio)


class Frames:
    """An AudioSource: PCM from memory, frame by frame, then the end."""

    label = "memory"

    def __init__(self, pcm: np.ndarray):
        self.pcm = pcm

    async def run(self, queue: asyncio.Queue[Frame | None]) -> None:
        for samples in split_frames(self.pcm, FRAME_MS):
            await queue.put(Frame(samples, time.time()))
        await queue.put(None)


class Kept:
    """An AudioSink that keeps every sample it is given."""

    def __init__(self, sample_rate: int):
        self.label = "memory"
        self.started_at = 0.0
        self.far: FarEnd | None = None
        self.sample_rate = sample_rate
        self.written: list[np.ndarray] = []
        self.cues: list[np.ndarray] = []

    async def run(self) -> None:
        return None

    async def write(self, samples: np.ndarray) -> None:
        self.written.append(samples)

    async def drain(self) -> None:
        return None

    def mark(self) -> None:
        return None

    def stop(self) -> float:
        return 0.0

    def hold(self) -> float | None:
        return None

    def release(self) -> None:
        return None

    def cue(self, samples: np.ndarray, urgent: bool) -> float:
        self.cues.append(samples)
        return 0.0

    def cue_left_s(self) -> float:
        return 0.0

    def speaking(self, tail_s: float = 0.0) -> bool:
        return False

    def ready(self) -> bool:
        return True

    def recent_level_db(self) -> float:
        return -100.0

    def close(self) -> None:
        return None


class ByPitch:
    """A Transcriber: the words said at each pitch of the script."""

    def __init__(self, script: dict[int, str]):
        self.script = script
        self.heard: list[float] = []

    async def transcribe(self, audio: np.ndarray, short: bool = False, aside: bool = False,
                         prompt: str | None = None, readings: int = 1) -> Transcript:
        f0 = pitch(audio)
        self.heard.append(f0)
        said = min(self.script, key=lambda known: abs(known - f0))
        return Transcript(self.script[said], 1.0)


class Beeps:
    """A Synthesizer: 10 ms of tone a character, at 8 kHz."""

    sample_rate = 8000

    def __init__(self) -> None:
        self.said: list[str] = []

    def synthesize(self, text: str, steady: bool = False) -> np.ndarray:
        self.said.append(text)
        return np.full(len(text) * 80, 1000, np.int16)


def test_the_fakes_are_the_seams():
    """Each fake has every member of its seam (mypy checks the signatures: this
    file is in its ``files``), so a seam that grows a member fails here first."""
    source: AudioSource = Frames(np.zeros(0, np.int16))
    sink: AudioSink = Kept(8000)
    ears: Transcriber = ByPitch({})
    voice: Synthesizer = Beeps()
    for fake, seam in ((source, AudioSource), (sink, AudioSink), (ears, Transcriber), (voice, Synthesizer)):
        assert isinstance(fake, seam), (fake, seam)
    assert not isinstance(Beeps(), Transcriber) and not isinstance(ByPitch({}), AudioSink)


@pytest.fixture
def settings(tmp_path):
    return parse_settings({
        "vad": {"turn": "silence", "frame_ms": FRAME_MS},
        "llm": {"endpoints": [], "embedded": {"enabled": False}},
        "history": {"path": str(tmp_path / "history.db")},
    })


def test_a_command_and_a_question_are_whole_turns_through_the_seams(settings):
    """A timer command is answered by its skill, a question by the language-model
    service (no backend here, so its apology): each utterance ends in one
    SPEECH_DETECTED, one RESPONSE_GENERATED and one stored turn, spoken through
    the synthesizer into the sink."""
    silence = np.zeros(SAMPLE_RATE, np.int16)
    pcm = np.concatenate([silence[:8000], buzz(140, 1.5), silence, silence, buzz(220, 1.2), silence, silence])
    ears = ByPitch({140: "Set a timer for ten seconds.", 220: "What is the capital of Peru?"})
    voice = Beeps()
    sink = Kept(voice.sample_rate)
    models = Models(transcriber=ears, synthesizer=voice, embedded=None, phrases=phrases_of(voice))
    voice.said.clear()
    bus = Bus()
    seen: list[tuple[str, Any]] = []
    bus.observe(lambda at, event: seen.append((event.name, event)))
    assistant = Assistant(settings, models, sink, live=False, bus=bus)

    asyncio.run(assistant.run(Frames(pcm), until_source_ends=True))

    names = [name for name, _ in seen]
    detected = [e for name, e in seen if name == EventName.SPEECH_DETECTED]
    generated = [e for name, e in seen if name == EventName.RESPONSE_GENERATED]
    assert [e.text for e in detected] == ["Set a timer for ten seconds.", "What is the capital of Peru?"]
    assert [g.turn_id for g in generated] == [d.utterance_id for d in detected]
    assert generated[0].api == "skill" and "10 seconds" in generated[0].text.replace("ten", "10")
    assert generated[1].api != "skill" and generated[1].interrupted  # no backend: the apology, said
    assert EventName.TIMER_STARTED in names and EventName.TIMER_FINISHED in names
    assert len(sink.cues) == 4  # "Three.", "Two.", "One.", "Time's up!": the timer ran on the stream's clock
    assert names.count(EventName.SPEAKING_FINISHED) == 2
    assert {round(f0, -1) for f0 in ears.heard} <= {140.0, 220.0}
    spoken = " ".join(voice.said)
    assert "10 seconds" in spoken.replace("ten", "10") and settings.llm.apology.split(".")[0] in spoken
    assert sum(len(w) for w in sink.written) >= len(spoken.replace(" ", "")) * 40  # the beeps reached the sink
    store = HistoryStore(settings.history.path, settings.history.retention_turns)
    try:
        stored = store.last(10)
    finally:
        store.close()
    assert [t.heard for t in stored] == [e.text for e in detected]
    assert [t.reply for t in stored][0] == generated[0].text
