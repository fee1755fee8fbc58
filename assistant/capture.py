"""Audio sources: files decoded to 16 kHz mono 16-bit frames, paced or not.

Frames go through a bounded asyncio queue, never the event bus. A file source
waits when the queue is full (nothing is lost); the microphone source drops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

from .errors import InputError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000


@dataclass(frozen=True, slots=True)
class Frame:
    """One VAD frame: ``samples`` is int16 PCM @ 16 kHz mono; ``at``: arrival (Unix s)."""

    samples: np.ndarray
    at: float


def read_audio_file(path: str | Path) -> np.ndarray:
    """Decode WAV, FLAC or OGG at any rate and channel count to int16 @ 16 kHz mono."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise InputError(f"{path}: not a readable audio file (WAV, FLAC or OGG): {err}") from None
    if data.shape[0] == 0:
        raise InputError(f"{path}: contains no audio")
    return to_pcm16(data, rate)


def to_pcm16(data: np.ndarray, rate: int) -> np.ndarray:
    """float32 (frames, channels) at ``rate`` -> int16 mono @ 16 kHz."""
    mono = data.mean(axis=1) if data.ndim == 2 else data
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE)
    return (np.clip(mono, -1.0, 1.0) * 32767.0).astype(np.int16)


def split_frames(pcm: np.ndarray, frame_ms: int) -> list[np.ndarray]:
    """Cut PCM into whole frames, zero-padding the last one."""
    size = SAMPLE_RATE * frame_ms // 1000
    padded = np.pad(pcm, (0, (-len(pcm)) % size))
    return list(padded.reshape(-1, size))


class FileSource:
    """Feeds a decoded file into the frame queue, in real time if ``realtime``."""

    def __init__(self, path: str | Path, frame_ms: int, realtime: bool = False):
        self.path = Path(path)
        self.pcm = read_audio_file(self.path)
        self.frame_ms = frame_ms
        self.realtime = realtime

    @property
    def label(self) -> str:
        return str(self.path)

    async def run(self, queue: asyncio.Queue[Frame | None]) -> None:
        frames = split_frames(self.pcm, self.frame_ms)
        logger.info("input %s: %.1f s of audio", self.path, len(self.pcm) / SAMPLE_RATE)
        start = time.monotonic()
        step = self.frame_ms / 1000
        for index, samples in enumerate(frames):
            if self.realtime:
                delay = start + (index + 1) * step - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await queue.put(Frame(samples, time.time()))
        await queue.put(None)
