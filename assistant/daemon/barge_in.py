"""Barge-in: the user talks over the coach. A state machine with two states:

    LISTENING --(voice over the reply: the reply can be paused)--> PAUSED
    LISTENING --(voice over the reply: nothing to pause)--> LISTENING, the reply cut
    PAUSED --(1.0 s of voice: more than a backchannel)--> LISTENING, the reply cut
    PAUSED --(their words: "mm-hmm", "okay")--> LISTENING, the reply goes on
    PAUSED --(no words, or 2.5 s with no voice)--> LISTENING, the reply goes on;
              the echo gate grows stricter (a false alarm: its own echo, a knock)
    PAUSED --(their words: anything else)--> LISTENING: the next turn cuts the reply

Every transition is a method here; the app calls ``begin`` at an onset over the
reply, ``frame`` for every frame while one is paused, and the transcription
service asks ``holding_for`` and ``aside`` about an utterance's words.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from typing import Protocol

from assistant.listen.echo_gate import EchoGate
from assistant.listen.vad import Endpointer
from assistant.listen.wake import is_backchannel

logger = logging.getLogger(__name__)

# The reply is cut once the user's words are known, or at once when they speak this
# long ("mm-hmm" and "okay" are shorter: 0.3-0.6 s voiced in Piper's and espeak-ng's
# voices, and echo left under them adds to it; a question is longer; while paused, a
# later cut is not heard). A pause nothing decides (a cough too short to be an
# utterance) ends HOLD_MAX_S after the voice stopped.
BACKCHANNEL_MAX_S = 1.0
HOLD_MAX_S = 2.5


class State(enum.Enum):
    LISTENING = "listening"  # no reply waits on the user
    PAUSED = "paused"  # a reply waits on the words of utterance ``BargeIn.waiting_on``


class Voice(Protocol):
    """What barge-in asks of the TTS: pause the reply, let it go on; ``held`` is
    None when no reply is paused (a cut ends a pause too)."""

    held: tuple[int, float] | None

    def hold(self) -> bool: ...
    def release(self) -> None: ...


class BargeIn:
    def __init__(self, voice: Voice, cut: Callable[[], None], echo: EchoGate):
        self.voice = voice
        self.cut = cut  # LLMService.cut: the one place a reply is cut short
        self.echo = echo
        self.state = State.LISTENING
        self.waiting_on = 0  # the utterance a paused reply waits on
        self._voice_left_at = 0.0  # time.monotonic() when that utterance's voice was last heard

    def _sync(self) -> None:
        """A pause ended elsewhere (the next turn cut the reply): LISTENING again."""
        if self.state is State.PAUSED and self.voice.held is None:
            self.state = State.LISTENING

    def begin(self, utterance_id: int) -> None:
        """Voice over the reply: it pauses until the words are known; with nothing
        to pause, it is cut."""
        played, heard = self.echo.last
        logger.info("barge-in: heard %.1f dBFS over %.1f dBFS played (coupling %.1f dB)", heard, played,
                    self.echo.coupling_db)
        if self.voice.hold():
            logger.info("barge-in: the coach pauses while the user speaks")
            self.state, self.waiting_on, self._voice_left_at = State.PAUSED, utterance_id, time.monotonic()
        else:
            logger.info("barge-in: the user talks over the coach")
            self.cut()

    def frame(self, endpointer: Endpointer) -> None:
        """Frame by frame while a reply is paused: cut it once the user has spoken
        longer than a backchannel; let it go on when the voice is gone and nothing
        came of it."""
        self._sync()
        if self.state is not State.PAUSED:
            return
        speaking = endpointer.in_speech and endpointer.utterance_id == self.waiting_on
        if speaking and endpointer.voiced_s >= BACKCHANNEL_MAX_S:
            logger.info("barge-in: %.1f s of speech, the reply is cut", endpointer.voiced_s)
            self.state = State.LISTENING
            self.cut()
        elif endpointer.in_speech:
            self._voice_left_at = time.monotonic()
        elif time.monotonic() - self._voice_left_at > HOLD_MAX_S:
            logger.info("barge-in: nothing was said; the reply goes on")
            self._false_alarm()

    def holding_for(self, utterance_id: int) -> bool:
        """A paused reply waits on this utterance's words."""
        self._sync()
        return self.state is State.PAUSED and utterance_id == self.waiting_on

    def aside(self, utterance_id: int, text: str, hum: bool = False) -> bool:
        """The words of an utterance said over a paused reply: a backchannel
        ("mm-hmm", "okay"; ``hum``: heard again as one) or none lets the reply go
        on and is no turn (True); anything else becomes the next turn, which cuts
        the reply."""
        if not self.holding_for(utterance_id) or (text and not hum and not is_backchannel(text)):
            return False
        if not text:
            logger.info("barge-in: no words; the reply goes on")
            self._false_alarm()
            return True
        logger.info("barge-in: %r is a backchannel; the reply goes on", text)
        self.state = State.LISTENING
        self.voice.release()
        return True

    def _false_alarm(self) -> None:
        """The reply was paused for no voice (its own echo, a knock): it goes on,
        and the echo gate grows stricter so the same does not pause it again."""
        self.echo.stricter()
        self.state = State.LISTENING
        self.voice.release()
