"""Remote speech services: a Wyoming ASR server as the transcriber (``stt.uri``)
and a Wyoming TTS server as the voice (``tts.uri``), on whichever box has the
cores. The bundled models stay loaded and answer whenever the remote service
cannot: down, slower than its ``timeout_s``, or sending what is no answer.
That is one ERROR_OCCURRED per outage; the service is tried again after
``RETRY_S`` (a box that is off costs one timeout, not one per turn).

Every transcript the coach acts on is the remote service's: the utterance's,
and those at a pause that judge whether the turn is over (the remote model is
what the user chose to be heard by). Wyoming's ``transcribe`` takes no prompt
and gives one reading, so the words heard again prompted (a hum over a paused
reply, a command misheard) stay on the local model. The voice gets one ``synthesize`` per
sentence as the model writes it (the coach's own sentence splitter, as with the
local voice), so the first sentence plays while the model writes; its audio is
converted to the local voice's rate. The phrases voiced ahead at start-up (the
commonest timer cues, the skills' first sentences, the thinking cues) are the
local voice's, so they ring with the box off; other cues go to the service
like any sentence.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

import numpy as np
from wyoming.asr import Transcribe
from wyoming.asr import Transcript as WyomingTranscript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_write_event
from wyoming.info import Info
from wyoming.tts import Synthesize

from assistant.core.net_config import address
from assistant.core.seams import SAMPLE_RATE, Synthesizer, Transcriber, Transcript
from assistant.remote.frames import (
    MAX_AUDIO,
    MAX_LINE,
    BadFrame,
    Blocking,
    RemoteError,
    described,
    parse,
    read_event,
    why,
)
from assistant.speech.whisper import clean_transcript

logger = logging.getLogger(__name__)

RETRY_S = 30.0  # a service that failed is passed over this long
CHUNK_SAMPLES = 1600  # 100 ms of the utterance per audio-chunk
MAX_EVENTS = 10_000  # frames read for one answer, at most
MAX_SPEECH_BYTES = 8 * 1024 * 1024  # one sentence's audio, at most (3 minutes at 22 kHz, 90 s at 44.1 kHz)

Report = Callable[[str, str], None]  # (source, message): an ERROR_OCCURRED, safe from any thread


class Link:
    """A remote Wyoming service: where it is, how long it may take, whether it is
    down. Thread-safe (the voice is asked from worker threads)."""

    def __init__(self, source: str, uri: str, timeout_s: float, report: Report | None = None):
        where = address(uri)
        assert where is not None, uri  # checked at load (net_config.check_remote)
        self.host, self.port = where
        self.source, self.uri, self.timeout_s = source, uri, timeout_s  # source: "stt" or "tts"
        self.report: Report = report or (lambda source, message: logger.error("%s: %s", source, message))
        self.down = False
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def usable(self) -> bool:
        return time.monotonic() >= self._retry_at

    def failed(self, err: BaseException) -> None:
        with self._lock:
            first, self.down = not self.down, True
            self._retry_at = time.monotonic() + RETRY_S
        local = "the local model transcribes" if self.source == "stt" else "the local voice speaks"
        message = f"{self.source}.uri {self.uri}: {why(err, self.timeout_s)}; {local} (tried again in {RETRY_S:.0f} s)"
        if first:
            self.report(self.source, message)
        else:
            logger.info("%s: %s", self.source, message)

    def worked(self) -> None:
        with self._lock:
            back, self.down = self.down, False
        if back:
            logger.info("%s: %s answers again", self.source, self.uri)

    async def describe(self) -> Info:
        """The service's own description (``describe`` -> ``info``)."""
        async with asyncio.timeout(self.timeout_s):
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=MAX_LINE)
            try:
                return await described(reader, writer)
            finally:
                writer.transport.abort()


def _error(event: Event) -> RemoteError:
    return RemoteError(f"the service says: {str(event.data.get('text', ''))[:200] or 'error'}")


class RemoteTranscriber:
    """A Wyoming ASR service as the ``seams.Transcriber``; ``local`` answers what
    it cannot (see the module's note)."""

    def __init__(self, link: Link, local: Transcriber, language: str | None):
        self.link, self.local, self.language = link, local, language

    async def transcribe(self, audio: np.ndarray, short: bool = False, aside: bool = False,
                         prompt: str | None = None, readings: int = 1) -> Transcript:
        if aside or prompt or readings > 1 or not self.link.usable():
            return await self.local.transcribe(audio, short, aside, prompt, readings)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.link.timeout_s):
                text = await self._ask(audio)
        except (OSError, BadFrame, RemoteError) as err:  # TimeoutError is an OSError
            self.link.failed(err)
            return await self.local.transcribe(audio, short)
        self.link.worked()
        return Transcript(clean_transcript(text), (time.perf_counter() - started) * 1000)

    async def _ask(self, audio: np.ndarray) -> str:
        reader, writer = await asyncio.open_connection(self.link.host, self.link.port, limit=MAX_LINE)
        try:
            await async_write_event(Transcribe(language=self.language).event(), writer)
            await async_write_event(AudioStart(rate=SAMPLE_RATE, width=2, channels=1).event(), writer)
            pcm = audio.astype("<i2").tobytes()
            for at in range(0, len(pcm), CHUNK_SAMPLES * 2):
                chunk = AudioChunk(rate=SAMPLE_RATE, width=2, channels=1, audio=pcm[at:at + CHUNK_SAMPLES * 2])
                await async_write_event(chunk.event(), writer)
            await async_write_event(AudioStop().event(), writer)
            for _ in range(MAX_EVENTS):  # transcript-start/chunk/stop (streamed) and the like pass by
                event = await read_event(reader)
                if event is None:
                    raise RemoteError("closed before its transcript")
                if Error.is_type(event.type):
                    raise _error(event)
                if WyomingTranscript.is_type(event.type):
                    text = event.data.get("text")
                    if not isinstance(text, str):
                        raise RemoteError("a transcript without text")
                    return text
            raise RemoteError("no transcript among its answers")
        finally:
            writer.transport.abort()


class RemoteSynthesizer:
    """A Wyoming TTS service as the ``seams.Synthesizer``, at the local voice's
    rate; ``local`` speaks whatever it cannot, and what must sound the same every
    time (``steady``)."""

    def __init__(self, link: Link, local: Synthesizer):
        self.link, self.local = link, local
        self.sample_rate = local.sample_rate

    def synthesize(self, text: str, steady: bool = False) -> np.ndarray:
        if steady or not self.link.usable():
            return self.local.synthesize(text, steady)
        try:
            audio = self._ask(text)
        except (OSError, BadFrame, RemoteError) as err:
            self.link.failed(err)
            return self.local.synthesize(text)
        self.link.worked()
        return audio

    def _ask(self, text: str) -> np.ndarray:
        connection = Blocking(self.link.host, self.link.port, time.monotonic() + self.link.timeout_s)
        parts: list[bytes] = []
        form: tuple[int, int, int] | None = None  # (rate, width, channels)
        try:
            connection.write(Synthesize(text=text).event())
            for _ in range(MAX_EVENTS):
                event = connection.read(MAX_AUDIO)
                if event is None:
                    raise RemoteError("closed before the end of its audio")
                if Error.is_type(event.type):
                    raise _error(event)
                if AudioStart.is_type(event.type) or AudioChunk.is_type(event.type):
                    start = parse(AudioChunk, event) if AudioChunk.is_type(event.type) else parse(AudioStart, event)
                    form = _checked(form, (start.rate, start.width, start.channels))
                    if isinstance(start, AudioChunk):
                        parts.append(start.audio)
                        if sum(map(len, parts)) > MAX_SPEECH_BYTES:
                            raise RemoteError(f"over {MAX_SPEECH_BYTES >> 20} MiB of audio for one sentence")
                elif AudioStop.is_type(event.type):
                    return self._converted(b"".join(parts), form)
            raise RemoteError("no end to its audio")
        finally:
            connection.close()

    def _converted(self, pcm: bytes, form: tuple[int, int, int] | None) -> np.ndarray:
        """int16 mono at the local voice's rate."""
        if form is None or not pcm:
            return np.zeros(0, np.int16)
        rate, _, channels = form
        samples = np.frombuffer(pcm[:len(pcm) - len(pcm) % (2 * channels)], "<i2").astype(np.int16)
        if channels > 1:
            samples = samples.reshape(-1, channels).mean(axis=1).astype(np.int16)
        if rate != self.sample_rate:
            import soxr

            samples = soxr.resample(samples, rate, self.sample_rate)
        return samples


def _checked(form: tuple[int, int, int] | None, new: tuple[int, int, int]) -> tuple[int, int, int]:
    rate, width, channels = new
    if not all(type(n) is int for n in new):
        raise RemoteError(f"audio whose format is no numbers: {new!r}")
    if width != 2 or not 1 <= channels <= 8 or not 8000 <= rate <= 96000:
        raise RemoteError(f"audio the coach cannot play: {rate} Hz, {width} bytes, {channels} channels")
    if form is not None and form != new:
        raise RemoteError("audio whose format changes within a sentence")
    return new


async def remote_parts(stt_uri: str | None, stt_timeout_s: float, tts_uri: str | None, tts_timeout_s: float,
                       language: str | None, transcriber: Transcriber, synthesizer: Synthesizer,
                       report: Report) -> tuple[Transcriber, Synthesizer]:
    """The local parts, each behind its remote service where one is set; each
    service is described once (logged, or reported as down)."""
    links = []
    if stt_uri is not None:
        link = Link("stt", stt_uri, stt_timeout_s, report)
        transcriber, links = RemoteTranscriber(link, transcriber, language), [link]
    if tts_uri is not None:
        link = Link("tts", tts_uri, tts_timeout_s, report)
        synthesizer, links = RemoteSynthesizer(link, synthesizer), [*links, link]
    await asyncio.gather(*(_introduce(link) for link in links))
    return transcriber, synthesizer


async def _introduce(link: Link) -> None:
    try:
        info = await link.describe()
    except (OSError, BadFrame, RemoteError) as err:
        link.failed(err)
        return
    programs = info.asr if link.source == "stt" else info.tts
    if not programs:
        logger.warning("%s.uri %s: the service offers no %s program", link.source, link.uri,
                       "speech-to-text" if link.source == "stt" else "text-to-speech")
    logger.info("%s: %s: %s", link.source, link.uri, "; ".join(offered(program) for program in programs))


def offered(program: object) -> str:
    """A program and its installed models (an ASR service) or voices (a TTS one)."""
    kinds = getattr(program, "models", None) or getattr(program, "voices", None) or []
    names = [str(kind.name) for kind in kinds if getattr(kind, "installed", True)]
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return f"{getattr(program, 'name', '?')} ({', '.join(names[:3]) or 'nothing installed'}{more})"
