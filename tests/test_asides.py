"""Words said over a paused reply (barge-in), on the real whisper: a hum is no
turn, a command is. The coach's echo before the user's voice is synthesized as
the rig leaves it: 180 ms of the coach's voice, 27 dB under the user, in the
utterance's pre-roll."""

import asyncio
import time

import numpy as np
import pytest
from helpers import espoken_16k, spoken_16k

from assistant.core.bus import Bus
from assistant.core.config import WakeConfig
from assistant.core.events import EventName
from assistant.listen.transcription import TranscriptionService
from assistant.listen.turn import Verdict
from assistant.listen.utterances import Judge, Segment
from assistant.listen.wake import is_backchannel

LEAD = 2880  # 180 ms at 16 kHz
PEAK = 8000.0


@pytest.fixture(scope="module")
def echo_lead():
    coach = spoken_16k("Keep your back straight and contain the movement.")
    piece = coach[19_200: 19_200 + LEAD]  # from 1.2 s in
    return piece / np.sqrt(np.mean(piece**2)) * PEAK * 10 ** (-27 / 20)


def over_the_echo(lead: np.ndarray, said: np.ndarray) -> np.ndarray:
    said = said / np.abs(said).max() * PEAK
    return np.concatenate([lead, said, np.zeros(1600)]).astype(np.int16)


class Service:
    """A transcription service with a reply paused on utterance 7 while ``held``
    holds; what the app was asked (``Assistant._aside``) and what was emitted."""

    def __init__(self, transcriber, held: list[bool]):
        self.bus = Bus()
        self.emitted: list = []
        for name in (EventName.SPEECH_DETECTED, EventName.AMBIENT_SPEECH_DETECTED):
            self.bus.on(name, self.emitted.append)
        self.asked: list[str] = []
        self.order: list[str] = []
        self.held = held  # consumed one per question; the last one stays

        def holding(utterance_id: int) -> bool:
            self.order.append("held")
            return self.held.pop(0) if len(self.held) > 1 else self.held[0]

        def aside(utterance_id: int, text: str, hum: bool) -> bool:  # as the app decides
            self.asked.append(text)
            return holding(utterance_id) and (not text or hum or is_backchannel(text))

        self.service = TranscriptionService(self.bus, transcriber, WakeConfig(), aside=aside, held=holding,
                                            settle=self.settle, turns=Sure())

    def settle(self, utterance_id: int, verdict: Verdict) -> bool:
        self.order.append(f"settle {verdict.value}")
        return verdict is Verdict.END

    async def segment(self, transcriber, audio: np.ndarray) -> str:
        """The utterance ends; its transcript is whisper's short window, made at its
        judged pause (deterministic, where the 30 s window falls back to sampling on
        audio like this). The first words."""
        first = await transcriber.transcribe(audio, short=True)
        done = asyncio.get_running_loop().create_future()
        done.set_result(first)
        self.service._early[(7, len(audio))] = done
        await self.service._transcribe(Segment(7, audio, 0.0, len(audio) / 16_000, time.time(), 0.8, False,
                                               lead=LEAD))
        return first.text


class Sure:
    """In place of the turn model: the turn is complete."""

    def probability(self, audio: np.ndarray) -> float:
        return 0.99


async def test_a_hum_whisper_takes_for_words_is_heard_again_as_a_hum(transcriber, echo_lead):
    audio = over_the_echo(echo_lead, espoken_16k("mm hmm"))
    held = Service(transcriber, [True])
    first = await held.segment(transcriber, audio)
    # what whisper makes of it as it comes: words (with tiny.en and Debian's espeak-ng)
    assert first and not is_backchannel(first), first
    assert len(held.asked) == 1 and is_backchannel(held.asked[0]), held.asked
    assert [e.name for e in held.emitted] == [EventName.AMBIENT_SPEECH_DETECTED]

    # with no reply paused on it, the words stand and are a turn
    free = Service(transcriber, [False])
    assert await free.segment(transcriber, audio) == first
    assert free.asked == [first] and [(e.name, e.text) for e in free.emitted] == [(EventName.SPEECH_DETECTED, first)]


async def test_a_hum_heard_again_is_no_turn_though_the_reply_went_on_meanwhile(transcriber, echo_lead):
    audio = over_the_echo(echo_lead, espoken_16k("mm hmm"))
    service = Service(transcriber, [True, False])  # paused when heard again, going on when it is known
    await service.segment(transcriber, audio)
    assert [e.name for e in service.emitted] == [EventName.AMBIENT_SPEECH_DETECTED], service.asked


async def test_words_over_a_paused_reply_are_heard_again_before_the_turn_is_claimed(transcriber, echo_lead):
    """A claimed utterance whose voice comes back is taken back by its turn
    (LLMService.retract): the turn must exist when the claim is made."""
    audio = over_the_echo(echo_lead, espoken_16k("mm hmm"))
    service = Service(transcriber, [True])
    await service.service.judge(Judge(7, audio, 0.9, time.time(), silence_ms=210, lead=LEAD))
    assert service.order[0] == "held" and service.order[1].startswith("settle"), service.order


@pytest.mark.parametrize("command", ["Stop.", "Wait, what?", "How long?", "No.", "Not now."])
async def test_a_short_command_over_a_paused_reply_stays_a_turn(transcriber, echo_lead, command):
    audio = over_the_echo(echo_lead, spoken_16k(command))
    service = Service(transcriber, [True])
    first = await service.segment(transcriber, audio)
    assert [(e.name, e.text) for e in service.emitted] == [(EventName.SPEECH_DETECTED, first)], service.asked
