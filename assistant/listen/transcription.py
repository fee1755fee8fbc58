"""``TranscriptionService`` turns utterances into SPEECH_DETECTED events: the
transcriber (a ``seams.Transcriber``) runs in its own task, and the end of a
turn, the addressing and the words heard again are decided here."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np

from assistant.audio.capture import SAMPLE_RATE
from assistant.core import spoken
from assistant.core.bus import Bus
from assistant.core.config import WakeConfig
from assistant.core.events import AmbientSpeechDetected, EventName, SpeakingFinished, SpeechDetected
from assistant.core.seams import Transcriber, Transcript
from assistant.core.workers import queue_worker
from assistant.listen.turn import TurnModel, Verdict, judge
from assistant.listen.utterances import CommandPause, Judge, Pause, Prepare, Segment
from assistant.listen.wake import addressed_reason, is_backchannel
from assistant.speech.whisper import COMMAND_PROMPT, COMMAND_READINGS

logger = logging.getLogger(__name__)

UTTERANCE_QUEUE = 8  # utterances waiting for the transcriber; more than this means it cannot keep up
ANSWER_READINGS = 10  # an answer heard again: the readings of whisper's beam weighed (benchmarks/interview_names.py)


class Asking(Protocol):
    """A question the coach asked and waits on an answer to (``interview.Asking``)."""

    def question(self) -> str | None: ...
    def doubted(self, text: str) -> bool: ...  # the words may answer it misheard
    def chosen(self, readings: Sequence[str]) -> str | None: ...  # of whisper's readings, the answer


def a_command(heard: Transcript, understood: Callable[[str], bool]) -> str | None:
    """The likeliest reading of ``heard`` that is a command and no question, or None."""
    return next((text for text in (heard.text, *heard.alternatives)
                 if text and not spoken.asks(text) and understood(text)), None)


class TranscriptionService:
    """Utterances in, SPEECH_DETECTED or AMBIENT_SPEECH_DETECTED out.

    ``utterances`` (bounded; the listener waits when full) are transcribed in
    order. ``pauses`` (two at most, dropped when busy) start an early
    transcript at a pause: when the utterance does end there, its transcript is
    (nearly) ready. At a short pause, ``judge`` decides whether the utterance
    ends there (a command; with a turn model, a finished turn). Addressing (wake
    phrase, follow-up window) is decided here.
    """

    def __init__(self, bus: Bus, transcriber: Transcriber, wake: WakeConfig, *,
                 is_command: Callable[[str], bool] | None = None,
                 settle: Callable[[int, Verdict], bool] | None = None, turns: TurnModel | None = None,
                 aside: Callable[[int, str, bool], bool] | None = None, held: Callable[[int], bool] | None = None,
                 missed: Callable[[str], bool] | None = None, understood: Callable[[str], bool] | None = None,
                 room: str = "", spoke: Callable[[int], bool] | None = None):
        """``settle(utterance_id, verdict)``: the endpointer acts on a judgement at a
        short pause; for END it ends the utterance there and says True (False when
        the user spoke on or it ended already). ``is_command``: a command heard at
        the pause ends it; ``turns``: the turn model (vad.turn: model).
        ``aside(utterance_id, text, hum)``: True when the words are no turn: said over
        a paused reply, "mm-hmm" lets it go on. ``text`` is "" when there were no
        words, or none addressed to the coach. An aside is AMBIENT_SPEECH_DETECTED.
        ``held(utterance_id)``: a paused reply waits on the utterance's words (then
        words that are no backchannel are heard again as a possible hum).
        ``missed(text)``: the words may be a command misheard (no command, no
        question); the audio is then heard again prompted with commands
        (``COMMAND_PROMPT``), and those words stand if ``understood(words)``.
        ``asking`` (set once the coaching is made): while the coach waits on an
        answer (the interview), words are an answer, not heard again as a command,
        and one that may be misheard is heard again after the question.
        ``room``: the satellite this microphone is (SPEECH_DETECTED's ``room``);
        ``spoke(turn)``: the turn was spoken in this room (its follow-up window
        opens; None: every turn is)."""
        self.bus = bus
        self.is_command = is_command
        self.settle = settle
        self.turns = turns
        self.aside = aside
        self.held = held
        self.missed = missed
        self.understood = understood
        self.asking: Asking | None = None
        self.transcriber = transcriber
        self.wake = wake  # a reload may replace it
        self.utterances: asyncio.Queue[Segment] = asyncio.Queue(maxsize=UTTERANCE_QUEUE)
        self.pauses: asyncio.Queue[Pause] = asyncio.Queue(maxsize=2)
        self._early: dict[tuple[int, int], asyncio.Future[Transcript]] = {}
        # (utterance, voice mark) -> the witnesses of a prepared judgement, or what raised
        self._prepared: tuple[tuple[int, int], tuple[Transcript | None, float] | Exception | None] = ((0, 0), None)
        self.room = room
        self.spoke = spoke
        self.last_spoke_at: float | None = None
        bus.on(EventName.SPEAKING_FINISHED, self._on_spoke)

    def _on_spoke(self, event: SpeakingFinished) -> None:
        if self.spoke is None or self.spoke(event.turn_id):
            self.last_spoke_at = time.time()

    def pause(self, pause: Pause) -> None:
        # A pause still waiting is stale once the voice came back after it: its audio
        # is only a prefix of the utterance. Dropped, so the newest is looked at next.
        waiting = [self.pauses.get_nowait() for _ in range(self.pauses.qsize())]
        for old in waiting:
            if old.utterance_id == pause.utterance_id and len(old.audio) < len(pause.audio):
                continue
            self.pauses.put_nowait(old)
        try:
            self.pauses.put_nowait(pause)
        except asyncio.QueueFull:
            pass  # an early transcript is an optimisation: skipped when busy

    async def run(self) -> None:
        def report(segment: Segment, err: Exception) -> None:
            self.bus.error("stt", err, turn_id=segment.utterance_id)

        await queue_worker(self.utterances, self._transcribe, report)

    async def run_early(self) -> None:
        while True:
            pause = await self.pauses.get()
            if isinstance(pause, Prepare):
                await self.prepare(pause)
            elif isinstance(pause, Judge):
                await self.judge(pause)
            elif isinstance(pause, CommandPause):
                await self._command(pause)
            else:
                await self._early_transcript(pause)

    def _forget_older(self, utterance_id: int) -> None:
        for key in [k for k in self._early if k[0] < utterance_id]:
            self._early.pop(key).cancel()  # older utterances: never claimed

    async def _early_transcript(self, pause: Pause) -> Transcript | None:
        """Transcribe ``pause.audio`` now; the utterance's Segment claims it if it ends
        with exactly this audio. None when it failed (the Segment's claim raises)."""
        self._forget_older(pause.utterance_id)
        future: asyncio.Future[Transcript] = asyncio.get_running_loop().create_future()
        self._early[(pause.utterance_id, len(pause.audio))] = future
        try:
            future.set_result(await self.transcriber.transcribe(pause.audio))
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as err:
            future.set_exception(err)
            future.exception()  # reported by whoever claims it, or by nobody
            return None
        return future.result()

    async def _command(self, pause: CommandPause) -> None:
        """At a short pause: if the words so far are a whole command, the utterance
        ends here and is answered now, not after the full end-of-speech silence."""
        if self.is_command is None or self.settle is None:
            return
        try:
            transcript = await self.transcriber.transcribe(pause.audio, short=True)
        except Exception as err:  # the regular path transcribes it again
            logger.debug("stt: command check failed: %s", err)
            return
        if not transcript.text or not self.is_command(transcript.text):
            logger.debug("stt: not a command at a pause: %r (%.0f ms)", transcript.text, transcript.stt_ms)
            return
        reason = addressed_reason(transcript.text, time.time(), self.last_spoke_at, self.wake)
        if reason and self.settle(pause.utterance_id, Verdict.END):
            logger.info("heard a command (%s): %s", reason, transcript.text)
            self._emit(pause.utterance_id, transcript, pause.audio, pause.ended_at, pause.end_s, pause.silence_ms)

    async def _witnesses(self, pause: Pause) -> tuple[Transcript | None, float]:
        """The transcript of the audio so far (whisper's short window) and the turn
        model's probability, side by side in two threads. The transcript is None when
        it failed; the model's failure raises."""
        assert self.turns is not None
        probability = asyncio.create_task(asyncio.to_thread(self.turns.probability, pause.audio))
        try:
            transcript = await self.transcriber.transcribe(pause.audio, short=True)
        except asyncio.CancelledError:
            probability.cancel()
            raise
        except Exception as err:
            logger.debug("stt: transcript at a pause failed: %s", err)
            transcript = None
        return transcript, await probability

    async def prepare(self, pause: Prepare) -> None:
        """At ``PREPARE_MS`` of silence: the judgement's work starts, so it is ready
        when the pause is long enough to be judged (kept for that pause only)."""
        if self.turns is None:
            return
        try:
            result: tuple[Transcript | None, float] | Exception = await self._witnesses(pause)
        except Exception as err:  # judge() meets it again and reports it
            result = err
        self._prepared = ((pause.utterance_id, pause.voice_mark), result)

    async def judge(self, pause: Judge) -> Verdict | None:
        """Has the user finished? The witnesses (prepared at a shorter pause with no
        voice since, or now). A command or a finished turn ends the utterance here;
        otherwise the endpointer is told how much more silence to wait for, and the
        transcript waits for the utterance's end, claimed if the voice does not come
        back. None when nothing was judged (the utterance ends on the fixed silence)."""
        if self.turns is None or self.settle is None:
            return None
        key, prepared = self._prepared
        self._prepared = ((0, 0), None)
        try:
            if key != (pause.utterance_id, pause.voice_mark) or prepared is None:
                prepared = await self._witnesses(pause)
            if isinstance(prepared, Exception):
                raise prepared
            transcript, chance = prepared
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the turn model failed: the utterance ends on the fixed silence
            self.bus.error("turn", f"vad.turn_model: {type(err).__name__}: {err}", turn_id=pause.utterance_id)
            self.settle(pause.utterance_id, Verdict.WAIT)
            return None
        if transcript is None:
            self.settle(pause.utterance_id, Verdict.WAIT)
            return None
        # before the claim: a claimed utterance whose voice comes back is taken back by its turn
        transcript = await self._heard(pause.utterance_id, transcript, pause.audio, pause.lead)
        command = self.is_command is not None and bool(transcript.text) and self.is_command(transcript.text)
        verdict = Verdict.END if command else judge(chance, transcript.text)
        logger.debug("turn %d at %d ms: %s (p=%.2f, %r)", pause.utterance_id, pause.silence_ms, verdict.value,
                     chance, transcript.text)
        if self.settle(pause.utterance_id, verdict):
            if transcript.text:
                transcript = await self._again(transcript, pause.audio)
                self._emit(pause.utterance_id, transcript, pause.audio, pause.ended_at, pause.end_s,
                           pause.silence_ms)
            elif self.aside is not None:
                self.aside(pause.utterance_id, "", False)
            return verdict
        # The utterance goes on: if it ends with exactly this audio, this transcript is its own.
        self._forget_older(pause.utterance_id)
        done: asyncio.Future[Transcript] = asyncio.get_running_loop().create_future()
        done.set_result(transcript)
        self._early[(pause.utterance_id, len(pause.audio))] = done
        return verdict

    def _emit(self, utterance_id: int, transcript: Transcript, audio: np.ndarray, ended_at: float, end_s: float,
              silence_ms: int) -> None:
        """SPEECH_DETECTED or, not addressed, AMBIENT_SPEECH_DETECTED. A hum heard
        again is never a turn, even if the reply went on meanwhile."""
        duration = round(len(audio) / SAMPLE_RATE, 3)
        reason = addressed_reason(transcript.text, time.time(), self.last_spoke_at, self.wake)
        aside = self.aside is not None and self.aside(utterance_id, transcript.text if reason else "",
                                                      bool(transcript.hum))
        if aside or transcript.hum:
            reason = None
        logger.info("heard (%s): %s", reason or "ambient", transcript.text)
        if reason:
            self.bus.emit(SpeechDetected(utterance_id, transcript.text, reason, duration, ended_at,
                                         round(transcript.stt_ms, 1), round(end_s, 3), silence_ms, self.room))
        else:
            self.bus.emit(AmbientSpeechDetected(utterance_id, transcript.text, duration, ended_at,
                                                round(transcript.stt_ms, 1), self.room))

    async def _heard(self, utterance_id: int, transcript: Transcript, audio: np.ndarray, lead: int) -> Transcript:
        """Words said over a paused reply that are no backchannel, heard again
        prompted with hums and without the ``lead`` samples of pre-roll (the coach's
        echo before the user's voice): whisper guesses words for a hum it does not
        expect ("I am them..." for "mm hmm"), so a backchannel heard this way is
        one; otherwise the first words stand (the prompt makes short commands no
        better). Any other transcript is returned as it is."""
        if self.held is None or transcript.hum is not None or not transcript.text \
                or is_backchannel(transcript.text) or not self.held(utterance_id) \
                or not addressed_reason(transcript.text, time.time(), self.last_spoke_at, self.wake):
            return transcript
        try:
            again = await self.transcriber.transcribe(audio[lead:], short=True, aside=True)
        except Exception as err:  # the words heard first stand
            logger.debug("stt: an aside heard again failed: %s", err)
            return replace(transcript, hum=False)
        if not is_backchannel(again.text, prompted=True):
            logger.info("stt: %r over the paused reply, heard again: %r", transcript.text, again.text)
            return replace(transcript, hum=False)
        logger.info("stt: %r over the paused reply is a hum: %r", transcript.text, again.text)
        return Transcript(again.text, transcript.stt_ms + again.stt_ms, hum=True)

    async def join(self) -> None:
        await self.utterances.join()

    async def _transcribe(self, segment: Segment) -> None:
        early = self._early.pop((segment.utterance_id, len(segment.audio)), None)
        if early is not None and not early.cancelled():
            transcript = await early  # the same audio, already (being) transcribed
        else:
            transcript = await self.transcriber.transcribe(segment.audio)
        if not transcript.text:
            logger.info("utterance %d: no words (%.1f s of audio)", segment.utterance_id,
                        len(segment.audio) / SAMPLE_RATE)
            if self.aside is not None:
                self.aside(segment.utterance_id, "", False)
            return
        transcript = await self._heard(segment.utterance_id, transcript, segment.audio, segment.lead)
        transcript = await self._again(transcript, segment.audio)
        self._emit(segment.utterance_id, transcript, segment.audio, segment.ended_at, segment.end_s,
                   segment.silence_ms)

    async def _again(self, transcript: Transcript, audio: np.ndarray) -> Transcript:
        """Words heard again before they are a turn: while the coach waits on an
        answer (``asking``), one that may be misheard; otherwise a command missed."""
        asking = self.asking
        question = asking.question() if asking is not None and not transcript.hum else None
        if asking is None or question is None:
            return await self._as_command(transcript, audio)
        if asking.doubted(transcript.text):
            return await self._as_answer(transcript, audio, asking, question)
        return transcript

    async def _as_answer(self, transcript: Transcript, audio: np.ndarray, asking: Asking,
                         question: str) -> Transcript:
        """An answer to the coach's ``question`` that may be misheard ("Call me
        send."), heard again after it (whisper's prompt); of the readings whisper
        weighed (``ANSWER_READINGS``), the one ``asking`` chose stands ("Call me
        Sam."), else the words heard first."""
        try:
            again = await self.transcriber.transcribe(audio, short=True, prompt=question, readings=ANSWER_READINGS)
        except Exception as err:  # the words heard first stand
            logger.debug("stt: an answer heard again failed: %s", err)
            return transcript
        if asking.question() != question:  # answered meanwhile (another room, typed)
            return transcript
        if (chosen := asking.chosen((again.text, *again.alternatives))) is None:
            logger.debug("stt: %r heard again as %r: no likelier answer", transcript.text,
                         (again.text, *again.alternatives))
            return transcript
        logger.info("stt: %r heard again after %r: %r", transcript.text, question, chosen)
        return replace(transcript, text=chosen, stt_ms=transcript.stt_ms + again.stt_ms)

    async def _as_command(self, transcript: Transcript, audio: np.ndarray) -> Transcript:
        """Words that may be a command misheard ("Start a tab out of it.", "Plug
        squats."), heard again prompted with commands; of the readings whisper
        weighed (``COMMAND_READINGS``), the likeliest that is a command and no
        question stands ("Let's start a Tabata.", "Log squats.")."""
        if self.missed is None or self.understood is None or transcript.hum or not self.missed(transcript.text):
            return transcript
        try:
            again = await self.transcriber.transcribe(audio, short=True, prompt=COMMAND_PROMPT,
                                                      readings=COMMAND_READINGS)
        except Exception as err:  # the words heard first stand
            logger.debug("stt: a command heard again failed: %s", err)
            return transcript
        command = a_command(again, self.understood)
        if command is None:
            logger.debug("stt: %r heard again as %r: no command either", transcript.text,
                         (again.text, *again.alternatives))
            return transcript
        logger.info("stt: %r heard again as a command: %r", transcript.text, command)
        return replace(transcript, text=command, stt_ms=transcript.stt_ms + again.stt_ms)
