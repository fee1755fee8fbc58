"""Sound levels in dBFS of int16 samples: the one meter the VAD, the echo gate,
the echo canceller, playback and the TTS all read."""

from __future__ import annotations

import math

import numpy as np

FULL_SCALE_SQ = 32768.0 * 32768.0
VOICE_BELOW_PEAK_DB = 35.0  # the end of speech: the last 10 ms this close to the utterance's loudest


def frame_db(samples: np.ndarray) -> float:
    """The level of ``samples`` as one block; -100 for silence (or nothing).
    Two numpy calls: it runs on every microphone frame and every speaker block."""
    if not len(samples):
        return -100.0
    x = samples.astype(np.float32)
    return max(10.0 * math.log10(float(np.dot(x, x)) / len(x) / FULL_SCALE_SQ + 1e-20), -100.0)


def window_db(samples: np.ndarray, window: int) -> np.ndarray:
    """The level (dBFS) of each whole ``window`` of int16 ``samples``; a part left
    over at the end is not counted."""
    blocks = samples[: len(samples) // window * window].astype(np.float32).reshape(-1, window)
    return 20 * np.log10(np.sqrt(np.mean(blocks * blocks, axis=1)) / 32768.0 + 1e-10)
