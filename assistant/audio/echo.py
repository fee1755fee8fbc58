"""Echo cancellation: the microphone without the coach's own voice.

``FarEnd`` keeps what the speaker played, at 16 kHz, indexed by the output's
sample count; ``EchoCanceller`` lines it up with the microphone and runs two
cancellers on every frame while the coach speaks: WebRTC's AEC3
(``pywebrtc-audio``), which removes 40-70 dB of echo but takes a voice said
over it apart, tells when the user speaks; SpeexDSP's (``SpeexCanceller``,
through ctypes), which removes less but keeps the user's words, gives what is
transcribed. benchmarks/echo.py and benchmarks/barge_in.py measure them.

SpeexDSP has no delay estimation: its adaptive filter (``tail_ms``) must span
the echo path, and it cancels far less when the echo comes late in it. The two
streams are lined up by sample counts (per-block timestamps jitter by
milliseconds, and a 1 ms jump is 16 samples the filter would have to learn
again): once from the two devices' stamps, then to the sample by
``estimate_delay`` on every second of the coach speaking (``EchoPath``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from functools import cache

import numpy as np
import soxr

from assistant.audio.levels import frame_db
from assistant.core.errors import AudioError

logger = logging.getLogger(__name__)

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


class FarEnd:
    """What the speaker played, at 16 kHz, in a ring indexed by sample count. The
    output's callback runs without a break while its stream is open (silence
    included), so the count is the output's own clock. ``push`` runs on
    PortAudio's thread, the rest on the event loop."""

    def __init__(self, seconds: float = 4.0):
        self._ring = np.zeros(int(RATE * seconds), np.int16)
        self._lock = threading.Lock()
        self._resampler: soxr.ResampleStream | None = None
        self._rate = 0  # the output's, once open
        self.count = 0  # samples in the ring since the output opened
        self._taken = 0
        self._anchor = (0, 0.0)  # (count, Unix time it is heard) of the latest block
        self.opened = 0  # how many times an output opened: a new one is a new clock
        self.underflows = 0  # times the output ran dry (PortAudio's flag): the echo path moved
        # The canceller is in use (barge-in): the output must keep its own clock, so its
        # stream is never parked (playback.PARK_S). A parked stream has no clock to go
        # on from: after it the canceller lines up again and measures the path anew.
        self.steady = False

    def open(self, rate: int) -> None:
        """A new output stream at ``rate`` Hz: its count starts again."""
        with self._lock:
            self._resampler = None if rate == RATE else soxr.ResampleStream(rate, RATE, 1, dtype="int16")
            self._rate = rate
            self._ring[:] = 0
            self.count = 0
            self._taken = 0  # samples pushed, at the output's rate
            self.opened += 1

    def push(self, block: np.ndarray, heard_at: float) -> None:
        """``block`` (int16 at the output's rate) starts to be heard at ``heard_at``.
        Silence too goes through the resampler (9 us a block): its delay stays the
        same, so ring index and played sample keep one relation."""
        if not self._rate:
            return  # no output open
        if self._resampler is None:
            pcm = np.array(block, np.int16)
        else:
            pcm = self._resampler.resample_chunk(np.ascontiguousarray(block))
        with self._lock:
            start = self.count % len(self._ring)
            first = min(len(pcm), len(self._ring) - start)
            self._ring[start: start + first] = pcm[:first]
            self._ring[: len(pcm) - first] = pcm[first:]
            self.count += len(pcm)
            # The block's first sample, in ring indices: the resampler holds back its own
            # delay, so this is counted from what went in, not from what came out.
            self._anchor = (round(self._taken * RATE / self._rate), heard_at)
            self._taken += len(block)

    def index_at(self, when: float) -> int:
        """The far sample heard at Unix time ``when``, from the latest block's stamp."""
        count, at = self._anchor
        return count + round((when - at) * RATE)

    def read(self, start: int, n: int) -> np.ndarray:
        """Far samples ``start`` to ``start + n``; silence where none is kept."""
        out = np.zeros(n, np.int16)
        with self._lock:
            i, hi = max(start, self.count - len(self._ring), 0), min(start + n, self.count)
            while i < hi:  # at most two runs: the ring may wrap
                j = i % len(self._ring)
                run = min(hi - i, len(self._ring) - j)
                out[i - start: i - start + run] = self._ring[j: j + run]
                i += run
        return out


LEAD = RATE * 60 // 1000  # until measured, the far end is taken 60 ms ahead: the stamps may err either way
SEARCH = RATE * 100 // 1000  # the delay is looked for from 100 ms before the stamps' estimate
MARGIN = RATE * 2 // 1000  # the far end is taken 2 ms ahead: the filter only models an echo after it
RELOCK = RATE * 60 // 1000  # the stamps disagree with the sample counts this much: line them up again
JUMP = RATE * 150 // 1000  # a jump this large (frames dropped, a device reopened) at once
# The stamps jitter by a block either way (rig, 30 ms frames: -39 to +7 ms); their 0.24 s average strayed at most 6 ms
# from the 1.5 s one. Further than DOUBT, the path may have moved (a sound server grew its buffer): nothing heard over
# the coach counts until it settles, and STEP_S of it lines the far end up at the stamps' mean since the doubt began.
SLOW_S, FAST_S, STEP_S = 1.5, 0.24, 0.3
DOUBT = RATE * 20 // 1000
PROBE = RATE  # each second of the coach speaking measures the echo path again
KEEP = 12  # measurements the path's drift is fitted on
CONVERGED_DB = 15.0  # a second of the coach's voice SpeexDSP took this much out of: its filter has the echo
INAUDIBLE_DB = 40.0  # a microphone this far under what the coach plays hears no echo worth cancelling
ODD = RATE * 2 // 1000  # a measurement this far off the fit is an outlier (double talk) ...
MOVED = 3  # ... unless this many in a row agree: then the path itself moved
MAX_DRIFT = 300e-6  # two sound cards' clocks differ by tens of parts per million; more is a bad fit


class Aec3:
    """WebRTC's AEC3 at 16 kHz, 10 ms at a time."""

    def __init__(self) -> None:
        try:
            from pywebrtc_audio import EchoCanceller as Aec3Canceller
        except ImportError as err:
            raise AudioError(f"echo cancellation: cannot load WebRTC's AEC3 (pip package pywebrtc-audio): {err}") \
                from err
        self._aec = Aec3Canceller(RATE, 1, 0)

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        out = np.empty_like(near)
        for i in range(0, len(near), FRAME):
            out[i: i + FRAME] = np.asarray(self._aec.process(near[i: i + FRAME], far[i: i + FRAME]), np.int16)
        return out


class EchoPath:
    """The echo path's delay (samples) against the microphone's sample count. Two
    devices' clocks drift apart (60 ppm on the rig: a sample a second), and a
    filter whose far end slides under it never converges; so the delay is a
    straight line fitted on the last ``KEEP`` measurements, read at any sample,
    and the far end follows it by fractions of a sample."""

    def __init__(self) -> None:
        self.points: list[tuple[int, int]] = []  # (microphone sample, delay) measured
        self._odd: list[tuple[int, int]] = []
        self._slope = 0.0
        self._at = 0
        self._delay = -float(LEAD)

    @property
    def measured(self) -> bool:
        return bool(self.points)

    def at(self, sample: int) -> float:
        return self._delay + self._slope * (sample - self._at)

    def forget(self) -> None:
        """The far end was lined up again: keep reading the old line until the next
        measurement, and take that one as it comes."""
        self.points, self._odd = [], []

    def add(self, sample: int, delay: int) -> bool:
        """A measurement; True when the path moved (not a drift: a jump)."""
        if self.points and abs(delay - self.at(sample)) > ODD:
            self._odd.append((sample, delay))
            if len(self._odd) < MOVED or max(d for _, d in self._odd) - min(d for _, d in self._odd) > ODD:
                self._odd = self._odd[1 - MOVED:]  # the next MOVED in a row may still agree
                return False
            self.points, self._odd = self._odd, []
            self._fit()
            return True
        self._odd = []
        self.points = (self.points + [(sample, delay)])[-KEEP:]
        self._fit()
        return False

    def _fit(self) -> None:
        samples = np.array([s for s, _ in self.points], np.float64)
        delays = np.array([d for _, d in self.points], np.float64)
        self._at = int(samples[-1])
        slope = 0.0
        if len(samples) >= 3 and samples[-1] - samples[0] >= 3 * RATE:
            slope = float(np.polyfit(samples - samples[-1], delays, 1)[0])
        self._slope = slope if abs(slope) <= MAX_DRIFT else 0.0
        self._delay = float(np.mean(delays - self._slope * (samples - samples[-1])))


class EchoCanceller:
    """The microphone without the coach's voice: each frame goes through the
    cancellers with the far end that was heard when the frame was captured,
    delayed by the echo path. ``process`` takes every microphone frame, in order,
    so the sample count stays true; only frames heard while the coach speaks are
    cancelled.

    ``process`` returns two signals. What is transcribed comes from SpeexDSP: it
    keeps a voice said over the echo whole, but on the rig one frame in ten of
    the coach's kept more than a quarter of its echo (a sound its filter had not
    learnt yet), enough for webrtcvad to hear speech in. What tells the user's
    voice from the coach's comes from AEC3, whose suppressor left none of those
    frames (median 68 dB removed) and whose garbling of a voice said over the
    echo does not matter there.

    The far sample given with microphone sample ``i`` is ``i + offset - delay(i)
    + MARGIN``. ``offset`` comes from the two devices' stamps, which jitter by
    milliseconds: it moves only when they drift far apart (``RELOCK``), jump
    (``JUMP``) or step and stay (``DOUBT``, ``STEP_S``).
    ``delay`` is the echo path, measured by GCC-PHAT on every second of the coach
    speaking and followed as it drifts (``EchoPath``). ``realigned`` counts the
    times the path moved instead (the output ran dry, the far end was lined up
    again, the path jumped). The filter is never reset between replies: the room
    does not change, so each reply starts converged."""

    def __init__(self, far: FarEnd, tail_ms: int = 256):
        self.far = far
        self.speex = SpeexCanceller(tail_ms)
        self.aec3 = Aec3()
        self.path = EchoPath()
        self.realigned = 0
        # SpeexDSP has removed the echo (a second of it by CONVERGED_DB), or the microphone hears none, since
        # the path last moved: on the rig it took out 1, 5, 11, then 40 dB in a daemon's first four seconds of speech
        self.converged = False
        self._mic = 0  # microphone samples seen
        self._offset: int | None = None
        self._opened = far.opened
        self._drift = self._recent = 0.0  # the stamps' disagreement with the offset over SLOW_S, FAST_S (samples)
        self._doubted, self._stepped = 0, 0.0  # samples in a row they parted by DOUBT; the disagreement summed
        self._underflows = far.underflows
        self._stretch: float | None = None  # the stretch of speech being cancelled (the sink's started_at)
        self._probe: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (heard, words, detect) so far
        self._probe_start = 0

    def process(self, samples: np.ndarray, at: float,
                stretch: float | None) -> tuple[np.ndarray, np.ndarray | None]:
        """``samples`` (int16 at 16 kHz, whole 10 ms frames) whose last sample was
        captured at Unix time ``at``; ``stretch``: the start of the coach's current
        stretch of speech, None while it is silent (the frame is only counted).
        Returns (words, detect): the frame cleaned to be transcribed, and cleaned
        to tell whether the user speaks; (samples, None) when nothing was
        cancelled."""
        start, self._mic = self._mic, self._mic + len(samples)
        self._line_up(start, self.far.index_at(at - len(samples) / RATE), len(samples))
        if stretch is None:
            self._probe = []
            return samples, None
        if stretch != self._stretch or not self._probe:
            self._stretch, self._probe, self._probe_start = stretch, [], start
        # AEC3 finds the delay itself, and loses its echo for seconds when the far end
        # jumps: it gets the far end by the stamps alone, which never move by much.
        words = self.speex.process(samples, self._far(start, len(samples)))
        detect = self.aec3.process(samples, self.far.read(start + (self._offset or 0) - MARGIN, len(samples)))
        self._probe.append((samples, words, detect))
        if len(self._probe) * len(samples) >= PROBE:
            self._measure()
        return words, detect

    def _far(self, start: int, n: int) -> np.ndarray:
        """The far end for microphone samples ``start`` to ``start + n``, read
        between samples (linear interpolation) as the path drifts."""
        position = start + (self._offset or 0) - self.path.at(start) + MARGIN
        first = int(np.floor(position))
        fraction = position - first
        run = self.far.read(first, n + 1).astype(np.float32)
        return ((1 - fraction) * run[:-1] + fraction * run[1:]).astype(np.int16)

    def _line_up(self, mic: int, far: int, n: int) -> None:
        """Keep ``offset`` with the stamps (``n``: the frame's samples): at once after a jump
        or a new output, otherwise when they drifted (``RELOCK``) or stepped (``STEP_S``)."""
        error = far - (mic + (self._offset or 0))
        if self.far.underflows != self._underflows:  # the speaker played silence we never wrote
            self._underflows = self.far.underflows
            self._moved("the speaker ran dry; the echo path is measured again")
        if self._offset is None or self.far.opened != self._opened or abs(error) > JUMP:
            if self._offset is not None:
                self._moved(f"far end lined up again ({error * 1000 / RATE:+.0f} ms)")
            self._offset, self._opened = far - mic, self.far.opened
        else:
            self._drift += (error - self._drift) * min(1.0, n / (RATE * SLOW_S))
            self._recent += (error - self._recent) * min(1.0, n / (RATE * FAST_S))
            doubt = abs(self._recent - self._drift) > DOUBT
            self._doubted, self._stepped = (self._doubted + n, self._stepped + error * n) if doubt else (0, 0.0)
            stepped = self._doubted >= RATE * STEP_S
            if not stepped and abs(self._drift) <= RELOCK:
                return
            shift = self._stepped / self._doubted if stepped else self._drift
            self._moved(f"the stamps {'stepped' if stepped else 'drifted'} {shift * 1000 / RATE:+.0f} ms")
            self._offset += round(shift)
        self._drift = self._recent = self._stepped = 0.0
        self._doubted, self._probe = 0, []

    @property
    def settled(self) -> bool:
        """The filter has the echo and the stamps show no sign that the path moved."""
        return self.converged and not self._doubted

    def _moved(self, why: str) -> None:
        """The echo path moved under the filter: measure it again, taking the next
        measurement as it comes, and say so (``realigned``)."""
        logger.info("echo canceller: %s", why)
        self.realigned += 1
        self.converged = False
        self.path.forget()

    def _measure(self) -> None:
        """The echo path's delay over the last second (GCC-PHAT), and the echo lost."""
        near, words, detect = (np.concatenate(part) for part in zip(*self._probe, strict=True))
        self._probe, start = [], self._probe_start
        far = self.far.read(start + (self._offset or 0) + SEARCH, len(near))
        far_db, near_db = frame_db(far), frame_db(near)
        if far_db < -50.0:
            return  # the coach said little
        # SpeexDSP took the echo out, or there is little to take out (a headset, a quiet speaker)
        self.converged = self.converged or near_db - frame_db(words) >= CONVERGED_DB or near_db < far_db - INAUDIBLE_DB
        if near_db < -70.0:
            return  # the microphone hears none of it
        delay = estimate_delay(near, far) - SEARCH
        first = not self.path.measured
        moved = self.path.add(start + len(near) // 2, delay)
        logger.debug("echo canceller: path %d samples (fit %.1f), %.0f dB removed for words, %.0f for detection",
                     delay, self.path.at(start + len(near) // 2), frame_db(near) - frame_db(words),
                     frame_db(near) - frame_db(detect))
        if first or moved:
            logger.info("echo canceller: echo path %.0f ms after the stamps", delay * 1000 / RATE)
            self.realigned += moved
