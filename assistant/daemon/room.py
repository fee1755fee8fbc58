"""One room of the coach: a microphone and a speaker (the machine's own, a file,
or a Wyoming satellite's) with everything that hears and speaks there, while
the coach itself (the model, the skills, the memory, the log, the timers) is
one for every room (``app.Assistant``).

    source -> frame queue -> endpointer -> utterance queue -> transcriber
      -> SPEECH_DETECTED (room) ... RESPONSE_* -> this room's TtsService -> sink

A question in one room cuts only that room's reply; every other room's turns
are passed over by this room's voice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from assistant.audio.capture import Frame, MicSource
from assistant.audio.echo import EchoCanceller
from assistant.audio.levels import frame_db
from assistant.core.bus import Bus
from assistant.core.config import Settings, VadConfig
from assistant.core.errors import AudioError
from assistant.core.events import Listening, SpeechStarted
from assistant.core.notify import notify
from assistant.core.seams import AudioSink, AudioSource
from assistant.daemon.barge_in import BargeIn
from assistant.daemon.parts import Models
from assistant.listen.echo_gate import EchoGate
from assistant.listen.transcription import TranscriptionService
from assistant.listen.turn import Verdict
from assistant.listen.utterances import Judge, Onset, Pause, Prepare, Segment
from assistant.listen.vad import Endpointer
from assistant.llm.service import LLMService
from assistant.skills import understanding
from assistant.skills.router import is_command
from assistant.skills.timers import TimerService
from assistant.skills.timing import THINKING
from assistant.skills.understanding import Dialogue
from assistant.speech.tts import TtsService

if TYPE_CHECKING:
    from assistant.remote.satellite import Satellite

logger = logging.getLogger(__name__)

HALF_DUPLEX_TAIL_S = 0.3  # after the coach stops, the room still rings this long


class Room:
    def __init__(self, name: str, settings: Settings, models: Models, sink: AudioSink, bus: Bus, llm: LLMService,
                 timers: TimerService, *, live: bool, wall: bool, home: bool = True,
                 satellite: Satellite | None = None):
        """``name``: the satellite's ("" for the daemon's own microphone or a file);
        ``home``: this room also speaks the turns of no room (typed, the coach's
        openings). ``live``: a person talks now (a new utterance cuts the room's
        reply). ``wall``: commands are answered at a short pause (from a file on the
        stream clock, the same file must give the same result on every run)."""
        self.name, self.settings, self.bus, self.llm, self.timers = name, settings, bus, llm, timers
        self.sink = sink
        self.live, self.home = live, home
        self.satellite = satellite
        self.label = ""
        self.ready = False
        self._served = 0  # the satellite's connection LISTENING was said for
        self.tts = TtsService(bus, models.synthesizer, sink, settings.tts.sentence_pause_ms, models.phrases,
                              THINKING, settings.tts.thinking_cue_ms if live else 0, models.foreground,
                              room=name, home=home, ahead=models.ahead.get if models.ahead and live else None)
        self.echo = EchoGate()
        self.barge_in = BargeIn(self.tts, lambda: llm.cut(room=name), self.echo)
        self.stt = TranscriptionService(bus, models.transcriber, settings.wake,
                                        is_command=is_command if wall else None, settle=self._settle_turn,
                                        turns=models.turns if settings.vad.turn == "model" else None,
                                        aside=self.barge_in.aside if live else None,
                                        held=self.barge_in.holding_for if live else None,
                                        missed=understanding.missed if settings.stt.commands_again else None,
                                        understood=lambda text: understanding.understand(text) is not None,
                                        room=name, spoke=(lambda turn: turn in self.tts.spoke) if name else None)
        self.endpointer = self.new_endpointer(settings.vad)
        self._muted = False  # half-duplex: the coach is talking, the microphone is not listened to
        self.canceller = self._canceller() if live else None
        self.mic: MicSource | None = None  # set by tasks(): told when to hand over every block
        self.keep_speaker_clock()
        self.dialogue = Dialogue()  # a question asked back waits for this room's answer
        self.frames: asyncio.Queue[Frame | None] = asyncio.Queue(maxsize=settings.audio.queue_frames)
        llm.on_cut(self.tts.interrupt, name)  # a cut reply stops sounding, whoever cuts it
        llm.on_withdraw(self.tts.withdraw, name)
        self.tts.initialize()

    def lost(self) -> None:
        """Its microphone or speaker went: LISTENING again once both work."""
        self.ready = False

    def _now_ready(self) -> bool:
        """Models loaded and audio flowing both ways, since the last LISTENING (a
        satellite that came back is a new connection)."""
        if self.satellite is not None and self.satellite.connections != self._served:
            self.ready = False
        if self.ready or not self.sink.ready():
            return False
        self.ready = True
        self._served = self.satellite.connections if self.satellite is not None else 0
        return True

    async def listen(self) -> None:
        """Frames -> endpointer -> utterances, until the source ends (None). On the
        stream clock, the frames drive the timers, and each utterance is routed
        before the clock moves on (a timer starts where it was asked for). The home
        room's frames are the stream clock."""
        frame_s = self.settings.vad.frame_ms / 1000
        stream_s = 0.0
        while True:
            frame = await self.frames.get()
            if frame is not None and not self.timers.wall and self.home:
                stream_s += frame_s
                await self.timers.advance(stream_s)
            barge_in = self.settings.audio.barge_in  # a SIGHUP may change it
            if self._now_ready():
                notify("READY=1", f"STATUS=listening on {self.label}")
                self.bus.emit(Listening(self.label))
            if frame is None:
                found: list[Onset | Pause | Segment] = list(self.endpointer.flush())
            else:
                echo, samples = None, frame.samples
                speaking = self.live and self.sink.speaking(HALF_DUPLEX_TAIL_S)
                detect = None
                if self.canceller is not None:  # every frame, so it keeps count
                    stretch = self.sink.started_at if speaking and self.settings.audio.cancels_echo else None
                    moved = self.canceller.realigned
                    samples, detect = self.canceller.process(samples, frame.at, stretch)
                    if self.canceller.realigned != moved and self.settings.audio.cancels_echo:
                        # the echo path moved under the filter: the gate learns what it leaves again (half-duplex,
                        # the gate hears the room itself, which did not move: a voice would be learnt as echo)
                        self.echo.relearn(time.monotonic())
                resume_only = speaking and not barge_in
                if speaking:
                    user = self.endpointer.holding or self.endpointer.in_speech  # their voice may be in the frame
                    # with barge-in, or (half-duplex) while a turn claimed at a short pause may yet go on; half-duplex
                    # (no canceller) the room's coupling holds across replies, so every reply teaches it
                    if detect is None:
                        heard, raw, words = frame_db(samples), None, None
                    else:  # AEC3's output tells the voice; SpeexDSP's and the microphone's check it is no echo
                        heard, raw, words = frame_db(detect), frame_db(frame.samples), frame_db(samples)
                    echo = self.echo.threshold(time.monotonic(), self.sink.started_at, self.sink.recent_level_db(),
                                               heard, raw, resume_only and user, words,
                                               self.canceller is not None and self.canceller.settled)
                    if resume_only and not user:
                        # half-duplex: deaf while the coach speaks, but for a claimed turn going on
                        self._muted = True
                        continue
                elif self._muted:
                    self._muted = False
                    self.endpointer.reset()
                found = self.endpointer.process(samples, frame.at, echo, detect, resume_only)
                if self.mic is not None:
                    self.mic.eager = speaking or self.endpointer.in_speech or self.endpointer.holding
                self.barge_in.frame(self.endpointer)
            for item in found:
                if isinstance(item, Judge | Prepare) and not self.timers.wall:
                    if isinstance(item, Judge):  # on the stream clock: judged where it happened
                        await self.stt.judge(item)
                elif isinstance(item, Pause):
                    self.stt.pause(item)
                elif isinstance(item, Onset):
                    self.bus.emit(SpeechStarted(item.utterance_id, round(item.stream_s, 3)))
                    if self.live and barge_in and self.sink.speaking() and not item.resumes:
                        self.barge_in.begin(item.utterance_id)
                else:
                    await self.stt.utterances.put(item)
                    if not self.timers.wall:
                        await self.stt.join()
            if frame is None:
                return

    def tasks(self, group: asyncio.TaskGroup, source: AudioSource) -> tuple[list[asyncio.Task[None]], asyncio.Task]:
        """Its workers in ``group``, and the task that feeds its microphone."""
        self.label = source.label
        self.mic = source if isinstance(source, MicSource) else None
        suffix = f"-{self.name}" if self.name else ""
        workers = [group.create_task(self.stt.run(), name=f"stt{suffix}"),
                   group.create_task(self.stt.run_early(), name=f"stt-early{suffix}"),
                   group.create_task(self.tts.run(), name=f"tts{suffix}"),
                   group.create_task(self.sink.run(), name=f"speaker{suffix}")]
        return workers, group.create_task(source.run(self.frames), name=f"source{suffix}")

    def keep_speaker_clock(self) -> None:
        """Barge-in on: the speaker's stream never parks, the canceller counts on its clock."""
        if self.sink.far is not None:
            self.sink.far.steady = self.settings.audio.cancels_echo

    def _canceller(self) -> EchoCanceller | None:
        if self.sink.far is None:
            return None
        try:
            return EchoCanceller(self.sink.far)
        except AudioError as err:  # barge-in still works, on the level gate alone
            logger.warning("%s; barge-in falls back to the level gate", err)
            return None

    def new_endpointer(self, cfg: VadConfig) -> Endpointer:
        return Endpointer(cfg, new_id=self.bus.new_turn_id, retract=self._retract if self.live else None)

    def reconfigure(self, settings: Settings) -> None:
        self.settings = settings
        self.keep_speaker_clock()
        self.stt.wake = settings.wake
        if not self.endpointer.in_speech:
            self.endpointer = self.new_endpointer(settings.vad)

    def _settle_turn(self, utterance_id: int, verdict: Verdict) -> bool:
        """A judgement at a short pause: END ends the utterance there (True if it did); else the silence it needs."""
        if verdict is Verdict.END:
            return self.endpointer.claim(utterance_id)
        vad = self.settings.vad
        self.endpointer.wait(utterance_id, vad.end_silence_ms if verdict is Verdict.WAIT else vad.max_silence_ms)
        return False

    def _retract(self, utterance_id: int) -> bool:
        """The user spoke on after a turn ended at a short pause: withdraw its reply
        if none of it has been heard (half-duplex, also one just begun: nothing else
        would hear the rest); the utterance then continues."""
        if not self.llm.retract(utterance_id, heard=not self.settings.audio.barge_in, room=self.name):
            logger.debug("turn %d goes on being answered: the user spoke on too late", utterance_id)
            return False
        logger.info("turn %d withdrawn: the user went on speaking", utterance_id)
        return True

    async def drain(self) -> None:
        await self.stt.join()

    async def quiet(self) -> None:
        await self.tts.join()
