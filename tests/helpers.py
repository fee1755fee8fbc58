"""Test helpers: speech synthesized with the real Piper voice, word error rate,
and the ``assistant`` command run as users run it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jiwer
import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"  # recordings the tests own (tests/data/README.md)
REFERENCES = json.loads((DATA / "transcripts.json").read_text())
# Short, complete coaching questions (tests/test_turn.py, benchmarks/hotwords.py)
SHORT_QUESTIONS = [
    "How should I warm up before a long run?",
    "Give me three tips to improve my squat form.",
    "What should I eat after a hard workout?",
    "Is it okay to train when my legs are still sore?",
    "How long should I rest between sets of deadlifts?",
    "Can you help me plan a week of running?",
    "What is a good stretch for tight hamstrings?",
    "How do I breathe during a plank?",
    "Should I run in the morning or in the evening?",
    "What is the best way to recover after a long bike ride?",
    "How many push-ups should a beginner do each day?",
    "Why do my calves cramp at night?",
    "Is it better to stretch before or after running?",
    "How do I stop my knees from caving in when I squat?",
    "What does a good tempo run feel like?",
    "How much water should I drink during a two hour hike?",
    "Can I do yoga on my rest days?",
    "What should my heart rate be on an easy run?",
    "How do I get better at pull-ups?",
    "How can I run faster?",
]

_NUMBERS = {
    "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five",
    "6": "six", "7": "seven", "8": "eight", "9": "nine", "10": "ten",
}


def normalize(text: str) -> str:
    text = text.lower().replace("-", " ").replace("%", " percent")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    words = [_NUMBERS.get(w, w) for w in text.replace("'", "").split()]
    return " ".join(words)


def wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(normalize(reference), normalize(hypothesis))


def voiced_stretches(audio: np.ndarray, rate: int = 16_000, gap_s: float = 0.5, floor_db: float = -50.0):
    """The stretches of voice in a recording of the speaker, split where it is
    quieter than ``floor_db`` (dBFS, 20 ms frames) for ``gap_s`` or longer."""
    step = rate // 50
    frames = audio[: len(audio) // step * step].astype(np.float64).reshape(-1, step) / 32768.0
    loud = np.flatnonzero(10 * np.log10(np.mean(frames**2, axis=1) + 1e-12) > floor_db)
    if not len(loud):
        return []
    breaks = np.flatnonzero(np.diff(loud) * step > gap_s * rate)
    starts, ends = np.r_[loud[0], loud[breaks + 1]], np.r_[loud[breaks], loud[-1]]
    return [audio[max(0, (a - 10) * step): (b + 11) * step] for a, b in zip(starts, ends)]


def heard(transcriber, audio: np.ndarray) -> str:
    """What whisper hears in a recording of the coach, each stretch of voice on its
    own: on one window, whisper may stop at a long silence and leave out what follows
    ("Let me think." ... the answer 2 s later was heard as "Let me think." alone)."""
    return " ".join(transcriber.transcribe_sync(part).text for part in voiced_stretches(audio)).strip()


@cache
def synthesizer():
    from assistant.core.config import TtsConfig
    from assistant.speech.tts import PiperSynthesizer

    return PiperSynthesizer(TtsConfig())


def spoken(sentence: str) -> np.ndarray:
    """``sentence`` said by the real Piper voice, the same every time: Piper samples
    noise inside its model, and one run in several gave tiny.en a question it
    misheard ("rest between" as "rescue the wind"). Without the noise the test
    input is fixed, so a failure is a failure of the code, not of the draw."""
    from piper import SynthesisConfig

    voice = synthesizer().voice
    chunks = voice.synthesize(sentence, syn_config=SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0))
    return np.concatenate([c.audio_int16_array for c in chunks])


def spoken_16k(*sentences: str) -> np.ndarray:
    """``sentences`` ``spoken`` one after another, at the microphone's rate (16 kHz), float32."""
    import soxr

    said = np.concatenate([spoken(s) for s in sentences]).astype(np.float32)
    return soxr.resample(said, synthesizer().sample_rate, 16_000).astype(np.float32)


def espoken_16k(sentence: str, voice: str = "en-us") -> np.ndarray:
    """``sentence`` said by espeak-ng (a second, unrelated voice; ``voice`` one of
    its own, "en-gb+f3"), at 16 kHz, float32."""
    import subprocess
    import tempfile

    from assistant.audio.capture import read_audio_file

    with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
        subprocess.run(["espeak-ng", "-v", voice, "-w", wav.name, sentence], check=True)
        return read_audio_file(wav.name).astype(np.float32)


def as_int16(samples: np.ndarray) -> np.ndarray:
    return np.clip(samples, -32768, 32767).astype(np.int16)


def delayed(samples: np.ndarray, lag: int) -> np.ndarray:
    """``samples`` ``lag`` samples later, the same length."""
    return np.concatenate([np.zeros(lag, np.float32), samples])[: len(samples)]


def echo_path(far: np.ndarray, delay: int, reflections: tuple[tuple[int, float], ...]) -> np.ndarray:
    """``far`` as a microphone hears it: ``delay`` samples late at unity gain, plus
    ``reflections`` ((samples later still, gain), ...)."""
    out = delayed(far, delay)
    for lag, gain in reflections:
        out += gain * delayed(far, delay + lag)
    return out


def speech_file(path: Path, sentences: list[str], gap_s: float | list[float] = 2.0, lead_s: float = 0.5) -> Path:
    """Each sentence spoken by Piper (``spoken``), followed by ``gap_s`` of silence
    (or the sentence's own gap from a list), as a WAV."""
    rate = synthesizer().sample_rate
    silence = lambda s: np.zeros(int(rate * s), np.int16)  # noqa: E731
    gaps = gap_s if isinstance(gap_s, list) else [gap_s] * len(sentences)
    parts = [silence(lead_s)]
    for sentence, gap in zip(sentences, gaps, strict=True):
        parts += [spoken(sentence), silence(gap)]
    soundfile.write(str(path), np.concatenate(parts), rate, subtype="PCM_16")
    return path


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    events: list[dict]

    def named(self, name: str) -> list[dict]:
        return [e for e in self.events if e["event"] == name]


def cli_argv(*args: str | Path, at: str | None = None) -> list[str]:
    """``assistant ARGS``; ``at``: run as if the wall clock had then read "YYYY-MM-DD
    HH:MM:SS" and gone on from there (Debian's faketime; the monotonic clock, which
    the daemon's timing keeps, is left alone: ``faked_env``)."""
    argv = [sys.executable, "-m", "assistant.cli", *map(str, args)]
    return argv if at is None else ["faketime", at, *argv]


def faked_env(state: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "XDG_STATE_HOME": str(state), "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


def run_cli(
    *args: str | Path, events: Path | None = None, timeout: float = 300, cwd: Path = ROOT, state: Path | None = None,
    at: str | None = None, stdin: str | None = None,
) -> Result:
    """``state``: the XDG state folder (the history database); a fresh one by default;
    ``at``: the wall clock's time at the start (``cli_argv``); ``stdin``: typed input."""
    argv = cli_argv(*args, at=at)
    if events is not None:
        argv += ["--events", str(events)]
    with tempfile.TemporaryDirectory(prefix="assistant-state-") as fresh:
        env = faked_env(state or Path(fresh))
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env, input=stdin)
    lines = events.read_text().splitlines() if events is not None and events.exists() else []
    return Result(proc.returncode, proc.stdout, proc.stderr, [json.loads(line) for line in lines])


QUICK_REPLIES = """
llm:
  options: {temperature: 0.2, max_tokens: 60, seed: 7}
  knowledge: false
"""  # a run from a file: the configured endpoints (none answer here), then the embedded model (not the
# knowledge base: these tests are of the model's path)


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
