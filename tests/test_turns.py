"""The invariant: every addressed utterance ends in exactly one RESPONSE_GENERATED
(an answer, a partial answer marked interrupted, or the apology) and exactly one
history row, eventually, whatever fails. Faults are injected into the store, the
backends, the speaker and the edge; each case counts SPEECH_DETECTED against
RESPONSE_GENERATED and stored rows."""

import asyncio
import time
from collections import Counter
from dataclasses import replace

import httpx
import pytest
from helpers import synthesizer
from servers import ollama
from test_history import hold_exclusive

from assistant.audio.playback import WavSink
from assistant.core.bus import Bus
from assistant.core.config import EmbeddedConfig, EndpointConfig, LlmConfig, LlmRetries, StatusApiConfig
from assistant.core.events import EventName, ResponseChunk, ResponseGenerated, ResponseGenerating, SpeechDetected
from assistant.core.workers import Foreground
from assistant.daemon.status import StatusApi
from assistant.llm.backend import Delta
from assistant.llm.ledger import APOLOGY_API
from assistant.llm.service import LLMService
from assistant.llm.tokens import TokenCounter
from assistant.speech.tts import TtsService
from assistant.store.history import HistoryStore

QUESTION = "How long should I rest between sets?"


class InProcess:
    """What every in-process backend here shares: nothing to prepare or warm, and
    tokens estimated (the Backend protocol's counter, no examples of its own)."""

    reserved = 0
    prompt_tokens_max = None
    reads_ahead = True

    def __init__(self):
        self.counter = TokenCounter()

    async def prepare(self):
        return None

    def forget(self):
        return None

    async def prefill(self, model, messages):
        return None

    async def aclose(self):
        return None


class Faulty(InProcess):
    """A backend that raises ``error`` at connect, at the first token or mid-stream."""

    api = "openai"
    endpoint = "http://faulty.invalid"
    models = ("faulty-model",)

    def __init__(self, where: str, error: BaseException):
        super().__init__()
        self.where, self.error = where, error

    async def stream(self, model, messages, options):
        if self.where == "first-token":
            yield Delta(text="")
        if self.where == "mid-stream":
            yield Delta(text="Keep your back straight ")
        await asyncio.sleep(0)
        raise self.error


class Canned(InProcess):
    """A backend that answers at once (for bursts, where the model is not the point)."""

    api = "embedded"
    endpoint = "canned"
    models = ("canned",)

    async def stream(self, model, messages, options):
        for word in ("Rest ", "two ", "minutes."):
            await asyncio.sleep(0.002)
            yield Delta(text=word)
        yield Delta(done=True, completion_tokens=3)


class Tally:
    def __init__(self, bus: Bus):
        self.names: Counter = Counter()
        self.generated: list = []
        self.errors: list = []
        bus.observe(self)

    def __call__(self, at, event):
        self.names[event.name] += 1
        if event.name is EventName.RESPONSE_GENERATED:
            self.generated.append(event)
        if event.name is EventName.ERROR_OCCURRED:
            self.errors.append(event)


def service(tmp_path, backends=(), embedded=None, interrupt=False, **llm):
    bus = Bus()
    store = HistoryStore(tmp_path / "history.sqlite3", 5000)
    cfg = LlmConfig(endpoints=(), embedded=EmbeddedConfig(enabled=embedded is not None),
                    retries=LlmRetries(attempts=1), **llm)
    llm_service = LLMService(config=cfg, bus=bus, embedded=embedded, interrupt=interrupt, store=store)
    llm_service.failover.servers = list(backends)
    llm_service.initialize()
    return bus, store, llm_service, Tally(bus)


async def settle(bus, store, llm_service, runner, seconds=60.0) -> int:
    """Wait for every turn to end and every row to land; returns the addressed rows."""
    async with asyncio.timeout(seconds):
        await llm_service.join()
        await bus.wait_for_complete()
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert await asyncio.to_thread(store.flush, seconds)
    rows = [t for t in store.last(10_000) if t.addressed]
    store.close()
    return len(rows)


def ask(bus, text=QUESTION) -> int:
    turn_id = bus.new_turn_id()
    bus.emit(SpeechDetected(turn_id, text, "typed", 0.0, time.time(), 0.0))
    return turn_id


def assert_invariant(tally, rows, expected):
    assert tally.names[EventName.SPEECH_DETECTED] == expected
    assert tally.names[EventName.RESPONSE_GENERATED] == expected, tally.names
    assert len({g.turn_id for g in tally.generated}) == expected  # one each, not two for one
    assert rows == expected


ERRORS = [OverflowError("port must be 0-65535"), UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates"),
          KeyError("choices"), RuntimeError("boom"), httpx.InvalidURL("Invalid port")]


@pytest.mark.parametrize("where", ["connect", "first-token", "mid-stream"])
@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
async def test_a_backend_raising_anything_is_a_failed_backend_never_a_lost_turn(tmp_path, where, error):
    bus, store, llm_service, tally = service(tmp_path, backends=[Faulty(where, error)])
    runner = asyncio.ensure_future(llm_service.run())
    ids = [ask(bus) for _ in range(3)]
    assert_invariant(tally, await settle(bus, store, llm_service, runner), 3)
    assert [g.turn_id for g in tally.generated] == ids
    for generated in tally.generated:
        if where == "mid-stream":  # part of the answer was out: ended with the notice, marked interrupted
            assert generated.text.startswith("Keep your back straight") and generated.interrupted
        else:
            assert generated.api == APOLOGY_API and generated.text == llm_service.cfg.apology
    assert all(type(error).__name__ in e.message or str(error) in e.message for e in tally.errors)


async def test_after_a_raising_backend_the_next_one_answers(tmp_path):
    bus, store, llm_service, tally = service(tmp_path, backends=[Faulty("connect", OverflowError("bad port"))],
                                             embedded=Canned())
    runner = asyncio.ensure_future(llm_service.run())
    ask(bus)
    assert_invariant(tally, await settle(bus, store, llm_service, runner), 1)
    assert tally.generated[0].text == "Rest two minutes." and tally.generated[0].fallbacks


@pytest.mark.parametrize("hold_s", [2.0, 8.0], ids=["locked-briefly", "locked-through-every-turn"])
async def test_a_locked_history_delays_the_rows_never_the_answers(tmp_path, hold_s):
    bus, store, llm_service, tally = service(tmp_path, embedded=Canned())
    runner = asyncio.ensure_future(llm_service.run())
    hold_exclusive(store.path, hold_s)
    started = time.monotonic()
    for _ in range(5):
        ask(bus)
    async with asyncio.timeout(5):
        await llm_service.join()
    answered_in = time.monotonic() - started
    assert answered_in < min(hold_s, 5) and tally.names[EventName.RESPONSE_GENERATED] == 5  # not waiting for the store
    assert [g.text for g in tally.generated] == ["Rest two minutes."] * 5
    assert_invariant(tally, await settle(bus, store, llm_service, runner), 5)
    store_errors = [e for e in tally.errors if "history.sqlite3" in e.message]
    assert store_errors == [] or "locked" in store_errors[0].message  # reported through the store's hook


async def test_text_sqlite_cannot_store_still_gets_an_answer_and_a_row(tmp_path):
    bus, store, llm_service, tally = service(tmp_path, embedded=Canned())
    runner = asyncio.ensure_future(llm_service.run())
    ask(bus, "\ud800 hi")
    assert_invariant(tally, await settle(bus, store, llm_service, runner), 1)


async def test_a_failing_speaker_costs_the_audio_not_the_turn(tmp_path):
    from assistant.core.errors import AudioError

    class DeadSpeaker:
        label, started_at = "dead", 0.0

        async def write(self, samples):
            raise AudioError("speaker: no output device open")

        async def drain(self):
            return None

        def mark(self):
            return None

        def stop(self):
            return 0.0

        def speaking(self, tail_s=0.0):
            return False

    bus, store, llm_service, tally = service(tmp_path, embedded=Canned())
    tts = TtsService(bus, synthesizer(), DeadSpeaker(), 0)
    tts.initialize()
    runner = asyncio.ensure_future(llm_service.run())
    speaker = asyncio.ensure_future(tts.run())
    for _ in range(3):
        ask(bus)
    await llm_service.join()
    async with asyncio.timeout(60):
        await tts.join()
    speaker.cancel()
    assert_invariant(tally, await settle(bus, store, llm_service, runner), 3)
    assert len([e for e in tally.errors if e.source == "tts"]) == 3


@pytest.mark.parametrize("live", [True, False], ids=["live", "from-a-file"])
async def test_a_burst_of_200_concurrent_say_requests_loses_no_turn(tmp_path, live):
    """Live, a new question cancels the one in flight, even one whose task has not
    started yet: that race used to lose turns."""
    with ollama(canned="Rest for two minutes.", names=("coach",)) as server:
        bus, store, llm_service, tally = service(tmp_path, interrupt=live)
        llm_service.reconfigure(replace(llm_service.cfg, endpoints=(EndpointConfig(url=server.url, models=("coach",)),)),
                                llm_service_persona())
        api = StatusApi(StatusApiConfig(enabled=True, port=0), bus, llm_service.accepts)
        await api.start()
        runner = asyncio.ensure_future(llm_service.run())
        base = f"http://127.0.0.1:{api.port}"
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200)) as client:
            statuses: Counter = Counter()
            for burst in (100, 200, 200):
                replies = await asyncio.gather(*[client.post(base + "/say", json={"text": f"question {i}"})
                                                 for i in range(burst)])
                statuses.update(r.status_code for r in replies)
                await asyncio.sleep(0.05)
        rows = await settle(bus, store, llm_service, runner, seconds=120)
        await api.close()
    if live:  # each new question supersedes the waiting ones: never full
        assert statuses == {202: 500}
    else:  # answered in turn: past 256 waiting questions, "429 try again" and nothing emitted
        assert set(statuses) <= {202, 429} and statuses[202] >= 256
    assert_invariant(tally, rows, statuses[202])
    if not live:  # from a file every question is answered in turn
        assert all(not g.interrupted and g.text.strip() == "Rest for two minutes." for g in tally.generated)
    assert any(not g.interrupted for g in tally.generated)


def llm_service_persona():
    from assistant.core.config import PersonaConfig

    return PersonaConfig()


@pytest.mark.parametrize("heard", [False, True], ids=["unheard", "already-heard"])
async def test_a_turn_withdrawn_before_its_reply_is_heard_leaves_no_trace(tmp_path, heard):
    """The user went on speaking after an end of turn judged at a short pause: the
    fragment's turn, still waiting for its first token at a slow server, is
    withdrawn (no RESPONSE_GENERATED, no history row) and the whole question is
    answered. Once its reply has been heard (the TTS says so) it stays a turn."""
    with ollama("--first-token-delay", "1.5", canned="Rest for two minutes.", names=("coach",)) as server:
        bus, store, llm_service, tally = service(tmp_path, interrupt=True)
        llm_service.reconfigure(replace(llm_service.cfg, endpoints=(EndpointConfig(url=server.url, models=("coach",)),)),
                                llm_service_persona())
        asked: list[int] = []
        llm_service.on_withdraw(lambda turn_id, audible: asked.append(turn_id) or not heard)
        runner = asyncio.ensure_future(llm_service.run())
        first = ask(bus, "How long should I rest between")
        async with asyncio.timeout(30):
            while tally.names[EventName.RESPONSE_GENERATING] == 0:
                await asyncio.sleep(0.01)
        assert llm_service.retract(first) is not heard and asked == [first]
        second = ask(bus, "How long should I rest between sets of squats?")
        rows = await settle(bus, store, llm_service, runner)
    answered = [g.turn_id for g in tally.generated]
    if heard:
        assert answered == [first, second] and tally.generated[0].interrupted and rows == 2
    else:
        assert answered == [second] and rows == 1 and not tally.generated[0].interrupted
        assert [t.heard for t in HistoryStore(tmp_path / "history.sqlite3", 10).last(5)] == [
            "How long should I rest between sets of squats?"]


class Slow(InProcess):
    """A first sentence at once, then the rest of the reply after ``rest_s``."""

    api = "embedded"
    endpoint = "slow"
    models = ("slow",)
    rest_s = 3.0

    async def stream(self, model, messages, options):
        yield Delta(text="Start with squats. ")
        await asyncio.sleep(self.rest_s)
        yield Delta(text="Then add lunges.")
        yield Delta(done=True, completion_tokens=8)


@pytest.mark.parametrize("heard_long, half_duplex", [(False, True), (True, True), (False, False)],
                         ids=["just-heard", "heard-too-long", "barge-in"])
async def test_a_reply_heard_for_a_moment_is_taken_back_when_the_user_goes_on(tmp_path, heard_long, half_duplex):
    """Half-duplex, the voice came back after a turn claimed at a short pause, while
    its reply had just begun to play: the reply stops (SPEAKING_FINISHED,
    interrupted) and the turn leaves no RESPONSE_GENERATED and no row; the whole
    question is answered. Heard longer than ``TtsService.TAKE_BACK_S``, or with
    barge-in (which pauses a reply and hears what is said), it stays a turn."""
    bus, store, llm_service, tally = service(tmp_path, embedded=Slow(), interrupt=True)
    synth = synthesizer()
    tts = TtsService(bus, synth, WavSink(tmp_path / "out.wav", synth.sample_rate), 0)
    if heard_long:
        tts.TAKE_BACK_S = 0.0
    tts.initialize()
    llm_service.on_withdraw(tts.withdraw)
    finished = []
    bus.on(EventName.SPEAKING_FINISHED, finished.append)
    runner = asyncio.ensure_future(llm_service.run())
    speaker = asyncio.ensure_future(tts.run())
    first = ask(bus, "Can you give me a plan for my")
    async with asyncio.timeout(60):
        while tally.names[EventName.SPEAKING_STARTED] == 0:
            await asyncio.sleep(0.01)
    taken = half_duplex and not heard_long
    assert llm_service.retract(first, heard=half_duplex) is taken
    second = ask(bus, "Can you give me a plan for my legs and core?")
    rows = await settle(bus, store, llm_service, runner)
    async with asyncio.timeout(60):
        await tts.join()
    speaker.cancel()
    answered = [g.turn_id for g in tally.generated]
    if not taken:  # the new question cut it, as a barge-in does
        assert answered == [first, second] and tally.generated[0].interrupted and rows == 2
    else:
        assert [(f.turn_id, f.interrupted) for f in finished] == [(first, True), (second, False)]
        assert answered == [second] and rows == 1 and not tally.generated[0].interrupted


async def test_a_turn_still_waiting_is_withdrawn_from_the_queue(tmp_path):
    bus, store, llm_service, tally = service(tmp_path, backends=[Canned()])
    first = ask(bus, "How long should I rest between")  # no worker yet: it waits in the queue
    assert llm_service.retract(first)
    assert not llm_service.retract(first)  # gone
    ask(bus)
    runner = asyncio.ensure_future(llm_service.run())
    rows = await settle(bus, store, llm_service, runner)
    assert [g.turn_id for g in tally.generated] == [first + 1] and rows == 1


async def test_only_a_replys_first_sentence_is_voiced_ahead_of_the_model(tmp_path):
    """The TTS holds ``Foreground`` while it synthesizes a reply's first sentence
    (the in-process model waits meanwhile), and not for the sentences after it."""
    foreground = Foreground()
    synth = synthesizer()
    held: list[tuple[str, bool]] = []
    voice = synth.synthesize

    def synthesize(text, steady=False):
        held.append((text, foreground.held))
        return voice(text, steady)

    synth.synthesize = synthesize
    bus = Bus()
    tts = TtsService(bus, synth, WavSink(tmp_path / "out.wav", synth.sample_rate), 0, foreground=foreground)
    tts.initialize()
    speaker = asyncio.ensure_future(tts.run())
    for turn_id in (1, 2):
        bus.emit(ResponseGenerating(turn_id, "here", "ollama-chat", "coach"))
        bus.emit(ResponseChunk(turn_id, "Rest two minutes. Then go again. "))
        bus.emit(ResponseGenerated(turn_id, "Rest two minutes. Then go again.", "coach", "here", "ollama-chat"))
    async with asyncio.timeout(60):
        await tts.join()
    speaker.cancel()
    assert held == [("Rest two minutes.", True), ("Then go again.", False)] * 2
    assert not foreground.held


async def test_a_reply_withdrawn_while_its_end_drains_finishes_once(tmp_path):
    """The user goes on (half-duplex take-back) while a reply written in full is
    still being heard: one SPEAKING_FINISHED, interrupted. Its end of turn, waiting
    for the speaker to drain, used to report it heard in full as well."""

    class SlowSpeaker:
        label, started_at, far = "slow", 0.0, None
        latency = 0.0

        def __init__(self):
            self.draining, self.stopped = asyncio.Event(), asyncio.Event()

        async def write(self, samples):
            return None

        async def drain(self):
            self.draining.set()
            await self.stopped.wait()  # as long as the reply plays

        def mark(self):
            return None

        def stop(self):
            self.stopped.set()
            return 0.3

        def cue_left_s(self):
            return 0.0

        def speaking(self, tail_s=0.0):
            return not self.stopped.is_set()

    bus, store, llm_service, tally = service(tmp_path, embedded=Canned())
    sink = SlowSpeaker()
    tts = TtsService(bus, synthesizer(), sink, 0)
    tts.initialize()
    finished = []
    bus.on(EventName.SPEAKING_FINISHED, finished.append)
    runner = asyncio.ensure_future(llm_service.run())
    speaker = asyncio.ensure_future(tts.run())
    turn = ask(bus)
    async with asyncio.timeout(60):
        await sink.draining.wait()  # written in full, RESPONSE_GENERATED sent, its end waits for the speaker
    assert tts.withdraw(turn, heard=True)
    async with asyncio.timeout(60):
        await tts.join()
    speaker.cancel()
    await settle(bus, store, llm_service, runner)
    assert [(f.turn_id, f.interrupted) for f in finished] == [(turn, True)]
