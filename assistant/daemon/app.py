"""The daemon: loads the models once, wires the stages to the bus, and owns every
long-lived task in one TaskGroup. One coach (the model, the skills, the memory,
the log, the timers) for every room (``room.Room``: a microphone and a speaker,
the machine's own or a satellite's, with the stages that hear and speak there).

    room: source -> frame queue -> endpointer -> utterance queue -> transcriber
      -> SPEECH_DETECTED -> LLMService -> RESPONSE_* -> the room's TtsService -> sink
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from assistant import __version__
from assistant.audio.devices import DEVICE_SOURCES
from assistant.core.bus import Bus
from assistant.core.config import Settings, load_settings
from assistant.core.errors import ConfigError
from assistant.core.events import (
    ErrorOccurred,
    EventName,
    SpeechDetected,
    SystemStarted,
    SystemStopped,
)
from assistant.core.notify import notify, watchdog_interval
from assistant.core.seams import AudioSink, AudioSource
from assistant.daemon.parts import Models
from assistant.daemon.reload import applicable
from assistant.daemon.room import Room
from assistant.daemon.status import StatusApi
from assistant.llm.grounding import answers_for, knowledge
from assistant.llm.service import LLMService, SkillReply
from assistant.skills import opinion
from assistant.skills.auto_memory import AutoMemory
from assistant.skills.coaching import Coaching
from assistant.skills.interview import Asking
from assistant.skills.notebook import Notebook
from assistant.skills.planning import Leader
from assistant.skills.timers import TimerService
from assistant.skills.understanding import TIMER_COMMANDS, AskBack, Command, Dialogue, StartWorkout, skill
from assistant.speech.ahead import ACTIVITY, QUIET_S
from assistant.speech.tts import TtsService
from assistant.store.history import HistoryStore

if TYPE_CHECKING:
    from assistant.remote.satellite import Satellite

logger = logging.getLogger(__name__)


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
        room: str = "",
        satellite: Satellite | None = None,
    ):
        """``live``: a person is talking now, so a new utterance cancels the reply in
        flight; from a file every utterance is answered in turn. ``config_path`` is
        re-read on SIGHUP. ``wall_clock``: timers keep real time (default: when
        live; a file fed with --realtime too); otherwise they keep the file's time.
        ``interview``: open with the coach-creator interview (``assistant onboard``).
        ``room``, ``satellite``: the home room's satellite (``satellites``), whose
        ``sink`` this is; ``add_room`` adds the others."""
        self.settings = settings
        self.bus = bus or Bus()
        self.models = models
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
        self.status_api = status_api
        wall = live if wall_clock is None else wall_clock
        self.timers = TimerService(self.bus, models.synthesizer, sink, self.store, wall=wall, settle=self._settle,
                                   phrases=models.phrases)
        self.llm.initialize()
        self.room = Room(room, settings, models, sink, self.bus, self.llm, self.timers, live=live, wall=wall,
                         satellite=satellite)
        self.rooms = [self.room]  # the first is home: typed questions and the coach's openings are said there
        self.llm.rooms.home = room
        self.timers.rooms(room, {room: sink})
        self.remote_dialogue = Dialogue()  # the Wyoming peers'
        self.timers.restore()
        self.notebook = Notebook(settings.history.path)
        self.coaching = Coaching(self.bus, self.notebook, last_session=lambda: self.timers.last_finished)
        self.leader = Leader(self.coaching.planner, self.coaching.log_quietly, self.coaching.failed, self.timers,
                             settings.training)
        self.llm.skill, self.llm.second_opinion = self._skill, self._second_opinion
        self.llm.prompter.knowledge = knowledge() if settings.llm.knowledge else None
        self.coaching.inform(self.llm.prompter)
        self._asking(self.room)
        self.coaching.proposer = lambda: self.llm if self.llm.backends else None  # a plan from a server model
        self.auto_memory = AutoMemory(self.bus, self.llm, self.coaching) if settings.memory.auto else None
        self.interview = interview  # start the interview at once (assistant onboard)
        self.bus.on(EventName.ERROR_OCCURRED, self._device_fault)
        self._active_at = time.monotonic()  # the last question, reply or timer: voicing ahead waits for quiet
        for name in ACTIVITY:
            self.bus.on(name, self._active)

    def add_room(self, name: str, sink: AudioSink, satellite: Satellite | None = None) -> Room:
        """Another satellite's room (before ``run``): its own voice, ears and conversation."""
        room = Room(name, self.settings, self.models, sink, self.bus, self.llm, self.timers, live=self.live,
                    wall=self.timers.wall, home=False, satellite=satellite)
        self.rooms.append(room)
        self.timers.sinks[name] = sink
        self._asking(room)
        return room

    def _asking(self, room: Room) -> None:
        """The room's ears know when the interview waits on an answer: no command
        is heard in it, and a name that is no given name is heard again
        (``TranscriptionService._as_answer``)."""
        room.stt.asking = Asking(lambda: self.coaching.interview)

    def _active(self, _event: object) -> None:
        self._active_at = time.monotonic()

    def _quiet(self) -> bool:
        """Nothing heard, said or timed for ``QUIET_S``: the voice may be used ahead."""
        return time.monotonic() - self._active_at >= QUIET_S and not self.timers.timers and not any(
            room.sink.speaking(1.0) or room.endpointer.in_speech or room.endpointer.holding for room in self.rooms)

    def _answers(self) -> list[str]:
        """Every answer the knowledge base would give this user (by name), the honest one first."""
        known = self.llm.prompter.knowledge.entries if self.llm.prompter.knowledge else ()
        return answers_for(known, self.llm.prompter.profile().get("name", ""))

    def _room(self, event: SpeechDetected) -> Room:
        return next((room for room in self.rooms if room.name == event.room), self.room)

    def _device_fault(self, event: ErrorOccurred) -> None:
        """A microphone or speaker lost: LISTENING again once both work (each reopens
        with backoff). A satellite's room says LISTENING again when it reconnects (``Room``)."""
        if event.source in DEVICE_SOURCES:
            notify(f"STATUS=audio device lost ({event.source}), reopening")
            for room in self.rooms:
                if room.ready and room.satellite is None:
                    room.lost()

    async def listen(self) -> None:
        """The home room's microphone, until its source ends (None)."""
        await self.room.listen()

    @property
    def tts(self) -> TtsService:
        return self.room.tts

    @property
    def sink(self) -> AudioSink:
        return self.room.sink

    def _skill(self, event: SpeechDetected) -> SkillReply | None:
        """The skills in turn (the interview takes every utterance while it runs): (skill, reply)
        for a command, None for the model. A Wyoming peer's (remote) is none of the room's
        interview, session or question asked back."""
        room = event.reason != "remote"
        if room and (answer := self.coaching.interviewing(event)) is not None:
            return answer
        dialogue = self._room(event).dialogue if room else self.remote_dialogue
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

    async def _settle(self) -> None:
        """Every utterance heard so far answered and written (the stream clock's timers
        wait for this before a cue)."""
        await self.llm.join()
        for room in self.rooms:
            await room.quiet()

    async def drain(self) -> None:
        """Wait until every utterance is transcribed, answered and spoken."""
        for room in self.rooms:
            await room.drain()
        await self.llm.join()
        for room in self.rooms:
            await room.quiet()
        if self.auto_memory is not None:
            await self.auto_memory.join()
        await self.timers.finish()
        for room in self.rooms:
            await room.sink.drain()
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
        self.llm.reconfigure(new.llm, new.persona)
        for room in self.rooms:
            room.reconfigure(new)
        logger.info("config reloaded from %s", self.config_path)
        notify("STATUS=config reloaded")

    async def watchdog(self, interval: float) -> None:
        """WATCHDOG=1 from the event loop itself: a stuck loop gets the service restarted."""
        while True:
            notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def run(self, source: AudioSource, *, until_source_ends: bool,
                  others: Sequence[AudioSource] = ()) -> None:
        """Until cancelled, or the home room's ``source`` ends (``until_source_ends``:
        then every reply is finished first); ``others``: the other rooms' sources,
        in ``add_room``'s order."""
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
                workers = [group.create_task(self.llm.run(), name="llm")]
                group.create_task(self.llm.warm(), name="llm-warm")
                if self.models.ahead is not None and self.live:
                    workers.append(group.create_task(self.models.ahead.run(self._answers, self._quiet),
                                                     name="voice-ahead"))
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
                feeding = None
                for room, feeds in zip(self.rooms, [source, *others], strict=True):
                    started, fed = room.tasks(group, feeds)
                    workers += started
                    if room is self.room:
                        feeding = fed
                    else:
                        workers += [fed, group.create_task(room.listen(), name=f"listen-{room.name}")]
                assert feeding is not None
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
            for room in self.rooms:
                room.sink.close()
            await self.llm.aclose()
            self.bus.emit(SystemStopped(self.stop_reason))
            await asyncio.to_thread(self.store.close)
            self.notebook.close()
