"""Several rooms, one coach (``daemon.room``): each room's voice says only the
answers to what was heard there (and the home room the typed ones); a question
in one room cuts only that room's reply; a timer is cued in the room where it
was set, and "pause it" means that room's timer. The real thing, with two real
satellites, is in test_satellite.py."""

import asyncio

from test_seams import Beeps, Kept

from assistant.core.bus import Bus
from assistant.core.events import (
    EventName,
    ResponseChunk,
    ResponseGenerated,
    ResponseGenerating,
    SpeechDetected,
)


def heard(turn: int, text: str, room: str, reason: str = "always") -> SpeechDetected:
    return SpeechDetected(turn, text, reason, 1.0, 0.0, 1.0, room=room)


def test_each_rooms_voice_says_the_answers_to_what_was_heard_there():
    from assistant.speech.tts import TtsService

    async def main():
        bus = Bus()
        voices = {"garage": Beeps(), "kitchen": Beeps()}
        sinks = {room: Kept(8000) for room in voices}
        services = [TtsService(bus, voices[room], sinks[room], 0, room=room, home=room == "garage")
                    for room in voices]
        for tts in services:
            tts.initialize()
        workers = [asyncio.create_task(tts.run()) for tts in services]
        for turn, room, reason in ((1, "garage", "always"), (2, "kitchen", "always"), (3, "", "typed"),
                                   (4, "", "remote"), (5, "", "")):
            if reason:  # turn 5: the coach speaks first (no question)
                bus.emit(heard(turn, f"question {turn}", room, reason))
            bus.emit(ResponseGenerating(turn, "embedded", "embedded", "m"))
            bus.emit(ResponseChunk(turn, f"Answer {turn}."))
            bus.emit(ResponseGenerated(turn, f"Answer {turn}.", "m", "embedded", "embedded"))
        for tts in services:
            await tts.join()
        for worker in workers:
            worker.cancel()
        return {room: voice.said for room, voice in voices.items()}, services

    said, services = asyncio.run(main())
    # a peer's in no room; typed and the coach's own openings at home
    assert said == {"garage": ["Answer 1.", "Answer 3.", "Answer 5."], "kitchen": ["Answer 2."]}
    assert all(not (tts._dropped or tts._open or tts._mine) for tts in services)  # every turn forgotten at its end
    assert list(services[0].spoke) == [1, 3, 5] and list(services[1].spoke) == [2]


def test_a_question_cuts_only_its_own_rooms_reply_and_each_room_has_its_conversation():
    """Live: the garage's turn is being written when the kitchen asks (which
    waits its turn) and the garage asks again (which cuts the garage's first).
    Each turn ends once; only the garage's voice is told to stop. The model is
    asked the kitchen's question after the kitchen's turns alone."""
    from servers import asked, ollama

    from assistant.core.config import EmbeddedConfig, EndpointConfig, LlmConfig
    from assistant.llm.service import LLMService

    async def turns(url: str):
        llm = LLMService(config=LlmConfig(endpoints=(EndpointConfig(url=url, api="ollama-chat", models=("coach",)),),
                                          embedded=EmbeddedConfig(enabled=False)), bus=Bus(), interrupt=True)
        llm.rooms.home = "garage"
        seen: list = []
        cuts: list[tuple[str, int | None]] = []
        llm.bus.observe(lambda at, e: seen.append(e))
        for room in ("garage", "kitchen"):
            llm.on_cut(lambda before, room=room: cuts.append((room, before)), room)
        llm.initialize()
        worker = asyncio.create_task(llm.run())
        llm.bus.emit(heard(1, "How should I warm up?", "garage"))
        await asyncio.sleep(0.3)  # its answer is being written
        llm.bus.emit(heard(2, "What should I eat before a run?", "kitchen"))
        await asyncio.sleep(0.3)
        assert not [e for e in seen if e.name == EventName.RESPONSE_GENERATED]  # the kitchen cut nothing
        llm.bus.emit(heard(3, "What about stretching?", "", "typed"))  # typed: the home room's
        await llm.join()
        worker.cancel()
        await llm.aclose()
        return [e for e in seen if e.name == EventName.RESPONSE_GENERATED], cuts, llm

    with ollama("--delay", "0.2", canned="Start easy and build up over ten minutes.", names=("coach",)) as server:
        generated, cuts, llm = asyncio.run(turns(server.url))  # 8 words 0.2 s apart: in flight when the rooms ask
        asked = [r["messages"] for r in asked(server)]
    assert sorted((e.turn_id, e.interrupted) for e in generated) == [(1, True), (2, False), (3, False)]
    assert cuts == [("garage", 1), ("kitchen", 2), ("garage", 3)]  # each room's voice told of its own only
    assert llm.rooms.turns == {}
    garage, kitchen = llm.rooms.conversation_of("garage"), llm.rooms.conversation_of("kitchen")
    assert [t.user for t in garage.turns] == ["How should I warm up?", "What about stretching?"]
    assert [t.user for t in kitchen.turns] == ["What should I eat before a run?"]
    kitchens = [m for m in asked if m[-1]["content"] == "What should I eat before a run?"]
    assert kitchens and not any("warm up" in m["content"] for m in kitchens[0])  # not the garage's turns
    typed = [m for m in asked if m[-1]["content"] == "What about stretching?"]
    assert any(m["content"] == "How should I warm up?" for m in typed[0])  # the home room's, with the garage's


async def test_a_timer_is_cued_in_its_room_and_pause_it_means_that_rooms_timer():
    from assistant.skills.router import Control, StartTimer
    from assistant.skills.timers import TimerService

    bus = Bus()
    started: list = []
    updated: list = []
    bus.on(EventName.TIMER_STARTED, started.append)
    bus.on(EventName.TIMER_UPDATED, updated.append)
    garage, kitchen = Kept(8000), Kept(8000)
    timers = TimerService(bus, Beeps(), garage, None, wall=False)  # the stream clock: nothing sleeps
    timers.rooms("garage", {"garage": garage, "kitchen": kitchen})
    timers.answer(heard(1, "Set a timer for 20 seconds.", "kitchen"), StartTimer(20.0))
    timers.answer(heard(2, "Set a timer for a minute.", "garage"), StartTimer(60.0))
    timers.answer(heard(3, "Set a timer for 90 seconds.", "attic"), StartTimer(90.0))  # no such room: home
    assert [(e.timer_id, e.room) for e in started] == [(1, "kitchen"), (2, "garage"), (3, "garage")]
    timers.answer(heard(4, "Pause it.", "kitchen"), Control("pause"))  # the kitchen's, not the last one set
    assert timers.timers[1].paused_at is not None and timers.timers[3].paused_at is None
    timers.answer(heard(5, "Carry on.", "kitchen"), Control("resume"))
    assert [(e.timer_id, e.active, e.left_s) for e in updated] == [(1, False, 20.0), (1, True, 20.0)]
    cues = {timer_id: len(running.plan.cues) for timer_id, running in timers.timers.items()}
    await timers.advance(25.0)
    assert len(kitchen.cues) == cues[1] and not garage.cues  # the kitchen's timer, all of it, in the kitchen
    await timers.finish()
    assert len(garage.cues) == cues[2] + cues[3] and len(kitchen.cues) == cues[1]


async def test_a_room_whose_speaker_is_away_is_said_once_while_another_rooms_cues_play():
    from assistant.core.errors import AudioError
    from assistant.skills.router import StartTimer
    from assistant.skills.timers import TimerService

    class Away(Kept):
        def cue(self, samples, urgent):
            raise AudioError("satellite garage: not connected")

    bus = Bus()
    errors: list = []
    bus.on(EventName.ERROR_OCCURRED, errors.append)
    garage, kitchen = Away(8000), Kept(8000)
    timers = TimerService(bus, Beeps(), garage, None, wall=False)
    timers.rooms("garage", {"garage": garage, "kitchen": kitchen})
    timers.answer(heard(1, "Set a timer for 20 seconds.", "garage"), StartTimer(20.0))
    timers.answer(heard(2, "Set a timer for 20 seconds.", "kitchen"), StartTimer(20.0))
    await timers.finish()  # the two timers' cues in turn, a garage one refused between kitchen ones that play
    assert len(kitchen.cues) > 1 and len(errors) == 1 and "garage" in errors[0].message
