"""Speech-to-text with faster-whisper: the model loads once, transcription runs
wholly in a worker thread (its segments are a lazy generator, joined there).
``TranscriptionService`` turns utterances into SPEECH_DETECTED events."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass

import numpy as np

from . import models
from .capture import SAMPLE_RATE
from .config import SttConfig, WakeConfig
from .errors import SttError
from .events import AmbientSpeechDetected, Bus, EventName, SpeakingFinished, SpeechDetected
from .vad import Pause, Segment
from .wake import addressed_reason
from .workers import queue_worker

logger = logging.getLogger(__name__)

_ANNOTATION = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*")


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    stt_ms: float


def clean_transcript(text: str) -> str:
    """Drop whisper's sound annotations ([BLANK_AUDIO], (music)) and spare spaces."""
    text = _ANNOTATION.sub(" ", text)
    text = " ".join(text.split())
    return text if re.search(r"\w", text) else ""


class Transcriber:
    def __init__(self, cfg: SttConfig):
        self.cfg = cfg
        source = models.whisper_model(cfg.model)
        try:
            from faster_whisper import WhisperModel

            self.model = WhisperModel(
                source, device="cpu", compute_type=cfg.compute_type, cpu_threads=cfg.threads
            )
        except Exception as err:  # ctranslate2 and huggingface raise many kinds
            raise SttError(f"stt.model: cannot load {cfg.model!r} ({source}): {err}") from err
        logger.info("stt: loaded %s", source)

    def transcribe_sync(self, audio: np.ndarray) -> Transcript:
        started = time.perf_counter()
        samples = audio.astype(np.float32) / 32768.0
        try:
            segments, _info = self.model.transcribe(
                samples,
                language=self.cfg.language,
                beam_size=self.cfg.beam_size,
                condition_on_previous_text=False,
                vad_filter=False,
                without_timestamps=True,
            )
            kept = [
                s.text
                for s in segments  # the lazy generator is consumed here, in this thread
                if not (s.no_speech_prob > self.cfg.no_speech_threshold and s.avg_logprob < -1.0)
            ]
        except Exception as err:
            raise SttError(f"transcription failed: {err}") from err
        return Transcript(clean_transcript(" ".join(kept)), (time.perf_counter() - started) * 1000)

    async def transcribe(self, audio: np.ndarray) -> Transcript:
        return await asyncio.to_thread(self.transcribe_sync, audio)


UTTERANCE_QUEUE = 8  # utterances waiting for the transcriber; more than this means it cannot keep up


class TranscriptionService:
    """Utterances in, SPEECH_DETECTED or AMBIENT_SPEECH_DETECTED out.

    ``utterances`` (bounded; the listener waits when full) are transcribed in
    order. ``pauses`` (two at most, dropped when busy) start an early
    transcript at a pause: when the utterance does end there, its transcript is
    (nearly) ready. Addressing (wake phrase, follow-up window) is decided here.
    """

    def __init__(self, bus: Bus, transcriber: Transcriber, wake: WakeConfig):
        self.bus = bus
        self.transcriber = transcriber
        self.wake = wake  # a reload may replace it
        self.utterances: asyncio.Queue[Segment] = asyncio.Queue(maxsize=UTTERANCE_QUEUE)
        self.pauses: asyncio.Queue[Pause] = asyncio.Queue(maxsize=2)
        self._early: dict[tuple[int, int], asyncio.Future[Transcript]] = {}
        self.last_spoke_at: float | None = None
        bus.on(EventName.SPEAKING_FINISHED, self._on_spoke)

    def _on_spoke(self, event: SpeakingFinished) -> None:
        self.last_spoke_at = time.time()

    def pause(self, pause: Pause) -> None:
        try:
            self.pauses.put_nowait(pause)
        except asyncio.QueueFull:
            pass  # an early transcript is an optimisation: skipped when busy

    async def run(self) -> None:
        def report(segment: Segment, err: Exception) -> None:
            self.bus.error("stt", err, turn_id=segment.utterance_id)

        await queue_worker(self.utterances, self._transcribe, report)

    async def run_early(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            pause = await self.pauses.get()
            for key in [k for k in self._early if k[0] < pause.utterance_id]:
                self._early.pop(key).cancel()  # older utterances: never claimed
            future: asyncio.Future[Transcript] = loop.create_future()
            self._early[(pause.utterance_id, len(pause.audio))] = future
            try:
                future.set_result(await self.transcriber.transcribe(pause.audio))
            except asyncio.CancelledError:
                future.cancel()
                raise
            except Exception as err:
                future.set_exception(err)
                future.exception()  # reported by whoever claims it, or by nobody

    async def join(self) -> None:
        await self.utterances.join()

    async def _transcribe(self, segment: Segment) -> None:
        early = self._early.pop((segment.utterance_id, len(segment.audio)), None)
        if early is not None and not early.cancelled():
            transcript = await early  # the same audio, already (being) transcribed
        else:
            transcript = await self.transcriber.transcribe(segment.audio)
        duration = len(segment.audio) / SAMPLE_RATE
        if not transcript.text:
            logger.info("utterance %d: no words (%.1f s of audio)", segment.utterance_id, duration)
            return
        reason = addressed_reason(transcript.text, time.time(), self.last_spoke_at, self.wake)
        logger.info("heard (%s): %s", reason or "ambient", transcript.text)
        if reason:
            self.bus.emit(SpeechDetected(segment.utterance_id, transcript.text, reason, round(duration, 3),
                                         segment.ended_at, round(transcript.stt_ms, 1), round(segment.end_s, 3)))
        else:
            self.bus.emit(AmbientSpeechDetected(segment.utterance_id, transcript.text, round(duration, 3),
                                                segment.ended_at, round(transcript.stt_ms, 1)))
