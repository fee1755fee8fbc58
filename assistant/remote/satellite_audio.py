"""A satellite's microphone and speaker as the daemon's ``AudioSource`` and
``AudioSink`` (``satellite.Satellite`` keeps the connection)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING

import numpy as np
from wyoming.audio import AudioChunk, AudioStart, AudioStop

from assistant.core.errors import AudioError
from assistant.core.seams import Frame
from assistant.remote.satellite import CHUNK_SAMPLES, Satellite

if TYPE_CHECKING:
    from assistant.audio.echo import FarEnd


PLAYED_GRACE_S = 2.0  # a satellite's ``played`` is awaited this long past the coach's clock of what it plays


class SatelliteSource:
    """The satellite's microphone as the daemon's ``AudioSource`` (it never ends)."""

    def __init__(self, satellite: Satellite):
        self.satellite = satellite

    @property
    def label(self) -> str:
        return self.satellite.label

    async def run(self, queue: asyncio.Queue[Frame | None]) -> None:
        await self.satellite.run(queue)


class SatelliteSink:
    """The satellite's speaker as the daemon's ``AudioSink``. The satellite plays
    what it is sent in real time and cannot be told to stop, so the coach keeps
    its own clock of what is playing (``speaking``, with ``ECHO_TAIL_S`` for the
    way back through its microphone; ``drain`` waits for it). ``stop`` ends what
    is being sent (a reply cut: its later chunks are not sent). No echo
    canceller (``far`` None) and no pause: the daemon is half-duplex while it
    speaks (``audio.barge_in`` is refused with a satellite)."""

    ECHO_TAIL_S = 0.25  # its player's buffer, then its microphone's chunks (64 ms) and the network back

    def __init__(self, satellite: Satellite, sample_rate: int):
        self.satellite = satellite
        self.sample_rate = sample_rate
        self.label = satellite.label
        self.started_at = 0.0
        self.far: FarEnd | None = None
        self._until = 0.0  # time.monotonic() when what was sent has played
        self._marked = 0.0
        self._waiting = False  # for the satellite's ``played``
        self._open = False  # an audio-start sent, its audio-stop not yet
        self._reply = 0  # the reply being sent; ``stop`` moves on to the next, ending the one being sent
        self._sending = asyncio.Lock()  # a cue and a reply never interleave their chunks
        self._tasks: set[asyncio.Task[object]] = set()  # cues and audio-stops on their way
        self._levels: deque[tuple[float, float, float]] = deque()  # (from, to, dBFS) of what plays, 1 s back

    def _left(self) -> float:
        return max(0.0, self._until - time.monotonic())

    def _later(self, job: Coroutine[object, object, object]) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, samples: np.ndarray, reply: int | None) -> None:
        """``samples`` in chunks after what was sent; ``reply``: stop sending when
        ``stop`` has moved past it (None: a cue, never cut)."""
        if reply is not None and reply != self._reply:  # cut while it waited for its turn
            return
        if not self._open:
            if not await self.satellite.send(AudioStart(rate=self.sample_rate, width=2, channels=1).event()):
                return  # not connected: the audio is lost (the outage was reported)
            self._open = True
        if not self._left():
            self.started_at = time.monotonic()
        for at in range(0, len(samples), CHUNK_SAMPLES):
            if reply is not None and reply != self._reply:
                return
            part = samples[at:at + CHUNK_SAMPLES]
            chunk = AudioChunk(rate=self.sample_rate, width=2, channels=1, audio=part.astype("<i2").tobytes())
            if not await self.satellite.send(chunk.event()):
                self._open = False
                return
            now = time.monotonic()
            starts = now + self._left()
            self._until = starts + len(part) / self.sample_rate
            peak = float(np.abs(part.astype(np.int32)).max()) if len(part) else 0.0
            self._levels.append((starts, self._until, 20 * np.log10(peak / 32768 + 1e-10)))
            while self._levels and self._levels[0][1] < now - 1.0:
                self._levels.popleft()

    async def _close_stretch(self) -> None:
        if self._open:
            self._open = False
            if await self.satellite.send(AudioStop().event()):
                self.satellite.stops += 1

    async def write(self, samples: np.ndarray) -> None:
        reply = self._reply
        async with self._sending:
            await self._send(samples, reply)

    async def drain(self) -> None:
        """Until what was sent has played: by the satellite's ``played`` when it
        says so (at most ``PLAYED_GRACE_S`` past the coach's clock), else by the clock."""
        async with self._sending:
            await self._close_stretch()
        link = self.satellite
        if link.played and link.played < link.stops:  # it says played: wait for the last stretch's
            self._waiting = True
            try:
                async with asyncio.timeout(self._left() + PLAYED_GRACE_S):
                    while link.played < link.stops:
                        link.heard_played.clear()
                        await link.heard_played.wait()
                self._until = min(self._until, time.monotonic())  # played: the satellite's word, not the clock
            except TimeoutError:
                pass
            finally:
                self._waiting = False
        await asyncio.sleep(self._left())

    def mark(self) -> None:
        self._marked = time.monotonic()

    def stop(self) -> float:
        """Nothing more of the reply is sent (the satellite plays on what it has)."""
        played = max(0.0, min(time.monotonic(), self._until) - self._marked)
        self._reply += 1
        self._later(self._stop())
        return played

    async def _stop(self) -> None:
        async with self._sending:
            await self._close_stretch()

    def hold(self) -> float | None:
        return None  # a satellite cannot pause

    def release(self) -> None:
        return None

    def cue(self, samples: np.ndarray, urgent: bool) -> float:
        """After what the satellite is playing (it has no way to jump the queue).
        Raises ``AudioError`` while it is not connected (the cue is lost, and said so)."""
        if not self.satellite.connected:
            raise AudioError(f"{self.label}: not connected")
        ahead = self._left()
        self._later(self._cue(samples))
        return ahead

    async def _cue(self, samples: np.ndarray) -> None:
        async with self._sending:
            alone = not self._open  # no reply is being sent: the cue is its own stretch
            await self._send(samples, None)
            if alone:
                await self._close_stretch()

    def cue_left_s(self) -> float:
        return 0.0

    def speaking(self, tail_s: float = 0.0) -> bool:
        return self._waiting or time.monotonic() < self._until + self.ECHO_TAIL_S + tail_s

    def ready(self) -> bool:
        return self.satellite.connected

    def recent_level_db(self) -> float:
        """The loudest chunk playing in the last 300 ms (by the coach's clock of it)."""
        now = time.monotonic()
        return max((db for start, end, db in self._levels if start <= now and end >= now - 0.3), default=-100.0)

    async def run(self) -> None:
        return None  # the source keeps the connection

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
