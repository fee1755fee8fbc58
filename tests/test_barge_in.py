"""The barge-in state machine (``assistant.daemon.barge_in``), transition by
transition, with a voice that records what it was asked and an endpointer that
says what the frame held. The rig tests (test_live.py) run it on real audio."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from assistant.daemon import barge_in
from assistant.daemon.barge_in import BACKCHANNEL_MAX_S, HOLD_MAX_S, BargeIn, State
from assistant.listen.echo_gate import EchoGate


class Voice:
    def __init__(self, playing: bool = True):
        self.playing = playing
        self.held: tuple[int, float] | None = None
        self.released = 0

    def hold(self) -> bool:
        if not self.playing or self.held is not None:
            return False
        self.held = (3, 0.0)
        return True

    def release(self) -> None:
        self.held = None
        self.released += 1


@dataclass
class Heard:
    """What the endpointer says of the frame."""

    in_speech: bool = True
    utterance_id: int = 7
    voiced_s: float = 0.3


@pytest.fixture
def machine():
    voice, cuts = Voice(), []
    return BargeIn(voice, lambda: cuts.append("cut"), EchoGate()), voice, cuts


def test_voice_over_a_reply_pauses_it_and_a_backchannel_lets_it_go_on(machine):
    bargein, voice, cuts = machine
    bargein.begin(7)
    assert bargein.state is State.PAUSED and bargein.holding_for(7) and not bargein.holding_for(8)
    bargein.frame(Heard())  # still speaking, shorter than a backchannel: nothing yet
    assert bargein.state is State.PAUSED and not cuts
    assert bargein.aside(7, "Mm-hmm.")
    assert bargein.state is State.LISTENING and voice.released == 1 and not cuts


def test_speaking_longer_than_a_backchannel_cuts_the_reply(machine):
    bargein, voice, cuts = machine
    bargein.begin(7)
    bargein.frame(Heard(voiced_s=BACKCHANNEL_MAX_S))
    assert cuts == ["cut"] and bargein.state is State.LISTENING and not bargein.holding_for(7)


def test_words_that_are_no_backchannel_become_the_next_turn(machine):
    bargein, voice, cuts = machine
    bargein.begin(7)
    assert not bargein.aside(7, "How long should I rest?")  # a turn: its SPEECH_DETECTED cuts the reply
    voice.held = None  # as LLMService.cut -> TtsService.interrupt does
    assert not bargein.holding_for(7) and bargein.state is State.LISTENING and voice.released == 0


def test_words_heard_again_as_a_hum_let_the_reply_go_on_without_a_stricter_gate(machine):
    """"in a month", heard again with hums in whisper's prompt as "In Mm-": the
    transcription service says it is a hum; the reply goes on at once."""
    bargein, voice, cuts = machine
    before = bargein.echo.coupling_db
    bargein.begin(7)
    assert bargein.aside(7, "In Mm-", hum=True)
    assert bargein.state is State.LISTENING and voice.released == 1 and bargein.echo.coupling_db == before
    assert not cuts


def test_no_words_or_no_voice_is_a_false_alarm_and_the_gate_grows_stricter(machine, monkeypatch):
    bargein, voice, cuts = machine
    before = bargein.echo.coupling_db
    bargein.begin(7)
    assert bargein.aside(7, "")  # the utterance had no words
    assert bargein.state is State.LISTENING and voice.released == 1 and bargein.echo.coupling_db > before

    clock = [100.0]
    monkeypatch.setattr(barge_in.time, "monotonic", lambda: clock[0])
    bargein.begin(8)
    bargein.frame(Heard(in_speech=False, utterance_id=8))
    clock[0] += HOLD_MAX_S + 0.1  # a cough too short to be an utterance, then nothing
    bargein.frame(Heard(in_speech=False, utterance_id=8))
    assert bargein.state is State.LISTENING and voice.released == 2 and not cuts


def test_with_nothing_to_pause_the_reply_is_cut_at_once():
    voice, cuts = Voice(playing=False), []
    bargein = BargeIn(voice, lambda: cuts.append("cut"), EchoGate())
    bargein.begin(7)
    assert cuts == ["cut"] and bargein.state is State.LISTENING
