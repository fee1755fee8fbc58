"""Audio sources: files decoded to 16 kHz mono 16-bit frames, paced or not.

Frames go through a bounded asyncio queue, never the event bus. A file source
waits when the queue is full (nothing is lost); the microphone source drops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import soxr

from assistant.audio import devices
from assistant.core.errors import AudioError, InputError
from assistant.core.seams import SAMPLE_RATE, Frame

logger = logging.getLogger(__name__)


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
        raise InputError(f"{path}: not a readable audio file (WAV, FLAC or OGG): {err}") from err
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


def worth_a_warning(count: int) -> bool:
    """Warn on the 1st, 10th, 100th and every 1,000th time: a steady fault is heard, not a flood."""
    return count in (1, 10, 100) or count % 1000 == 0


# Blocks handed over at once while ``MicSource.eager`` is False: each hand-over wakes
# the event loop, and in silence the wake-ups were most of the daemon's idle CPU. A
# voice's onset is then seen up to one block (20 ms) later; its end never is.
IDLE_BLOCKS = 2
STALL_S = 2.0  # no block from the device for this long: the stream is dead
# PulseAudio's ALSA plugin hands over the first block 2.0 s after the stream starts
# (measured at 16 and 44.1 kHz, 20 and 30 ms blocks): the first block gets longer.
FIRST_BLOCK_S = 5.0


class MicSource:
    """The microphone. The PortAudio callback only copies the block and hands it
    to the event loop; there it is cut into frames. The device is opened at
    16 kHz where it takes that rate (PulseAudio and PipeWire resample in the
    server, measured as good for whisper as soxr here); else at its own rate,
    and soxr resamples on the loop. When the frame
    queue is full the frame is dropped, counted and warned about: the callback
    never waits. A dead or missing device is retried with backoff."""

    label = "microphone"

    def __init__(self, device: str | int | None, frame_ms: int, on_error):
        self.device = device
        self.frame_size = SAMPLE_RATE * frame_ms // 1000
        self.on_error = on_error  # (source, error) -> None: logs and emits ERROR_OCCURRED
        self.dropped = 0
        self.overflows = 0  # blocks PortAudio said came after samples were lost (the callback ran late)
        self.rate = 0  # the rate the device was opened at (0: not yet)
        # False while nobody speaks and the coach is quiet (set by the room, frame by frame):
        # blocks are then handed to the loop IDLE_BLOCKS at a time, half its wake-ups
        self.eager = True
        self._pending = np.zeros(0, np.int16)
        self._last_block = 0.0

    async def run(self, queue: asyncio.Queue[Frame | None]) -> None:
        await devices.keep_open(lambda: self._capture(queue), self.on_error, "capture", "microphone")

    async def _capture(self, queue: asyncio.Queue[Frame | None]) -> None:
        import sounddevice as sd

        info = devices.find(self.device, "input", "audio.input_device")
        try:
            sd.check_input_settings(device=info["index"], samplerate=SAMPLE_RATE, channels=1, dtype="int16")
            rate = SAMPLE_RATE
        except Exception:  # sounddevice.PortAudioError, ValueError: a rate the device lacks
            rate = int(info["default_samplerate"])
        self.rate = rate
        loop = asyncio.get_running_loop()
        resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="int16") if rate != SAMPLE_RATE else None

        def push(block: np.ndarray, captured: float, overflow: bool) -> None:  # on the event loop
            self._last_block = time.monotonic()
            if overflow:
                self.overflows += 1
                if worth_a_warning(self.overflows):
                    logger.warning("microphone: input overflow, samples lost (%d times so far)", self.overflows)
            end = captured + len(block) / rate  # when the block's last sample was captured
            pcm = block[:, 0] if resampler is None else resampler.resample_chunk(block[:, 0])
            self._pending = np.concatenate([self._pending, pcm])
            while len(self._pending) >= self.frame_size:
                frame, self._pending = self._pending[: self.frame_size], self._pending[self.frame_size :]
                try:
                    queue.put_nowait(Frame(frame, end - len(self._pending) / SAMPLE_RATE))
                except asyncio.QueueFull:
                    self.dropped += 1
                    if worth_a_warning(self.dropped):
                        logger.warning("microphone: frame queue full, %d frames dropped so far", self.dropped)

        def push_all(blocks: list[tuple[np.ndarray, float, bool]]) -> None:
            for block in blocks:
                push(*block)

        held: list[tuple[np.ndarray, float, bool]] = []  # touched by the callback's thread only

        def callback(indata: np.ndarray, frames: int, when: Any, status: object) -> None:
            # The block's first sample was captured this long ago, so a frame's time is
            # when it was said, not when it reached us: PortAudio's ADC time against its
            # stream clock where the host reports one, and never less than the input's
            # own latency (ALSA through PulseAudio reports the callback's time as the
            # ADC's, which stamped the block's last sample 20 ms in the future and the
            # end of speech about 35 ms late, measured in the room).
            try:
                adc = stream.time - when.inputBufferAdcTime if when.inputBufferAdcTime else 0.0
            except Exception:  # sounddevice.PortAudioError: no stream clock
                adc = 0.0
            captured = time.time() - min(max(adc, latency, frames / rate), 1.0)
            held.append((indata.copy(), captured, bool(getattr(status, "input_overflow", False))))
            if not self.eager and len(held) < IDLE_BLOCKS:
                return  # nobody speaks: the loop is woken for two blocks at once
            try:  # PortAudio's thread: copy and hand over, never wait
                loop.call_soon_threadsafe(push_all, held.copy())
            except RuntimeError:
                pass  # the loop is closing
            held.clear()

        stream = sd.InputStream(
            device=info["index"], samplerate=rate, channels=1, dtype="int16",
            blocksize=rate * 20 // 1000, callback=callback,
        )
        latency = float(stream.latency)  # PortAudio's estimate, read before the first callback
        with stream:
            opened = self._last_block = time.monotonic()
            logger.info("listening on %s at %d Hz", info["name"], rate)
            while True:
                await asyncio.sleep(0.5)
                allowed = FIRST_BLOCK_S if self._last_block == opened else STALL_S
                if time.monotonic() - self._last_block > allowed or not stream.active:
                    raise AudioError(f"microphone {info['name']!r}: no audio for {allowed:.0f} s (device gone?)")
