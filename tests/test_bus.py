import asyncio

from assistant.core.bus import Bus
from assistant.core.events import EventName, SpeechStarted


async def test_a_raising_handler_becomes_error_occurred_and_the_bus_goes_on():
    bus = Bus()
    seen, errors = [], []

    def broken(event):
        raise RuntimeError("handler exploded")

    async def broken_async(event):
        raise ValueError("async handler exploded")

    bus.on(EventName.SPEECH_STARTED, broken)
    bus.on(EventName.SPEECH_STARTED, broken_async)
    bus.on(EventName.SPEECH_STARTED, seen.append)
    bus.on(EventName.ERROR_OCCURRED, errors.append)
    bus.emit(SpeechStarted(1, 0.5))
    bus.emit(SpeechStarted(2, 1.5))
    async with asyncio.timeout(5):
        await bus.wait_for_complete()
    assert [e.utterance_id for e in seen] == [1, 2]
    messages = sorted(e.message for e in errors)
    assert messages == sorted(["RuntimeError: handler exploded"] * 2 + ["ValueError: async handler exploded"] * 2)


async def test_a_raising_error_handler_does_not_loop():
    bus = Bus()
    calls = []

    def bad_error_handler(event):
        calls.append(event)
        raise RuntimeError("error handler exploded")

    bus.on(EventName.ERROR_OCCURRED, bad_error_handler)
    bus.error("test", "first fault")
    assert len(calls) == 2  # the fault, then the report of the handler's own fault; no more


def test_observers_see_every_event_with_its_time():
    bus = Bus()
    seen = []
    bus.observe(lambda at, event: seen.append((at > 0, event.name)))
    bus.emit(SpeechStarted(1, 0.0))
    assert seen == [(True, EventName.SPEECH_STARTED)]
