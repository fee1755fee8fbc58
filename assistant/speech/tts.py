"""Text-to-speech with Piper, sentence by sentence, as the reply streams in.

``TtsService`` listens to RESPONSE_* events, cuts the streamed text into
sentences, synthesizes each in a worker thread and writes it to the sink the
moment it exists, so the first sentence plays while the model still writes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from importlib.metadata import version

import numpy as np

from assistant.audio.levels import window_db
from assistant.core import models
from assistant.core.bus import Bus
from assistant.core.config import TtsConfig
from assistant.core.errors import TtsError
from assistant.core.events import (
    EventName,
    ResponseChunk,
    ResponseGenerated,
    ResponseGenerating,
    SpeakingFinished,
    SpeakingPaused,
    SpeakingResumed,
    SpeakingStarted,
    SpeechDetected,
    ThinkingCue,
)
from assistant.core.seams import AudioSink, Synthesizer
from assistant.core.workers import Foreground, queue_worker
from assistant.speech.text import SentenceSplitter

logger = logging.getLogger(__name__)


class PiperSynthesizer:
    """A Piper voice, loaded once: the ``seams.Synthesizer`` the daemon ships with."""

    def __init__(self, cfg: TtsConfig):
        found = models.piper_voice(cfg.voice)
        if found is None:
            raise TtsError(f"tts.voice: no Piper voice {cfg.voice!r} (bundled name, or path to a .onnx)")
        onnx, config = found
        try:
            from piper import PiperVoice, SynthesisConfig

            self.voice = PiperVoice.load(str(onnx), config_path=str(config))
            self.syn_config = SynthesisConfig(length_scale=cfg.length_scale, noise_scale=cfg.noise_scale,
                                              noise_w_scale=cfg.noise_w_scale)
            # Without Piper's sampling noise: the same audio for the same text, every time.
            self.steady_config = SynthesisConfig(length_scale=cfg.length_scale, noise_scale=0.0, noise_w_scale=0.0)
        except Exception as err:
            raise TtsError(f"tts.voice: cannot load {onnx}: {err}") from err
        self.sample_rate: int = self.voice.config.sample_rate
        # what its audio depends on (``ahead`` keeps a voice's pieces by it): the voice's files, Piper, the settings
        files = "|".join(f"{f.resolve()}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in (onnx, config))
        self.identity = f"{files}|{version('piper-tts')}|{cfg.length_scale}|{cfg.noise_scale}|{cfg.noise_w_scale}"
        self._lock = threading.Lock()  # the TTS and the timers' cues share the voice; espeak is not reentrant
        logger.info("tts: loaded %s (%d Hz)", onnx.name, self.sample_rate)

    def synthesize(self, text: str, steady: bool = False) -> np.ndarray:
        """int16 mono PCM at ``sample_rate`` for ``text``; ``steady``: the same audio
        every time (a check must not depend on a draw)."""
        config = self.steady_config if steady else self.syn_config
        try:
            with self._lock:
                chunks = [c.audio_int16_array for c in self.voice.synthesize(text, syn_config=config)]
        except Exception as err:
            raise TtsError(f"speech synthesis failed: {err}") from err
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


LEAD_DB = -45.0  # Piper starts each phrase with 25-65 ms under this level


def trim_lead(samples: np.ndarray, rate: int, keep_ms: int = 5) -> np.ndarray:
    """Without the near-silence before the first sound (but ``keep_ms`` of it):
    a cue or a reply's first sentence is heard that much sooner."""
    window = max(1, rate * 5 // 1000)
    loud = np.flatnonzero(window_db(samples, window) > LEAD_DB)
    if not len(loud):
        return samples
    return samples[max(0, int(loud[0]) * window - rate * keep_ms // 1000):]


@dataclass(frozen=True, slots=True)
class _Sentence:
    turn_id: int
    text: str


@dataclass(frozen=True, slots=True)
class _EndOfTurn:
    turn_id: int


class TtsService:
    DROPPED_KEPT = 512  # turns of other rooms awaiting their end, at most
    THINKING_KEPT = 16  # thinking cues scheduled at once, at most (one per turn in flight)
    TAKE_BACK_S = 1.5  # a reply heard this long may still be taken back: the user was not done
    MODEL_GRACE_S = 0.4  # the model has this long after the transcript before a cue (a long pause is not a slow model)

    def __init__(self, bus: Bus, synth: Synthesizer, sink: AudioSink, pause_ms: int,
                 ready: dict[str, np.ndarray] | None = None, thinking: Sequence[str] = (), thinking_ms: int = 0,
                 foreground: Foreground | None = None, room: str = "", home: bool = True,
                 ahead: Callable[[str], np.ndarray | None] | None = None):
        """``ready``: phrases synthesized ahead (a skill's fixed first sentences).
        ``thinking``: acknowledgements (in ``ready``), one of which plays when no
        answer can be heard ``thinking_ms`` after the end of speech (0: never).
        ``foreground``: shared with the in-process model, which waits while a
        reply's first sentence is synthesized. ``room``: only the turns heard in
        this room are spoken here (SPEECH_DETECTED's ``room``); the ``home`` room
        also speaks the turns of no room (typed, the coach's own openings).
        ``ahead``: a reply's first piece voiced ahead, if it was (``speech.ahead``)."""
        self.bus = bus
        self.room, self.home = room, home
        self.spoke: deque[int] = deque(maxlen=16)  # the last turns that finished sounding here
        self.synth = synth
        self.sink = sink
        self.pause = np.zeros(synth.sample_rate * pause_ms // 1000, np.int16)
        self._splitters: dict[int, SentenceSplitter] = {}
        # Text only, bounded by the model's max_tokens; pyee handlers cannot await a put.
        self._queue: asyncio.Queue[_Sentence | _EndOfTurn] = asyncio.Queue()
        self._spoken: dict[int, float] = {}  # turn -> seconds of audio written
        self._said: dict[int, list[tuple[float, str]]] = {}  # turn -> (start second, sentence)
        self._audible_at: dict[int, float] = {}  # turn -> time.monotonic() its first sound was heard
        self._dropped: set[int] = set()  # turns cut short, until their end of turn: the rest is not spoken
        self._mine: set[int] = set()  # away from home: the turns heard in this room, until their end
        self._open: set[int] = set()  # turns with text coming, queued or playing
        self._ready = ready or {}
        self._ahead = ahead
        self._thinking = itertools.cycle([t for t in thinking if t in self._ready]) if thinking_ms else None
        self._thinking_s = thinking_ms / 1000
        self._think_at: dict[int, asyncio.TimerHandle] = {}  # turn -> its thinking cue's check
        self.foreground = foreground or Foreground()
        self.held: tuple[int, float] | None = None  # (turn, time.monotonic()) of a paused reply

    def initialize(self) -> None:
        self.bus.on(EventName.SPEECH_DETECTED, self._on_speech)
        self.bus.on(EventName.RESPONSE_GENERATING, self._on_generating)
        self.bus.on(EventName.RESPONSE_CHUNK, self._on_chunk)
        self.bus.on(EventName.RESPONSE_GENERATED, self._on_generated)

    # -- the thinking cue: a slow model is never a long silence -----------------------

    def _on_speech(self, event: SpeechDetected) -> None:
        if event.reason == "remote" or not self.hears(event.room):  # a Wyoming client's, or another room's
            if self.home:  # away from home only this room's turns are said
                _add(self._dropped, event.utterance_id, self.DROPPED_KEPT)
            return
        if not self.home:
            _add(self._mine, event.utterance_id, self.DROPPED_KEPT)
        if self._thinking is None or event.reason == "typed":  # a typed question waits in no silence
            return
        delay = event.speech_ended_at + self._thinking_s - self._latency() - time.time()
        loop = asyncio.get_running_loop()
        self._think_at[event.utterance_id] = loop.call_later(max(self.MODEL_GRACE_S, delay), self._think, event)
        while len(self._think_at) > self.THINKING_KEPT:
            self._think_at.pop(next(iter(self._think_at))).cancel()

    def hears(self, room: str) -> bool:
        """A turn heard in ``room`` is answered here."""
        return room == self.room or (self.home and not room)

    def _passes(self, turn_id: int) -> bool:
        """Not to be said here: cut short, another room's or a Wyoming peer's."""
        return turn_id in self._dropped or (not self.home and turn_id not in self._mine)

    def _no_cue(self, turn_id: int) -> None:
        """The turn's answer is on its way (a sentence to say, or the turn is over)."""
        handle = self._think_at.pop(turn_id, None)
        if handle is not None:
            handle.cancel()

    def _think(self, event: SpeechDetected) -> None:
        """The deadline came before the model's first word: acknowledge. (Once words
        flow the first sentence is a few hundred milliseconds off, and a cue played
        then would hold it back by its own length.)"""
        turn_id = event.utterance_id
        self._think_at.pop(turn_id, None)
        if self._thinking is None or turn_id in self._spoken or turn_id in self._dropped or self.sink.speaking():
            return
        text = next(self._thinking)
        try:
            ahead = self.sink.cue(trim_lead(self._ready[text], self.synth.sample_rate), urgent=True)
        except Exception as err:  # no device open: the answer comes when it comes
            logger.debug("thinking cue not played: %s", err)
            return
        after_ms = round((time.time() + ahead - event.speech_ended_at) * 1000, 1)
        logger.info("turn %d: no answer yet; %r at %.0f ms after the end of speech", turn_id, text, after_ms)
        self.bus.emit(ThinkingCue(turn_id, text, after_ms))

    def _latency(self) -> float:
        return float(getattr(self.sink, "latency", 0.0))

    def _on_generating(self, event: ResponseGenerating) -> None:
        if self._passes(event.turn_id):
            return
        self._open.add(event.turn_id)
        self._splitters.setdefault(event.turn_id, SentenceSplitter(quick_start=True))

    def _on_chunk(self, event: ResponseChunk) -> None:
        if event.text:  # the model answers: its first sentence is near, and a cue would only delay it
            self._no_cue(event.turn_id)
        if self._passes(event.turn_id):
            return
        self._open.add(event.turn_id)
        splitter = self._splitters.setdefault(event.turn_id, SentenceSplitter(quick_start=True))
        for sentence in splitter.feed(event.text):
            self._queue.put_nowait(_Sentence(event.turn_id, sentence))

    def _on_generated(self, event: ResponseGenerated) -> None:
        self._no_cue(event.turn_id)
        if not self.home and event.turn_id not in self._mine:  # nothing of it was kept here
            return
        if event.turn_id in self._dropped:
            self._splitters.pop(event.turn_id, None)
            self._queue.put_nowait(_EndOfTurn(event.turn_id))  # the worker forgets the turn there
            return
        splitter = self._splitters.pop(event.turn_id, SentenceSplitter())
        for sentence in splitter.flush():
            self._queue.put_nowait(_Sentence(event.turn_id, sentence))
        self._queue.put_nowait(_EndOfTurn(event.turn_id))

    async def run(self) -> None:
        def report(item: _Sentence | _EndOfTurn, err: Exception) -> None:
            self.bus.error("tts", err, turn_id=item.turn_id)

        await queue_worker(self._queue, self._handle, report)

    async def _handle(self, item: _Sentence | _EndOfTurn) -> None:
        if isinstance(item, _EndOfTurn):
            try:
                await self._end_of_turn(item.turn_id)
            finally:  # every turn ends here once (one RESPONSE_GENERATED each): forget it
                self._dropped.discard(item.turn_id)
                self._mine.discard(item.turn_id)
                self._open.discard(item.turn_id)
            return
        if item.turn_id in self._dropped:
            return
        logger.debug("tts turn %d: %r", item.turn_id, item.text)
        first = item.turn_id not in self._spoken
        audio = self._ready.get(item.text)
        if audio is None and first and self._ahead is not None:
            audio = self._ahead(item.text)
        if audio is None:
            with self.foreground.first() if first else nullcontext():  # the model waits for the first sound
                audio = await asyncio.to_thread(self.synth.synthesize, item.text)
        if not len(audio) or item.turn_id in self._dropped:
            return
        start = self._spoken.get(item.turn_id, 0.0)
        rate = self.synth.sample_rate
        if first:
            audio = trim_lead(audio, rate)
            self.sink.mark()
        elif not self._said.get(item.turn_id, [(0.0, "")])[-1][1].endswith(","):
            # after a clause (a piece ending on a comma) Piper's own silences are the comma's pause
            audio = np.concatenate([self.pause, audio])
            start += len(self.pause) / rate
        await self.sink.write(audio)
        self._said.setdefault(item.turn_id, []).append((start, item.text))
        if first:  # heard after the output's latency and any cue still playing ahead of it
            ahead = self._latency() + self.sink.cue_left_s()
            self._audible_at[item.turn_id] = time.monotonic() + ahead
            self.bus.emit(SpeakingStarted(item.turn_id, round(ahead, 4)))
        self._spoken[item.turn_id] = self._spoken.get(item.turn_id, 0.0) + len(audio) / self.synth.sample_rate

    async def _end_of_turn(self, turn_id: int) -> None:
        spoken = self._spoken.get(turn_id)
        if turn_id in self._dropped or spoken is None:
            return
        self._open.discard(turn_id)
        await self.sink.drain()
        if turn_id not in self._dropped:  # not cut short while draining
            self._forget(turn_id)
            self._finished(SpeakingFinished(turn_id, interrupted=False, audio_s=round(spoken, 3)))

    def _forget(self, turn_id: int) -> None:
        self._spoken.pop(turn_id, None)
        self._said.pop(turn_id, None)
        self._audible_at.pop(turn_id, None)

    def interrupt(self, before: int | None = None) -> tuple[int, str] | None:
        """Stop speaking now and drop what is still to say, for every turn (or every
        turn older than ``before``). Returns (turn, text actually spoken) for the turn
        that was being heard, after emitting its SPEAKING_FINISHED(interrupted)."""
        victims = {t for t in self._open | set(self._spoken) if before is None or t < before}
        if not victims:
            return None
        self._dropped |= victims
        if self.held is not None and self.held[0] in victims:
            self.held = None  # the stop below ends the pause
        heard = None
        playing = [t for t in victims if t in self._spoken]
        if playing:
            turn = max(playing)
            played = self._stop(turn)
            heard = (turn, " ".join(text for start, text in self._said.get(turn, []) if start < played))
        for turn in victims:
            self._forget(turn)
            self._splitters.pop(turn, None)
        self._open -= victims
        return heard

    def _stop(self, turn_id: int) -> float:
        """Silence now: the reply being heard ends (SPEAKING_FINISHED, interrupted).
        Returns the seconds of it played."""
        played = self.sink.stop()
        self._finished(SpeakingFinished(turn_id, interrupted=True, audio_s=round(played, 3)))
        return played

    def _finished(self, event: SpeakingFinished) -> None:
        self.spoke.append(event.turn_id)
        self.bus.emit(event)

    def hold(self) -> bool:
        """Pause the reply being heard (SPEAKING_PAUSED) until ``release`` or a cut;
        False when no reply is playing (a cue alone, or nothing written yet)."""
        playing = [t for t in self._spoken if t not in self._dropped]
        if self.held is not None or not playing or (played := self.sink.hold()) is None:
            return False
        self.held = (max(playing), time.monotonic())
        self.bus.emit(SpeakingPaused(self.held[0], round(played, 3)))
        return True

    def release(self) -> None:
        """The paused reply goes on (SPEAKING_RESUMED)."""
        if self.held is None:
            return
        (turn, since), self.held = self.held, None
        self.sink.release()
        self.bus.emit(SpeakingResumed(turn, round(time.monotonic() - since, 3)))

    def withdraw(self, turn_id: int, heard: bool = False) -> bool:
        """Drop a turn none of whose audio has been written yet and say True; False
        once it has (then it can only be cut, as a barge-in). ``heard``: also one
        heard for under ``TAKE_BACK_S``, which stops (SPEAKING_FINISHED, interrupted)."""
        if turn_id in self._spoken:
            if not heard or time.monotonic() - self._audible_at.get(turn_id, 0.0) > self.TAKE_BACK_S:
                return False
            if self.held is not None and self.held[0] == turn_id:
                self.held = None  # the stop below ends the pause
            self._dropped.add(turn_id)  # an end of turn draining meanwhile says nothing more (its finally forgets it)
            self._stop(turn_id)
            self._forget(turn_id)
        self._no_cue(turn_id)
        if turn_id in self._open or turn_id in self._splitters:
            self._dropped.add(turn_id)
            self._splitters.pop(turn_id, None)
            self._queue.put_nowait(_EndOfTurn(turn_id))  # no RESPONSE_GENERATED will: forget it there
        return True

    async def join(self) -> None:
        await self._queue.join()


def _add(turns: set[int], turn_id: int, kept: int) -> None:
    """``turn_id`` into ``turns``, the oldest half forgotten past ``kept`` (turns
    taken back never reach their end of turn, where they are forgotten)."""
    turns.add(turn_id)
    if len(turns) > kept:
        turns -= set(sorted(turns)[:kept // 2])
