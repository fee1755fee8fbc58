"""Speech-to-text with faster-whisper: the model loads once, transcription runs
wholly in a worker thread (its segments are a lazy generator, joined there).
The ``seams.Transcriber`` the daemon ships with."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import re
import time
import zlib
from typing import Any

import numpy as np

from assistant.audio.capture import SAMPLE_RATE
from assistant.audio.levels import VOICE_BELOW_PEAK_DB, window_db
from assistant.core import models
from assistant.core.config import SttConfig
from assistant.core.errors import SttError
from assistant.core.seams import Transcript

logger = logging.getLogger(__name__)

WINDOW_S = 30  # whisper's own window
SHORT_MIN_S = 5.0  # the shortest window of the command check (shorter ones transcribed worse)
# Whisper writes what it heard in the style of what came before: after these, a hum
# over a reply is "Mm-hmm." (7 of 7 on the rig; "I am them...", "and anthem." unprompted).
ASIDE_PROMPT = "Mm-hmm. Uh-huh. Okay."
# Whisper prompted with commands hears them better: on the 480-line corpus, commands heard again
# this way gained 11 lines of 370 said by Piper, 18 said by espeak-ng, and took no question
# (benchmarks/understanding.py --speech).
COMMAND_PROMPT = ("Set a timer for 90 seconds. Log 3 sets of 10 squats at 60 kilos. Pause. Skip the rest. "
                  "Start a Tabata. EMOM for 10 minutes.")
# ... and the beam's other readings of it hold more: taking the likeliest of five that is a command
# gained 15 more lines said by Piper and 27 said by espeak-ng and took no question (a median of 112-126 ms for
# the utterances heard again; docs/performance.md).
COMMAND_READINGS = 5
TOKENS_PER_S = 6  # a transcript longer than this per second of audio is a loop
GAP_FRAME = 480  # 30 ms: the gaps inside an utterance are found frame by frame ...
GAP_KEEP_S = 0.3  # ... and one longer than this is cut to this (its two ends kept)
_ANNOTATION = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*")


def close_gaps(audio: np.ndarray) -> np.ndarray:
    """int16 ``audio`` with each silence between words longer than ``GAP_KEEP_S``
    cut to that: after a second's pause tiny.en often stops ("Can you give me a
    plan for my? ... legs and core" heard as "Can you give me a plan for my?", on the
    rig and offline; cut, whole). Silence is ``VOICE_BELOW_PEAK_DB`` under the
    loudest frame, as the endpointer tells the end of speech; the silence before
    the first word and after the last stays as it is."""
    levels = window_db(audio, GAP_FRAME)
    if len(levels) == 0:
        return audio
    voiced = np.flatnonzero(levels >= levels.max() - VOICE_BELOW_PEAK_DB)
    keep = round(GAP_KEEP_S * SAMPLE_RATE / GAP_FRAME)
    parts, start = [], 0
    for before, after in itertools.pairwise(voiced.tolist()):
        if after - before - 1 > keep:  # frames before+1 .. after-1 are silent: keep their two ends
            cut_from, cut_to = before + 1 + keep // 2, after - (keep - keep // 2)
            parts.append(audio[start:cut_from * GAP_FRAME])
            start = cut_to * GAP_FRAME
    if not parts:
        return audio
    parts.append(audio[start:])
    return np.concatenate(parts)


def unrepeat(text: str) -> str:
    """Whisper on a short window often says it again: "Set a timer for 2 minutes.
    Set a timer for 2". Text that is one phrase and its repetitions (the last one
    cut short) becomes the phrase; two words said again are enough after a
    sentence's end ("Coach, what's my plan for the week? Coach, what")."""
    words = text.split()
    keys = [re.sub(r"\W", "", w.lower()) for w in words]
    for period in range(1, len(words)):
        again = len(words) - period  # words said again: three at least, or the whole phrase
        enough = again >= min(3, period) or (again >= 2 and words[period - 1][-1:] in ".?!")
        if enough and all(keys[i] == keys[i - period] for i in range(period, len(words) - 1)) \
                and keys[-1 - period].startswith(keys[-1]):  # the last word may be cut short
            return " ".join(words[:period])
    return text


def _loops(text: str) -> bool:
    """Whisper's repetition loop: text that compresses too well."""
    return len(text) > 20 and len(zlib.compress(text.encode())) * 2.4 < len(text.encode())


def clean_transcript(text: str) -> str:
    """Drop whisper's sound annotations ([BLANK_AUDIO], (music)) and spare spaces."""
    text = _ANNOTATION.sub(" ", text)
    text = " ".join(text.split())
    return text if re.search(r"\w", text) else ""


def default_threads() -> int:
    """Half the cores this process may use (one of two, four at most): the turn
    model judges beside the transcript, and Piper and the model want the rest. On
    2 cores tiny.en was no slower on one thread than on CTranslate2's default (a
    2.5 s question in 53 ms against 68 ms, the 30 s window in 415 against 463 ms)
    and 15 ms quicker beside the turn model."""
    return min(4, max(1, len(os.sched_getaffinity(0)) // 2))  # CTranslate2's own default is at most 4


class WhisperTranscriber:
    """faster-whisper in process: the ``seams.Transcriber`` the daemon ships with."""

    def __init__(self, cfg: SttConfig):
        self.cfg = cfg
        source = models.whisper_model(cfg.model)
        try:
            from faster_whisper import WhisperModel

            self.model = WhisperModel(source, device="cpu", compute_type=cfg.compute_type,
                                      cpu_threads=cfg.threads or default_threads())
        except Exception as err:  # ctranslate2 and huggingface raise many kinds
            raise SttError(f"stt.model: cannot load {cfg.model!r} ({source}): {err}") from err
        self._tokenizer: Any = None  # faster_whisper.tokenizer.Tokenizer, made on first use
        self._prompts: dict[str | None, list[int]] = {}  # the short window's prompts, by what came before
        logger.info("stt: loaded %s", source)

    def transcribe_sync(self, audio: np.ndarray, short: bool = False, aside: bool = False,
                        prompt: str | None = None, readings: int = 1) -> Transcript:
        """``short``: a window that fits the audio (for commands, see ``_short``).
        ``aside``: said over a paused reply, so whisper is prompted with hums
        (``ASIDE_PROMPT``): it then writes "Mm-hmm." for one where it would guess
        words ("I am them..."). ``prompt``: otherwise, what whisper is told came
        before (``COMMAND_PROMPT``). ``readings``: with ``short``, the beam's other
        readings too, up to this many in all (``Transcript.alternatives``)."""
        started = time.perf_counter()
        samples = close_gaps(audio).astype(np.float32) / 32768.0
        fits = short and self.cfg.language and len(samples) < (WINDOW_S - 1) * SAMPLE_RATE
        try:
            texts = self._short(samples, aside, prompt, readings) if fits else None
            if texts is None:
                texts = [self._whole(samples, aside, prompt)]
        except Exception as err:
            raise SttError(f"transcription failed: {err}") from err
        first, *others = [clean_transcript(text) for text in texts]
        alternatives = tuple(dict.fromkeys(text for text in others if text and text != first))
        return Transcript(first, (time.perf_counter() - started) * 1000, alternatives=alternatives)

    def _whole(self, samples: np.ndarray, aside: bool = False, prompt: str | None = None) -> str:
        """faster-whisper's own transcription, on its 30 s window."""
        segments, _info = self.model.transcribe(
            samples,
            language=self.cfg.language,
            beam_size=self.cfg.beam_size,
            condition_on_previous_text=False,
            vad_filter=False,
            without_timestamps=True,
            hotwords=self.cfg.hotwords or None,
            initial_prompt=ASIDE_PROMPT if aside else prompt,
        )
        return " ".join(
            s.text
            for s in segments  # the lazy generator is consumed here, in this thread
            if not (s.no_speech_prob > self.cfg.no_speech_threshold and s.avg_logprob < -1.0)
        )

    def _short(self, samples: np.ndarray, aside: bool = False, prompt: str | None = None,
               readings: int = 1) -> list[str] | None:
        """Whisper on a window that fits the utterance (``SHORT_MIN_S`` at least)
        instead of the fixed 30 s: the encoder's cost shrinks with the window
        (CTranslate2 accepts any length), 170 ms instead of 450 ms for a short
        command on 2 cores. On a set of 32 commands and questions plus jfk.flac its
        word error rate was no worse (0.058 against 0.082), but single questions
        came out worse, so it only decides whether an utterance is a command, where
        the router's whole-utterance grammar guards against a wrong word. The
        best reading first, then up to ``readings`` - 1 others of a beam that wide
        (those that loop are dropped). None when the best looks like whisper's
        repetition loop (the caller then uses 30 s)."""
        import ctranslate2
        from faster_whisper.tokenizer import Tokenizer

        model = self.model
        if self._tokenizer is None:
            self._tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe",
                                        language=self.cfg.language)
        tokenizer = self._tokenizer
        said = ASIDE_PROMPT if aside else prompt
        if said not in self._prompts:
            before = tokenizer.encode(" " + said) if said else []
            self._prompts[said] = model.get_prompt(tokenizer, before, without_timestamps=True,
                                                   hotwords=self.cfg.hotwords or None)
        prompt_ids = self._prompts[said]
        features = model.feature_extractor(samples)
        frames = max(int(SHORT_MIN_S * 100), math.ceil((features.shape[1] + 100) / 100) * 100)
        features = np.pad(features, ((0, 0), (0, max(0, frames - features.shape[1]))))[:, :frames]
        encoded = model.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None])),
                                     to_cpu=False)
        seconds = len(samples) / SAMPLE_RATE
        result = model.model.generate(
            encoded, [prompt_ids], beam_size=max(self.cfg.beam_size, readings), num_hypotheses=readings,
            max_length=len(prompt_ids) + int(TOKENS_PER_S * seconds) + 12,
            suppress_blank=True, suppress_tokens=[-1], return_scores=True, return_no_speech_prob=True,
        )[0]
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        if result.no_speech_prob > self.cfg.no_speech_threshold and avg_logprob < -1.0:
            return [""]
        texts = [unrepeat(tokenizer.decode([t for t in sequence if t < tokenizer.eot]))
                 for sequence in result.sequences_ids]
        if _loops(texts[0]):
            logger.debug("stt: repetition in a short window (%r); using 30 s", texts[0][:60])
            return None
        return texts[:1] + [text for text in texts[1:] if not _loops(text)]

    async def transcribe(self, audio: np.ndarray, short: bool = False, aside: bool = False,
                         prompt: str | None = None, readings: int = 1) -> Transcript:
        return await asyncio.to_thread(self.transcribe_sync, audio, short, aside, prompt, readings)
