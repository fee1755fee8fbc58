"""The daemon: loads the models once, wires the stages to the bus, and owns every
long-lived task in one TaskGroup.

    source -> frame queue -> endpointer -> utterance queue -> transcriber
      -> SPEECH_DETECTED -> LLMService -> RESPONSE_* -> TtsService -> sink
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from assistant import __version__
from assistant.audio.capture import Frame
from assistant.audio.devices import DEVICE_SOURCES
from assistant.audio.echo import EchoCanceller
from assistant.audio.levels import frame_db
from assistant.core.bus import Bus
from assistant.core.config import Settings, VadConfig, load_settings
from assistant.core.errors import AudioError, ConfigError
from assistant.core.events import (
    ErrorOccurred,
    EventName,
    Listening,
    SpeechDetected,
    SpeechStarted,
    SystemStarted,
    SystemStopped,
)
from assistant.core.notify import notify, watchdog_interval
from assistant.core.seams import AudioSink, AudioSource
from assistant.daemon.barge_in import BargeIn
from assistant.daemon.parts import Models
from assistant.daemon.reload import applicable
from assistant.daemon.status import StatusApi
from assistant.listen.echo_gate import EchoGate
from assistant.listen.transcription import TranscriptionService
from assistant.listen.turn import Verdict
from assistant.listen.utterances import Judge, Onset, Pause, Prepare, Segment
from assistant.listen.vad import Endpointer
from assistant.llm.grounding import knowledge
from assistant.llm.service import LLMService, SkillReply
from assistant.skills import opinion, understanding
from assistant.skills.auto_memory import AutoMemory
from assistant.skills.coaching import Coaching
from assistant.skills.notebook import Notebook
from assistant.skills.planning import Leader
from assistant.skills.router import is_command
from assistant.skills.timers import TimerService
from assistant.skills.timing import THINKING
from assistant.skills.understanding import TIMER_COMMANDS, AskBack, Command, Dialogue, StartWorkout, skill
from assistant.speech.tts import TtsService
from assistant.store.history import HistoryStore

logger = logging.getLogger(__name__)

HALF_DUPLEX_TAIL_S = 0.3  # after the coach stops, the room still rings this long



class Assistant:
    def __init__(
        self,
        settings: Settings,
        models: Models,
        sink: AudioSink,
        *,
        live: bool,
        bus: Bus | None = None,
        config_path: Path | None = None,
        status_api: StatusApi | None = None,
        wall_clock: bool | None = None,
        interview: bool = False,
    ):
        """``live``: a person is talking now, so a new utterance cancels the reply in
        flight; from a file every utterance is answered in turn. ``config_path`` is
        re-read on SIGHUP. ``wall_clock``: timers keep real time (default: when
        live; a file fed with --realtime too); otherwise they keep the file's time.
        ``interview``: open with the coach-creator interview (``assistant onboard``)."""
        self.settings = settings
        self.bus = bus or Bus()
        self.models = models
        self.sink = sink
        self.live = live
        self.store = HistoryStore(settings.history.path, settings.history.retention_turns)
        self.llm = LLMService(
            config=settings.llm, bus=self.bus, embedded=models.embedded, interrupt=live,
            persona=settings.persona, store=self.store,
        )
        resumed = self.llm.resume(settings.history.resume_turns)
        if resumed:
            logger.info("resuming the conversation from %d stored turns (%s)", resumed, self.store.path)
        self.config_path = config_path
        self.stop_reason = "finished"
        self._control: asyncio.Queue[str] = asyncio.Queue(maxsize=8)
        self._ready = False
        self.source_label = ""
        self.status_api = status_api
        wall = live if wall_clock is None else wall_clock
        self.tts = TtsService(self.bus, models.synthesizer, sink, settings.tts.sentence_pause_ms, models.phrases,
                              THINKING, settings.tts.thinking_cue_ms if live else 0, models.foreground)
        self.echo = EchoGate()
        self.barge_in = BargeIn(self.tts, self.llm.cut, self.echo)
        # Commands are answered at a short pause, except from a file on the stream
        # clock, where the same file must give the same result on every run.
        self.stt = TranscriptionService(self.bus, models.transcriber, settings.wake,
                                        is_command=is_command if wall else None, settle=self._settle_turn,
                                        turns=models.turns if settings.vad.turn == "model" else None,
                                        aside=self.barge_in.aside if live else None,
                                        held=self.barge_in.holding_for if live else None,
                                        missed=understanding.missed if settings.stt.commands_again else None,
                                        understood=lambda text: understanding.understand(text) is not None)
        self.endpointer = self._endpointer(settings.vad)
        self._muted = False  # half-duplex: the coach is talking, the microphone is not listened to
        self.canceller = self._canceller() if live else None
        self._keep_speaker_clock()
        self.dialogue, self.remote_dialogue = Dialogue(), Dialogue()  # the room's, and the Wyoming peers'
        self.frames: asyncio.Queue[Frame | None] = asyncio.Queue(maxsize=settings.audio.queue_frames)
        self.timers = TimerService(self.bus, models.synthesizer, sink, self.store, wall=wall, settle=self._settle,
                                   phrases=models.phrases)
        self.timers.restore()
        self.notebook = Notebook(settings.history.path)
        self.coaching = Coaching(self.bus, self.notebook, last_session=lambda: self.timers.last_finished)
        self.leader = Leader(self.coaching.planner, self.coaching.log_quietly, self.coaching.failed, self.timers,
                             settings.training)
        self.llm.skill, self.llm.second_opinion = self._skill, self._second_opinion
        self.llm.prompter.knowledge = knowledge() if settings.llm.knowledge else None
        self.coaching.inform(self.llm.prompter)
        self.coaching.proposer = lambda: self.llm if self.llm.backends else None  # a plan from a server model
        self.auto_memory = AutoMemory(self.bus, self.llm, self.coaching) if settings.memory.auto else None
        self.interview = interview  # start the interview at once (assistant onboard)
        self.llm.initialize()
        self.llm.on_cut(self.tts.interrupt)  # a cut reply stops sounding, whoever cuts it
        self.llm.on_withdraw(self.tts.withdraw)
        self.bus.on(EventName.ERROR_OCCURRED, self._device_fault)
        self.tts.initialize()

    def _device_fault(self, event: ErrorOccurred) -> None:
        """A microphone or speaker lost: LISTENING again once both work (each reopens with backoff)."""
        if event.source in DEVICE_SOURCES and self._ready:
            self._ready = False
            notify(f"STATUS=audio device lost ({event.source}), reopening")

    async def listen(self) -> None:
        """Frames -> endpointer -> utterances, until the source ends (None). On the
        stream clock, the frames drive the timers, and each utterance is routed
        before the clock moves on (a timer starts where it was asked for)."""
        frame_s = self.settings.vad.frame_ms / 1000
        stream_s = 0.0
        while True:
            frame = await self.frames.get()
            if frame is not None and not self.timers.wall:
                stream_s += frame_s
                await self.timers.advance(stream_s)
            barge_in = self.settings.audio.barge_in  # a SIGHUP may change it
            if not self._ready and self.sink.ready():  # models loaded, audio flowing both ways
                self._ready = True
                notify("READY=1", f"STATUS=listening on {self.source_label}")
                self.bus.emit(Listening(self.source_label))
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
                    if self.canceller.realigned != moved:  # the echo path moved: the gate learns it again
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
                                               self.canceller is not None and self.canceller.converged)
                    if resume_only and not user:
                        # half-duplex: deaf while the coach speaks, but for a claimed turn going on
                        self._muted = True
                        continue
                elif self._muted:
                    self._muted = False
                    self.endpointer.reset()
                found = self.endpointer.process(samples, frame.at, echo, detect, resume_only)
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

    def _keep_speaker_clock(self) -> None:
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

    def _skill(self, event: SpeechDetected) -> SkillReply | None:
        """The skills in turn (the interview takes every utterance while it runs): (skill, reply)
        for a command, None for the model. A Wyoming peer's (remote) is none of the room's
        interview, session or question asked back."""
        room = event.reason != "remote"
        if room and (answer := self.coaching.interviewing(event)) is not None:
            return answer
        dialogue = self.dialogue if room else self.remote_dialogue
        if room and dialogue.asked is None and (reply := self.leader.hear(event)) is not None:  # "done", "only six"
            return "session", reply
        command = dialogue.understand(event.text)
        if command is None:
            return None
        if isinstance(command, AskBack):  # "For how long?": the next utterance may answer it
            return skill(command), command.question
        return self._carry_out(event, command)

    def _carry_out(self, event: SpeechDetected, command: Command) -> SkillReply | None:
        if isinstance(command, TIMER_COMMANDS):
            return "timers", self.timers.answer(event, command)
        if isinstance(command, StartWorkout):
            return "session", self.leader.start(event.utterance_id)
        return self.coaching.answer(event, command)

    async def _second_opinion(self, event: SpeechDetected) -> SkillReply | None:
        """An utterance no skill took that looks like a command ("Wadded 225 pounds for three"): a server
        model's reading (``opinion``), carried out when the words support it; else None (the model answers)."""
        command, why = await opinion.ask(self.llm, event.text)
        if why:
            logger.info("second opinion on %r: %s", event.text, why)
        return self._carry_out(event, command) if command is not None else None

    def _greet(self) -> None:
        """At start: the interview's opening (onboard), or, live, its offer once."""
        if self.interview:
            self.llm.announce("interview", self.coaching.start_interview())
        elif (resumed := self.leader.restore()) is not None:
            self.llm.announce("session", resumed)
        elif self.live and (offer := self.coaching.offer()) is not None:
            self.llm.announce("interview", offer)

    def _endpointer(self, cfg: VadConfig) -> Endpointer:
        return Endpointer(cfg, new_id=self.bus.new_turn_id, retract=self._retract if self.live else None)

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
        if not self.llm.retract(utterance_id, heard=not self.settings.audio.barge_in):
            return False
        logger.info("turn %d withdrawn: the user went on speaking", utterance_id)
        return True

    async def _settle(self) -> None:
        """Every utterance heard so far answered and written (the stream clock's timers
        wait for this before a cue)."""
        await self.llm.join()
        await self.tts.join()

    async def drain(self) -> None:
        """Wait until every utterance is transcribed, answered and spoken."""
        await self.stt.join()
        await self.llm.join()
        await self.tts.join()
        if self.auto_memory is not None:
            await self.auto_memory.join()
        await self.timers.finish()
        await self.sink.drain()
        await self.bus.wait_for_complete()
        await asyncio.to_thread(self.store.flush, 5.0)

    def request(self, what: str) -> None:
        """From a signal handler: "reload" the config."""
        try:
            self._control.put_nowait(what)
        except asyncio.QueueFull:
            pass  # reloads already waiting will read the same file

    async def control(self) -> None:
        while True:
            if await self._control.get() == "reload":
                self.reload()

    def reload(self) -> None:
        """Apply a changed config.yaml; a bad one is refused and the old one stays."""
        try:
            new = applicable(self.settings, load_settings(self.config_path))
        except ConfigError as err:
            self.bus.error("config", f"reload refused, keeping the running config: {err}")
            return
        self.settings = new
        self._keep_speaker_clock()
        self.llm.reconfigure(new.llm, new.persona)
        self.stt.wake = new.wake
        if not self.endpointer.in_speech:
            self.endpointer = self._endpointer(new.vad)
        logger.info("config reloaded from %s", self.config_path)
        notify("STATUS=config reloaded")

    async def watchdog(self, interval: float) -> None:
        """WATCHDOG=1 from the event loop itself: a stuck loop gets the service restarted."""
        while True:
            notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def run(self, source: AudioSource, *, until_source_ends: bool) -> None:
        self.source_label = source.label
        loop = asyncio.get_running_loop()

        def report(message: str) -> None:  # from the history writer's thread
            try:
                loop.call_soon_threadsafe(self.bus.error, "history", message)
            except RuntimeError:  # the loop has closed
                logger.error("history: %s", message)

        self.store.on_error = report
        self.bus.emit(SystemStarted(__version__, source.label, self.sink.label))
        self._greet()
        try:
            async with asyncio.TaskGroup() as group:
                workers = [
                    group.create_task(self.stt.run(), name="stt"),
                    group.create_task(self.stt.run_early(), name="stt-early"),
                    group.create_task(self.llm.run(), name="llm"),
                    group.create_task(self.tts.run(), name="tts"),
                ]
                group.create_task(self.llm.warm(), name="llm-warm")
                workers.append(group.create_task(self.timers.run(), name="timers"))
                workers.append(group.create_task(self.timers.prepare(), name="timer-cues"))
                workers.append(group.create_task(self.control(), name="control"))
                if self.auto_memory is not None:
                    workers.append(group.create_task(self.auto_memory.run(), name="memory-auto"))
                interval = watchdog_interval()
                if interval:
                    workers.append(group.create_task(self.watchdog(interval), name="watchdog"))
                if self.status_api is not None:
                    workers.append(group.create_task(self.status_api.serve(), name="status-api"))
                workers.append(group.create_task(self.sink.run(), name="speaker"))
                feeding = group.create_task(source.run(self.frames), name="source")
                await self.listen()
                await feeding
                if until_source_ends:
                    await self.drain()
                for task in workers:
                    task.cancel()
        except asyncio.CancelledError:
            if self.stop_reason == "finished":
                self.stop_reason = "cancelled"
            raise
        finally:
            notify("STOPPING=1", f"STATUS=stopping ({self.stop_reason})")
            self.sink.close()
            await self.llm.aclose()
            self.bus.emit(SystemStopped(self.stop_reason))
            await asyncio.to_thread(self.store.close)
            self.notebook.close()
