"""Echo cancellation's parts (issue 13): SpeexDSP's canceller through ctypes, and
the echo path's delay found by cross-correlation. benchmarks/echo.py measures
them against WebRTC's AEC3; the microphone path does not use them yet.

SpeexDSP has no delay estimation: its adaptive filter (``tail_ms``) must span
the echo path, so the far end is delayed first by ``estimate_delay``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

import numpy as np

from .errors import AudioError

RATE = 16_000
FRAME = RATE // 100  # 10 ms, the canceller's unit
_SET_SAMPLING_RATE = 24  # SPEEX_ECHO_SET_SAMPLING_RATE
_SET_ECHO_STATE = 24  # SPEEX_PREPROCESS_SET_ECHO_STATE


@cache
def _speexdsp() -> ctypes.CDLL:
    name = ctypes.util.find_library("speexdsp") or "libspeexdsp.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as err:
        raise AudioError(f"echo cancellation: cannot load SpeexDSP ({name}; Debian package libspeexdsp1): {err}") \
            from err
    lib.speex_echo_state_init.restype = ctypes.c_void_p
    lib.speex_echo_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.speex_echo_state_destroy.argtypes = [ctypes.c_void_p]
    lib.speex_echo_state_reset.argtypes = [ctypes.c_void_p]
    lib.speex_echo_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.speex_echo_cancellation.argtypes = [ctypes.c_void_p] * 4
    lib.speex_preprocess_state_init.restype = ctypes.c_void_p
    lib.speex_preprocess_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.speex_preprocess_state_destroy.argtypes = [ctypes.c_void_p]
    lib.speex_preprocess_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.speex_preprocess_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    return lib


class SpeexCanceller:
    """SpeexDSP's echo canceller and its residual-echo suppressor, at 16 kHz.
    ``process`` takes whole 10 ms frames of int16 microphone and far-end audio
    (aligned: see ``estimate_delay``) and returns the microphone without the echo."""

    def __init__(self, tail_ms: int = 256):
        self._lib = lib = _speexdsp()
        self._echo = lib.speex_echo_state_init(FRAME, RATE * tail_ms // 1000)
        lib.speex_echo_ctl(self._echo, _SET_SAMPLING_RATE, ctypes.byref(ctypes.c_int(RATE)))
        self._residual = lib.speex_preprocess_state_init(FRAME, RATE)
        lib.speex_preprocess_ctl(self._residual, _SET_ECHO_STATE, ctypes.c_void_p(self._echo))

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        if len(near) != len(far) or len(near) % FRAME:
            raise ValueError(f"echo cancellation takes whole {FRAME}-sample frames, got {len(near)} and {len(far)}")
        near = np.ascontiguousarray(near, np.int16)
        far = np.ascontiguousarray(far, np.int16)
        out = np.empty_like(near)
        for i in range(0, len(near), FRAME):
            mine = out[i: i + FRAME]
            self._lib.speex_echo_cancellation(self._echo, near[i:].ctypes.data, far[i:].ctypes.data, mine.ctypes.data)
            self._lib.speex_preprocess_run(self._residual, mine.ctypes.data)
        return out

    def reset(self) -> None:
        self._lib.speex_echo_state_reset(self._echo)

    def __del__(self) -> None:
        lib = getattr(self, "_lib", None)
        if lib is not None:
            lib.speex_preprocess_state_destroy(self._residual)
            lib.speex_echo_state_destroy(self._echo)


def estimate_delay(near: np.ndarray, far: np.ndarray, max_ms: int = 500) -> int:
    """How many samples ``near`` (the microphone) lags ``far`` (what was played):
    the peak of their phase-transform weighted cross-correlation (GCC-PHAT),
    between 0 and ``max_ms``. Give it a second or so of the coach speaking."""
    near = np.asarray(near, np.float64)
    far = np.asarray(far, np.float64)
    size = 1 << int(np.ceil(np.log2(len(near) + len(far))))
    spectrum = np.fft.rfft(near, size) * np.conj(np.fft.rfft(far, size))
    correlation = np.fft.irfft(spectrum / (np.abs(spectrum) + 1e-9), size)
    return int(np.argmax(correlation[: RATE * max_ms // 1000 + 1]))
