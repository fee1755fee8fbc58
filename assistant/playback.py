"""Audio sinks for the coach's voice: a WAV file (the speaker comes with live audio)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np
import soundfile

from .errors import InputError

logger = logging.getLogger(__name__)

TURN_GAP_S = 0.6  # silence written between two replies in a file


class Sink(Protocol):
    async def write(self, samples: np.ndarray) -> None: ...
    async def drain(self) -> None: ...
    def close(self) -> None: ...


class WavSink:
    """Writes every reply, in order, into one 16-bit mono WAV file."""

    def __init__(self, path: str | Path, sample_rate: int):
        self.path = Path(path)
        self.sample_rate = sample_rate
        try:
            self._file = soundfile.SoundFile(
                str(self.path), "w", samplerate=sample_rate, channels=1, subtype="PCM_16", format="WAV"
            )
        except (soundfile.LibsndfileError, OSError, RuntimeError) as err:
            raise InputError(f"{self.path}: cannot write output WAV: {err}") from None
        self._since_drain = 0
        self._written = 0

    async def write(self, samples: np.ndarray) -> None:
        if self._written and not self._since_drain:  # a new reply: leave a gap
            self._file.write(np.zeros(int(self.sample_rate * TURN_GAP_S), np.int16))
        self._file.write(samples)
        self._since_drain += len(samples)
        self._written += len(samples)

    async def drain(self) -> None:
        self._file.flush()
        self._since_drain = 0

    def close(self) -> None:
        self._file.close()
        logger.info("output %s: %.1f s of speech", self.path, self._written / self.sample_rate)


class NullSink:
    """Discards audio (``ask`` and tests that only need text)."""

    async def write(self, samples: np.ndarray) -> None:
        return None

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        return None
