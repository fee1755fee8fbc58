"""The daemon as the brain of a Wyoming satellite (a Raspberry Pi with a mic and a
speaker running ``wyoming-satellite``): its microphone is the daemon's
``AudioSource``, its speaker the ``AudioSink``, so the endpointing, the turn
judgement, the transcription, the skills and the voice are the daemon's own.

The daemon connects as Home Assistant does: ``describe`` (the peer must offer a
satellite program), ``run-satellite``, then the satellite streams its
microphone as ``audio-chunk`` frames (and ``run-pipeline``, noted); the coach's
voice goes back as ``audio-start`` / ``audio-chunk`` / ``audio-stop`` at the
voice's rate (a satellite that says ``played`` after each stretch is waited
for; others are timed by the coach's clock), what it heard as ``transcript``
(for its display), the timers as
``timer-started``, ``timer-updated``, ``timer-finished`` and ``timer-cancelled``
of the timers set in its room (for a satellite that shows them; the cues are
the voice's). ``ping`` gets ``pong``. A satellite
that drops, sends garbage, a frame over 1 MiB or audio the coach cannot hear
(not 16-bit, over 8 channels) is disconnected and dialled again with backoff
(1 s doubling to 10 s): ERROR_OCCURRED (source ``satellite``) once per outage,
and LISTENING again when it is back.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable

import numpy as np
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk
from wyoming.event import Event, async_write_event
from wyoming.ping import Ping, Pong
from wyoming.satellite import RunSatellite
from wyoming.snd import Played
from wyoming.timer import TimerCancelled as WyomingTimerCancelled
from wyoming.timer import TimerFinished as WyomingTimerFinished
from wyoming.timer import TimerStarted as WyomingTimerStarted
from wyoming.timer import TimerUpdated as WyomingTimerUpdated

from assistant.core.events import SpeechDetected, TimerCancelled, TimerFinished, TimerStarted, TimerUpdated
from assistant.core.net_config import address
from assistant.core.seams import SAMPLE_RATE, Frame
from assistant.remote.frames import MAX_AUDIO, MAX_LINE, BadFrame, described, parse, read_event, why

logger = logging.getLogger(__name__)

BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 10.0)  # between attempts to reach a satellite; the last one repeats
CONNECT_S = 5.0  # to connect and have its description
WRITE_S = 5.0  # a satellite that does not take the coach's voice within this long is dropped
CHUNK_SAMPLES = 1024  # of the voice per audio-chunk
SOURCE = "satellite"  # ERROR_OCCURRED's source for a satellite lost


class Satellite:
    """One satellite: the connection, kept up with backoff while ``run`` runs,
    its microphone into the daemon's frame queue, and ``send`` for the voice."""

    def __init__(self, name: str, uri: str, frame_ms: int, on_error: Callable[[str, str], None]):
        where = address(uri)
        assert where is not None, uri  # checked at load
        self.name, self.uri = name, uri
        self.host, self.port = where
        self.frame = SAMPLE_RATE * frame_ms // 1000
        self.on_error = on_error
        self.connected = False
        self.connections = 0  # that streamed audio: a new one is LISTENING again
        self.stops = self.played = 0
        self.heard_played = asyncio.Event()  # set at each ``played``
        self.home = False  # typed questions are answered in its room (the first satellite's)
        self.dropped = 0  # microphone frames dropped: the daemon's queue was full
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()
        self._pending = np.zeros(0, np.int16)
        self._resampler: object | None = None
        self._form: tuple[int, int] | None = None  # (rate, channels) of its microphone
        self._odd = b""  # the bytes of a sample the last chunk cut in two

    @property
    def label(self) -> str:
        return f"satellite {self.name} ({self.uri})"

    async def run(self, frames: asyncio.Queue[Frame | None]) -> None:
        """Serve the satellite until cancelled: dial, stream, and dial again when it
        goes. A connection counts once its microphone flows: one that ends before
        (a satellite that refuses us, or that another brain holds) is one more
        failed attempt, so the backoff grows and the outage is said once."""
        attempt, down = 0, False
        while True:
            try:
                reader, writer = await self._connect()
            except (OSError, BadFrame) as err:  # TimeoutError is an OSError
                reason = why(err, server="wyoming-satellite")
            else:
                logger.info("satellite %s: connected (%s)", self.name, self.uri)
                try:
                    await self._stream(reader, writer, frames)
                    reason = "it closed the connection" if self.connected else \
                        "it closed the connection before sending any audio (is another brain, such as Home " \
                        "Assistant, connected to it?)"
                except (OSError, BadFrame) as err:
                    reason = why(err, server="wyoming-satellite")
                finally:
                    flowed = self.connected
                    self.connected, self._writer = False, None
                    writer.transport.abort()
                if flowed:
                    attempt, down = 0, False
            message = f"satellite {self.name} ({self.uri}): {reason}; dialling it again"
            if not down:
                self.on_error(SOURCE, message)
                down = True
            else:
                logger.info("%s", message)
            await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            attempt += 1

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with asyncio.timeout(CONNECT_S):
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=MAX_LINE)
            try:
                _keepalive(writer)
                if (await described(reader, writer, MAX_AUDIO)).satellite is None:
                    raise BadFrame("it is no satellite (its description offers no satellite program)")
                await async_write_event(RunSatellite().event(), writer)
            except BaseException:
                writer.transport.abort()
                raise
        return reader, writer

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      frames: asyncio.Queue[Frame | None]) -> None:
        """Its microphone into ``frames`` until it goes; ``connected`` (the sink is
        ready) from its first audio on."""
        self._writer = writer
        self.stops = self.played = 0  # on this connection: stretches of voice ended, and said played
        self._pending, self._resampler, self._form, self._odd = np.zeros(0, np.int16), None, None, b""
        while (event := await read_event(reader, MAX_AUDIO)) is not None:
            if AudioChunk.is_type(event.type):
                self._hear(parse(AudioChunk, event), frames)
                if not self.connected:
                    self.connected = True
                    self.connections += 1
            elif Played.is_type(event.type):  # a stretch of the voice has finished playing (newer satellites)
                self.played += 1
                self.heard_played.set()
            elif Ping.is_type(event.type):
                await self.send(Pong(text=event.data.get("text")).event())
            # run-pipeline, audio-start/stop, played and the like: nothing to do

    def _hear(self, chunk: AudioChunk, frames: asyncio.Queue[Frame | None]) -> None:
        """The satellite's microphone, as 16 kHz mono frames of the endpointer's size."""
        numbers = all(type(n) is int for n in (chunk.rate, chunk.width, chunk.channels))
        if not numbers or chunk.width != 2 or not 1 <= chunk.channels <= 8 or not 8000 <= chunk.rate <= 96000:
            raise BadFrame(f"microphone audio the coach cannot hear: {chunk.rate} Hz, {chunk.width} bytes, "
                           f"{chunk.channels} channels")
        form = (chunk.rate, chunk.channels)
        if self._form != form:
            self._form, self._resampler, self._odd = form, None, b""
            if chunk.rate != SAMPLE_RATE:
                import soxr

                self._resampler = soxr.ResampleStream(chunk.rate, SAMPLE_RATE, 1, dtype="int16")
        audio = self._odd + chunk.audio
        whole_samples = len(audio) - len(audio) % (2 * chunk.channels)
        audio, self._odd = audio[:whole_samples], audio[whole_samples:]  # a sample split across chunks: kept
        samples = np.frombuffer(audio, "<i2").astype(np.int16)
        if chunk.channels > 1:
            samples = samples.reshape(-1, chunk.channels).mean(axis=1).astype(np.int16)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)  # type: ignore[attr-defined]
        pending = np.concatenate([self._pending, samples])
        whole = len(pending) // self.frame * self.frame
        now = time.time()
        for at in range(0, whole, self.frame):
            frame = Frame(pending[at:at + self.frame], now - (whole - at - self.frame) / SAMPLE_RATE)
            try:
                frames.put_nowait(frame)
            except asyncio.QueueFull:  # the microphone never waits: dropped and counted
                self.dropped += 1
                if self.dropped in (1, 100) or self.dropped % 1000 == 0:
                    logger.warning("satellite %s: %d microphone frames dropped (the daemon is behind)",
                                   self.name, self.dropped)
        self._pending = pending[whole:]

    async def send(self, event: Event) -> bool:
        """To the satellite, or nowhere when it is not connected (False)."""
        writer = self._writer
        if writer is None:
            return False
        try:
            async with self._lock, asyncio.timeout(WRITE_S):
                await async_write_event(event, writer)
        except (OSError, RuntimeError) as err:  # the read loop sees the closed connection and dials again
            logger.info("satellite %s: not sent (%s)", self.name, why(err, WRITE_S))
            writer.transport.abort()
            return False
        return True

    async def timer(self, event: TimerStarted | TimerUpdated | TimerFinished | TimerCancelled) -> None:
        """The coach's timers set in its room as Wyoming's timer events, for a
        satellite that shows them (an older one passes them over); the cues
        themselves are the voice's."""
        timer_id = str(event.timer_id)
        if event.room != self.name and not (self.home and not event.room):  # "": stored before rooms were
            return
        if isinstance(event, TimerStarted):
            total = max(0, round(event.ends_s - event.started_s))
            hours, rest = divmod(total, 3600)
            started = WyomingTimerStarted(id=timer_id, total_seconds=total, name=event.label or event.kind,
                                          start_hours=hours, start_minutes=rest // 60, start_seconds=rest % 60)
            await self.send(started.event())
        elif isinstance(event, TimerUpdated):  # paused, resumed, skipped ahead
            left = WyomingTimerUpdated(id=timer_id, is_active=event.active, total_seconds=round(event.left_s))
            await self.send(left.event())
        elif isinstance(event, TimerFinished):
            await self.send(WyomingTimerFinished(id=timer_id).event())
        else:
            await self.send(WyomingTimerCancelled(id=timer_id).event())

    async def heard(self, event: SpeechDetected) -> None:
        """What the coach heard in the satellite's room, for its display and lights."""
        if event.room == self.name or (self.home and event.reason == "typed"):
            await self.send(Transcript(text=event.text).event())


def _keepalive(writer: asyncio.StreamWriter) -> None:
    """A satellite that vanishes (unplugged, no FIN) is noticed in about 25 s."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    # TCP_USER_TIMEOUT: also while the coach's voice waits unacknowledged (keep-alive probes wait for that)
    for option, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3), ("TCP_USER_TIMEOUT", 25_000)):
        if hasattr(socket, option):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
