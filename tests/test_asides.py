"""Words said over a paused reply (barge-in), on the real whisper: a hum is no
turn, a command is. The coach's echo before the user's voice is synthesized as
the rig leaves it: 180 ms of the coach's voice, 27 dB under the user, in the
utterance's pre-roll."""

import time

import numpy as np
import pytest
from helpers import espoken_16k, spoken_16k

from assistant.config import WakeConfig
from assistant.events import Bus, EventName
from assistant.stt import TranscriptionService
from assistant.wake import is_backchannel

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


async def heard_over_a_paused_reply(transcriber, audio: np.ndarray, held: bool) -> tuple[str, list, list]:
    """The utterance as the transcription service emits it with a reply paused on
    it (``held``) or not, from whisper's short window (the transcript at a judged
    pause; deterministic, where the 30 s window falls back to sampling on audio
    like this): (the first transcript, the asides the app was asked about, events)."""
    bus = Bus()
    emitted: list = []
    for name in (EventName.SPEECH_DETECTED, EventName.AMBIENT_SPEECH_DETECTED):
        bus.on(name, emitted.append)
    asked: list[str] = []

    def aside(utterance_id: int, text: str) -> bool:  # as the app decides (Assistant._aside)
        asked.append(text)
        return held and (not text or is_backchannel(text))

    service = TranscriptionService(bus, transcriber, WakeConfig(), aside=aside, held=lambda utterance_id: held)
    first = await transcriber.transcribe(audio, short=True)
    await service._emit(7, first, audio, time.time(), len(audio) / 16_000, 210, lead=LEAD)
    return first.text, asked, emitted


async def test_a_hum_whisper_takes_for_words_is_heard_again_as_a_hum(transcriber, echo_lead):
    audio = over_the_echo(echo_lead, espoken_16k("mm hmm"))
    first, asked, emitted = await heard_over_a_paused_reply(transcriber, audio, held=True)
    assert first and not is_backchannel(first), first  # what whisper makes of it as it comes: words
    assert len(asked) == 1 and is_backchannel(asked[0]), asked
    assert [e.name for e in emitted] == [EventName.AMBIENT_SPEECH_DETECTED]

    # with no reply paused on it, the words stand and are a turn
    first, asked, emitted = await heard_over_a_paused_reply(transcriber, audio, held=False)
    assert asked == [first] and [(e.name, e.text) for e in emitted] == [(EventName.SPEECH_DETECTED, first)]


@pytest.mark.parametrize("command", ["Stop.", "Wait, what?", "How long?"])
async def test_a_short_command_over_a_paused_reply_stays_a_turn(transcriber, echo_lead, command):
    audio = over_the_echo(echo_lead, spoken_16k(command))
    first, asked, emitted = await heard_over_a_paused_reply(transcriber, audio, held=True)
    assert [(e.name, e.text) for e in emitted] == [(EventName.SPEECH_DETECTED, first)], asked
