"""The timer skill: timers, reminders and interval sessions, spoken on time.

``answer`` is the skill's side of the router: LLMService calls it for every
addressed utterance, and a command (``router.route``) is carried out at once
and answered with a short confirmation; anything else returns None and goes to
the model.

Cues are synthesized when the timer is set (common ones at start-up), so at the
due time they only need to be handed to the sink: ``sink.cue`` puts them ahead
of a reply (a countdown at once, other cues at the next sentence boundary).

Two clocks. Live, and with ``--realtime``, timers run on the wall clock
(Unix s): the task ``run`` sleeps until the next cue, timers are stored in
SQLite with the history the moment they are set, and after a restart they
resume on their original schedule; cues that fell due while the daemon was
down are not played late, the coach says once what was missed. From a file,
timers run on the stream clock (seconds of audio consumed): ``advance`` is
called for every frame, and ``finish`` plays out what is left when the file
ends, so the result is the same on every run.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import numpy as np

from assistant.core.bus import Bus
from assistant.core.events import SpeechDetected, TimerCancelled, TimerCue, TimerFinished, TimerStarted, TimerUpdated
from assistant.core.seams import AudioSink, Synthesizer
from assistant.skills.router import Command, Control, StartSession, StartTimer
from assistant.skills.timing import ACK, COUNTDOWN, Cue, Running, confirmation
from assistant.speech.tts import trim_lead
from assistant.store.history import HistoryStore

logger = logging.getLogger(__name__)

COMMON_CUES = (*COUNTDOWN, "Halfway.", "Ten seconds.", "Rest.", "Time's up!", "Go!")
AUDIO_KEPT = 64  # synthesized cue phrases kept
MISSED_GRACE_S = 0.5  # a cue this late after a restart is still played
MAX_TIMERS = 20  # running at once; more is refused
AHEAD = 12  # cues of a timer synthesized ahead of time
READY_WAITS = 60  # half-seconds the note of what was missed waits for the output to be ready


class TimerService:
    def __init__(self, bus: Bus, synth: Synthesizer, sink: AudioSink, store: HistoryStore | None, *, wall: bool,
                 settle: Callable[[], Awaitable[None]] | None = None, phrases: dict[str, np.ndarray] | None = None):
        """``wall``: run on the wall clock (and store timers in ``store``); else on
        the stream clock driven by ``advance``, where ``settle`` waits until the
        replies so far are written, so a cue follows the confirmation in the file.
        ``phrases``: cues synthesized at start-up (``COMMON_CUES``). ``sink``: the
        home room's speaker (``rooms`` adds the others: a timer is cued in the room
        where it was set)."""
        self.bus = bus
        self.synth = synth
        self.sink = sink
        self.home = ""  # the room of a timer set in none (typed), or in a room no longer configured
        self.sinks: dict[str, AudioSink] = {"": sink}  # room -> its speaker
        self.wall = wall
        self.store = store if wall else None
        self.settle = settle
        self.timers: dict[int, Running] = {}  # in the order they were set
        self.stream_s = 0.0
        self._ids = itertools.count((self.store.last_timer_id() if self.store else 0) + 1)
        self._common = {text: trim_lead(audio, synth.sample_rate) for text, audio in (phrases or {}).items()}
        self._audio: OrderedDict[str, np.ndarray] = OrderedDict()  # each timer's own, synthesized when it is set
        self._wanted: asyncio.Queue[str] = asyncio.Queue(maxsize=256)  # phrases to synthesize ahead
        self._changed = asyncio.Event()
        self._missed: list[str] = []  # what the coach says once after a restart
        self._unplayed: dict[str, int] = {}  # room -> cues in a row its sink refused
        self.last_finished: Running | None = None

    @property
    def clock(self) -> str:
        return "wall" if self.wall else "stream"

    def now(self) -> float:
        return time.time() if self.wall else self.stream_s

    # -- the router's side -------------------------------------------------------

    def answer(self, event: SpeechDetected, command: Command) -> str:
        """Carry out ``command`` (what ``event`` said) and return the confirmation."""
        if isinstance(command, Control):
            return self._control(command, event.room)
        if len(self.timers) >= MAX_TIMERS:
            return f"You already have {MAX_TIMERS} timers running. Stop one first."
        # From a file the timer starts where the command ended in the stream, so
        # the result does not depend on how fast the file was read.
        start = event.end_s if not self.wall and event.end_s else self.now()
        self.start(command, start, event.utterance_id, event.room)
        return confirmation(command)

    def start(self, command: StartTimer | StartSession, start: float, turn_id: int | None = None,
              room: str = "") -> Running:
        """``room``: where it was set, and where its cues are said ("": the home room)."""
        running = Running.start(next(self._ids), command, start)
        running.room = room if room in self.sinks else self.home
        self.timers[running.id] = running
        self._save(running, "active")
        p = running.plan
        self.bus.emit(TimerStarted(running.id, p.kind, p.label, p.rounds, p.work_s, p.rest_s, p.total_s, self.clock,
                                   round(start, 3), round(running.ends_at(), 3), turn_id, running.room))
        for cue in p.cues[:AHEAD]:
            self._want(cue.text)
        self._touch()
        return running

    def cancel(self, timer_id: int) -> None:
        """Stop the timer ``timer_id`` if it still runs (a led session's rest, cut short)."""
        if (running := self.timers.get(timer_id)) is not None:
            self._end(running, "cancelled")
            self.bus.emit(TimerCancelled(running.id, round(self.now(), 3), running.room))

    def rooms(self, home: str, sinks: dict[str, AudioSink]) -> None:
        """Several rooms (satellites): ``sinks`` by room, ``home``'s the default."""
        self.home, self.sinks = home, sinks
        self.sink = sinks[home]

    def _sink(self, room: str) -> AudioSink:
        return self.sinks.get(room, self.sink)

    def _control(self, command: Control, room: str = "") -> str:
        now = self.now()
        here = [r for r in self.timers.values() if r.room == (room if room in self.sinks else self.home)]
        target = next(reversed(here or list(self.timers.values())), None)  # the one set last, in this room first
        if target is None:
            return ACK if command.action == "stop" else "No timer is running."
        what = "Timer" if target.plan.kind in ("timer", "reminder") else "Session"
        if command.action == "pause":
            target.pause(now)
            reply = f"Paused. {target.remaining(now)}"
        elif command.action == "resume":
            target.resume(now)
            reply = f"Go on. {target.remaining(now)}"
        elif command.action == "skip":
            target.skip(now)
            reply = "Skipping ahead."
        elif command.action == "stop":
            self._end(target, "cancelled")
            self.bus.emit(TimerCancelled(target.id, round(now, 3), target.room))
            return f"{what} stopped."
        else:
            return target.remaining(now)
        self._save(target, "active")
        self._touch()
        left = target.ends_at() - (target.paused_at if target.paused_at is not None else now)
        self.bus.emit(TimerUpdated(target.id, target.paused_at is None, round(max(0.0, left), 3), target.room))
        return reply

    # -- state ------------------------------------------------------------------

    def _save(self, running: Running, state: str) -> None:
        if self.store is not None:
            self.store.save_timer(running.id, state, running.record())

    def _end(self, running: Running, state: str) -> None:
        self.timers.pop(running.id, None)
        if state == "finished":
            self.last_finished = running  # "log that"
        self._save(running, state)
        self._touch()

    def _touch(self) -> None:
        self._changed.set()

    def restore(self) -> None:
        """After a restart: the stored timers go on from where their schedule is now."""
        if self.store is None:
            return
        now = time.time()
        for timer_id, record in self.store.timers():
            try:
                running = Running.from_record(timer_id, record)
            except (KeyError, TypeError, ValueError) as err:
                self.bus.error("timers", f"stored timer {timer_id} is unreadable, dropped: {err}")
                self.store.save_timer(timer_id, "cancelled", record)
                continue
            missed = 0
            while (due := running.next_due()) is not None and due < now - MISSED_GRACE_S:
                missed += 1
                running.next_cue += 1
            self.timers[timer_id] = running
            for cue in running.plan.cues[running.next_cue:running.next_cue + AHEAD]:
                self._want(cue.text)
            if running.finished:
                self._missed.append(f"your {running.describe()} finished while I was away")
                self.bus.emit(TimerFinished(timer_id, round(running.ends_at(), 3), missed=True, room=running.room))
                self._end(running, "finished")
            elif missed:
                left = running.remaining(now)
                self._missed.append(f"I missed {missed} cue{'s' if missed > 1 else ''} of your {running.describe()}; "
                                    f"{left[0].lower()}{left[1:]}")
        if self.timers:
            logger.info("timers: %d resumed after a restart", len(self.timers))
        self._touch()

    # -- playing cues ------------------------------------------------------------

    def _want(self, text: str) -> None:
        if text not in self._audio and text not in self._common:
            try:
                self._wanted.put_nowait(text)
            except asyncio.QueueFull:
                pass  # synthesized when due instead

    async def _audio_for(self, text: str) -> np.ndarray:
        if text in self._common:
            return self._common[text]
        audio = self._audio.get(text)
        if audio is None:
            audio = trim_lead(await asyncio.to_thread(self.synth.synthesize, text), self.synth.sample_rate)
            self._audio[text] = audio
            while len(self._audio) > AUDIO_KEPT:
                self._audio.popitem(last=False)
        self._audio.move_to_end(text)
        return audio

    async def prepare(self) -> None:
        """Synthesize each timer's own cues ahead, when it is set (a task of its own,
        so a cue never waits for synthesis); the common ones came with the models."""
        while True:
            text = await self._wanted.get()
            try:
                await self._audio_for(text)
            except Exception as err:  # a cue without audio is synthesized again when due
                logger.warning("timers: cannot synthesize %r ahead: %s", text, err)

    async def _play(self, running: Running, cue: Cue, due: float) -> None:
        if not self.wall and self.settle is not None:
            await self.settle()
        try:
            audio = await self._audio_for(cue.text)
            delay = self._sink(running.room).cue(audio, cue.urgent)  # the file's sink writes at once: 0
            self._unplayed.pop(running.room, None)
        except Exception as err:  # said once until a cue plays again (a satellite away for an hour: not 360 times)
            unplayed = self._unplayed[running.room] = self._unplayed.get(running.room, 0) + 1
            if unplayed == 1:
                self.bus.error("timers", f"cue {cue.text!r} not played: {err}")
            else:
                logger.info("timers: cue %r not played either (%d in a row): %s", cue.text, unplayed, err)
            delay = 0.0
        played = self.now() + delay
        self.bus.emit(TimerCue(running.id, cue.kind, cue.text, cue.round, round(due, 3), round(played, 3),
                               round((played - due) * 1000, 1)))
        if cue.kind == "done":
            self.bus.emit(TimerFinished(running.id, round(due, 3), room=running.room))
            self._end(running, "finished")

    def _next(self) -> tuple[float, Running] | None:
        """The next cue due of all the timers: (when, whose); None when none is."""
        dues = [(due, r) for r in self.timers.values() if (due := r.next_due()) is not None]
        return min(dues, key=lambda pair: pair[0], default=None)

    async def _fire(self, until: float) -> None:
        """Play every cue due by ``until``, in time order."""
        while (next_cue := self._next()) is not None and next_cue[0] <= until:
            due, running = next_cue
            cue = running.plan.cues[running.next_cue]
            running.next_cue += 1
            if running.next_cue + AHEAD <= len(running.plan.cues):
                self._want(running.plan.cues[running.next_cue + AHEAD - 1].text)
            await self._play(running, cue, due)

    async def _say_missed(self) -> None:
        if self._missed:
            for _ in range(READY_WAITS):  # an output still opening (a satellite: until its first audio)
                if self.sink.ready():
                    break
                await asyncio.sleep(0.5)
            note = "I was restarted: " + "; ".join(self._missed) + "."
            self._missed.clear()
            try:
                self.sink.cue(await self._audio_for(note), urgent=False)
            except Exception as err:
                self.bus.error("timers", f"cannot say what was missed: {err}")

    async def run(self) -> None:
        """Wall clock: sleep until the next cue is due (less the output's latency,
        so it is heard on time), play it, repeat."""
        if not self.wall:
            return
        await self._say_missed()
        while True:
            self._changed.clear()
            next_cue = self._next()
            lead = float(getattr(self._sink(next_cue[1].room) if next_cue else self.sink, "latency", 0.0))
            if next_cue is not None:
                wait = next_cue[0] - lead - time.time()
                if wait > 0:
                    try:
                        async with asyncio.timeout(wait):
                            await self._changed.wait()
                        continue  # the schedule changed: look again
                    except TimeoutError:
                        pass
                await self._fire(time.time() + lead)
            else:
                await self._changed.wait()

    # -- the stream clock ----------------------------------------------------------

    async def advance(self, stream_s: float) -> None:
        """From a file: ``stream_s`` seconds of audio have been heard."""
        self.stream_s = stream_s
        await self._fire(stream_s)

    async def finish(self) -> None:
        """The input has ended: every timer runs to its end. On the stream clock
        the clock jumps from cue to cue; on the wall clock this waits."""
        if self.wall:
            while any(r.paused_at is None for r in self.timers.values()):
                await asyncio.sleep(0.1)
            return
        while (next_cue := self._next()) is not None:
            await self.advance(max(self.stream_s, next_cue[0]))

