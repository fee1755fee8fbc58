"""Speech-to-text with faster-whisper: the model loads once, transcription runs
wholly in a worker thread (its segments are a lazy generator, joined there)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass

import numpy as np

from . import models
from .config import SttConfig
from .errors import SttError

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
