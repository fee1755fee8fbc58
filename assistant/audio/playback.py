"""Audio sinks for the coach's voice: a WAV file or the speaker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import soxr

from assistant.audio import devices
from assistant.audio.echo import FarEnd
from assistant.audio.levels import frame_db
from assistant.core.errors import AudioError, InputError

logger = logging.getLogger(__name__)

TURN_GAP_S = 0.6  # silence written between two replies in a file


class WavSink:
    """Writes every reply, in order, into one 16-bit mono WAV file."""

    def __init__(self, path: str | Path, sample_rate: int):
        self.path = Path(path)
        self.label = str(self.path)
        self.started_at = 0.0
        self.far: FarEnd | None = None
        self.sample_rate = sample_rate
        try:
            self._file = soundfile.SoundFile(
                str(self.path), "w", samplerate=sample_rate, channels=1, subtype="PCM_16", format="WAV"
            )
        except (soundfile.LibsndfileError, OSError, RuntimeError) as err:
            raise InputError(f"{self.path}: cannot write output WAV: {err}") from err
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

    def mark(self) -> None:
        return None

    def cue(self, samples: np.ndarray, urgent: bool) -> float:
        """Written at once: between two sentences of a reply, or on its own."""
        self._file.write(samples)
        self._written += len(samples)
        return 0.0

    def cue_left_s(self) -> float:
        return 0.0

    def stop(self) -> float:
        return 0.0

    def hold(self) -> float | None:
        return None  # a file is never talked over

    def release(self) -> None:
        return None

    def speaking(self, tail_s: float = 0.0) -> bool:
        return False  # a file never talks over the microphone

    def ready(self) -> bool:
        return True

    def recent_level_db(self) -> float:
        return -100.0

    async def run(self) -> None:
        return None  # nothing to keep alive

    def close(self) -> None:
        self._file.close()
        logger.info("output %s: %.1f s of speech", self.path, self._written / self.sample_rate)


CUE_DEADLINE_S = 0.9  # a cue waits for the end of the sentence playing at most this long
# Silence for this long parks the output stream: a running one costs about 2 % of a
# core in callbacks and PulseAudio's client thread even when it plays nothing, a
# parked one nothing, and it starts again in about a millisecond (measured through
# PulseAudio's ALSA plugin). Not while the echo canceller is in use (``FarEnd.steady``).
PARK_S = 5.0


class SpeakerSink:
    """The speaker. ``write`` queues audio that a PortAudio callback plays back to
    back (gapless); ``stop`` silences it within one block. A dead or missing
    device is reopened with backoff by ``run``; meanwhile writes are dropped.

    A timer cue (``cue``) goes ahead of the reply: an urgent one (a countdown) at
    once, any other at the end of the sentence playing, or after
    ``CUE_DEADLINE_S`` if that sentence is longer; the reply then goes on where
    it stopped. ``stop`` (a cut reply) leaves cues alone. ``hold`` pauses the
    reply where it is until ``release`` (the user may only be saying "mm-hmm").

    ``far`` (given when echo cancellation may run) receives every block as it
    is played, silence included, stamped with when it will be heard.

    After ``PARK_S`` of silence the stream is parked (stopped, still open),
    unless the echo canceller needs its clock: ``write`` and ``cue`` wake
    ``run``, which starts it again."""

    BLOCK_MS = 20

    def __init__(self, device: str | int | None, sample_rate: int, on_error, far: FarEnd | None = None):
        self.device = device
        self.far = far
        self.sample_rate = sample_rate  # of the audio handed to write()
        self.on_error = on_error
        self.label = "speaker"
        self._chunks: deque[np.ndarray] = deque()  # the reply, one sentence a chunk
        self._mid_chunk = False  # the head chunk has started playing
        self._held = False  # the reply waits where it is (cues still play)
        self._cues: deque[tuple[np.ndarray, float]] = deque()  # (samples, play by time.monotonic())
        self._cue: np.ndarray | None = None  # the cue playing
        self._lock = threading.Lock()
        self._queued = 0  # samples at the device rate not yet played
        self._played = 0  # samples (at write() rate) played since the last stop
        self._ratio = 1.0
        self._rate = 0
        self._open = asyncio.Event()
        self._last_callback = 0.0
        self._block_db: deque[float] = deque(maxlen=15)  # the last 300 ms played, in dBFS
        self.started_at = 0.0  # when the current stretch of speech began
        self.latency = 0.0
        self.quiet_since = time.monotonic()
        self._sounded_at = 0.0  # time.monotonic() of the last block that played anything
        self._wake = asyncio.Event()  # something was queued: a parked stream starts

    def speaking(self, tail_s: float = 0.0) -> bool:
        """True while audio is queued or played, and for ``tail_s`` after. A held
        reply is queued but silent: only a cue played over it, and the tail of
        what played last, are speech then (a user talking over the paused coach is
        heard with no echo to fear, also while the echo canceller measures the
        path again: it cannot converge while nothing plays)."""
        now = time.monotonic()
        if self._held:
            return now - self._sounded_at < tail_s + self.latency
        # nothing sounded yet: no tail (half-duplex was deaf for its length after start-up, and a question
        # said at once lost its first words, 2026-12-07)
        return self._queued > 0 or bool(self._sounded_at) and now - self.quiet_since < tail_s + self.latency

    def recent_level_db(self) -> float:
        """The loudest block played in the last 300 ms (dBFS); -100 when silent."""
        return max(self._block_db, default=-100.0)

    def mark(self) -> None:
        with self._lock:
            self._played = 0

    def hold(self) -> float | None:
        with self._lock:
            if self._held or not self._chunks:
                return None
            self._held = True
            return self._played / self.sample_rate

    def release(self) -> None:
        with self._lock:
            self._held = False

    def _callback(self, out: np.ndarray, frames: int, when: Any, status: object) -> None:
        now = self._last_callback = time.monotonic()
        filled = 0
        played = 0  # samples of the reply (not of cues) played in this block
        with self._lock:
            while filled < frames:
                if self._cue is None and self._cues and (not self._mid_chunk or now >= self._cues[0][1]):
                    self._cue = self._cues.popleft()[0]
                reply = self._chunks[0] if self._chunks and not self._held else None
                source = self._cue if self._cue is not None else reply
                if source is None:
                    break
                take = min(frames - filled, len(source))
                out[filled : filled + take, 0] = source[:take]
                filled += take
                if source is self._cue:
                    self._cue = source[take:] if take < len(source) else None
                    continue
                played += take
                self._mid_chunk = take < len(source)
                if self._mid_chunk:
                    self._chunks[0] = source[take:]
                else:
                    self._chunks.popleft()
            was_playing = self._queued > 0
            self._queued -= filled
            self._played += int(played / self._ratio)
            if was_playing and self._queued <= 0:
                self._queued = 0
                self.quiet_since = time.monotonic()
        out[filled:, 0] = 0
        if filled:
            self._sounded_at = now
        self._block_db.append(frame_db(out[:, 0]) if filled else -100.0)
        if self.far is not None:
            if status and getattr(status, "output_underflow", False):
                self.far.underflows += 1
            try:  # heard after the output's latency: PortAudio's DAC time where the host gives one
                ahead = when.outputBufferDacTime - when.currentTime if when.outputBufferDacTime else 0.0
            except AttributeError:
                ahead = 0.0
            self.far.push(out[:, 0], time.time() + min(max(ahead, self.latency), 1.0))

    def ready(self) -> bool:
        return self._open.is_set()

    def parks(self, now: float) -> bool:
        """The stream may stop now: silent for ``PARK_S``, and no canceller counts on it."""
        return (self.far is None or not self.far.steady) and self._idle_for(now) > PARK_S

    def _idle_for(self, now: float) -> float:
        """Seconds since anything was queued or played; 0 while something is."""
        with self._lock:
            if self._queued > 0 or self._chunks or self._held:
                return 0.0
        return now - max(self.quiet_since, self._sounded_at)

    def _to_device(self, samples: np.ndarray) -> np.ndarray:
        """``samples`` at the device's rate; refused while no device is open."""
        if not self.ready():
            raise AudioError("speaker: no output device open")
        if self._rate != self.sample_rate:
            samples = soxr.resample(samples, self.sample_rate, self._rate).astype(np.int16)
        return samples

    def _queue(self, samples: np.ndarray) -> None:
        """Count ``samples`` as queued (under the lock): a stretch of speech may start."""
        if self._queued == 0:
            self.started_at = time.monotonic()
        self._queued += len(samples)

    def _cue_samples(self) -> int:
        """Samples of cues still to play (under the lock)."""
        return (len(self._cue) if self._cue is not None else 0) + sum(len(c) for c, _ in self._cues)

    def cue(self, samples: np.ndarray, urgent: bool) -> float:
        """Queue a timer cue ahead of the reply; returns the seconds until its first
        sample is heard (estimated)."""
        samples = self._to_device(samples)
        with self._lock:
            ahead = self._cue_samples()
            if self._mid_chunk and not urgent:
                ahead += min(len(self._chunks[0]), int(CUE_DEADLINE_S * self._rate))
            self._cues.append((samples, time.monotonic() + (0.0 if urgent else CUE_DEADLINE_S)))
            self._queue(samples)
        self._wake.set()
        return ahead / self._rate + self.latency

    def cue_left_s(self) -> float:
        with self._lock:
            return self._cue_samples() / self._rate if self._rate else 0.0

    async def write(self, samples: np.ndarray) -> None:
        samples = self._to_device(samples)
        with self._lock:
            self._chunks.append(samples)
            self._queue(samples)
        self._wake.set()

    async def drain(self) -> None:
        """Wait until everything written has been played (or the device died)."""
        while self._queued > 0 and self._open.is_set():
            await asyncio.sleep(0.02)
        await asyncio.sleep(self.latency)

    def stop(self) -> float:
        """Silence the reply now (cues go on); returns the seconds that had been
        played of the current reply."""
        with self._lock:
            self._chunks.clear()
            self._mid_chunk = False
            self._held = False
            cues = self._cue_samples()
            if self._queued and not cues:
                self.quiet_since = time.monotonic()
            self._queued = cues
            return self._played / self.sample_rate

    def close(self) -> None:
        with self._lock:
            self._cues.clear()
            self._cue = None
        self.stop()

    async def run(self) -> None:
        await devices.keep_open(self._play, self.on_error, "playback", "speaker")

    async def _play(self) -> None:
        import sounddevice as sd

        info = devices.find(self.device, "output", "audio.output_device")
        self._rate = int(info["default_samplerate"])
        self._ratio = self._rate / self.sample_rate
        if self.far is not None:
            self.far.open(self._rate)
        stream = sd.OutputStream(
            device=info["index"], samplerate=self._rate, channels=1, dtype="int16",
            blocksize=self._rate * self.BLOCK_MS // 1000, callback=self._callback,
        )
        try:
            with stream:
                self.latency = float(stream.latency)
                self._last_callback = time.monotonic()
                self._open.set()
                logger.info("speaking on %s at %d Hz", info["name"], self._rate)
                while True:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
                    # cancellation that comes as the event is set (a reply being written),
                    # and the daemon then hung at SIGTERM (a fresh-clone run, 2026-12-06)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.5):
                            await self._wake.wait()
                    self._wake.clear()
                    now = time.monotonic()
                    if stream.stopped:
                        if self._queued > 0:
                            stream.start()
                            self._last_callback = now
                        continue
                    if now - self._last_callback > 2.0 or not stream.active:
                        raise AudioError(f"speaker {info['name']!r}: stopped playing (device gone?)")
                    if self.parks(now):
                        stream.abort()  # at once: what it holds is silence (stop() would drain it)
        finally:
            self._open.clear()  # writes fail until a device is open again
            self.close()  # cues too: they would play late
