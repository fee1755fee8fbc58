"""The speaker sink's idea of "speaking", with its PortAudio callback driven by
hand (no device): a reply held for the user is queued but silent."""

import time

import numpy as np

from assistant.audio.echo import FarEnd
from assistant.audio.playback import PARK_S, SpeakerSink


def test_a_held_reply_is_no_speech_once_its_tail_has_passed():
    sink = SpeakerSink(None, 16_000, on_error=lambda err: None)
    sink._rate = 16_000  # as if the device had opened at the reply's rate
    sink._chunks.append(np.full(16_000, 3000, np.int16))
    sink._queue(sink._chunks[0])
    block = np.zeros((320, 1), np.int16)
    sink._callback(block, 320, None, None)  # 20 ms of the reply played
    assert sink.speaking() and block.any()
    assert sink.hold() is not None
    sink._callback(block, 320, None, None)  # held: the callback plays silence
    assert not block.any()
    assert sink.speaking(tail_s=5.0)  # the echo of what played last may still be in the room
    assert not sink.speaking()  # the coach is silent: the user talking over it has no echo to fear
    sink.release()
    assert sink.speaking()  # the reply goes on


def test_a_speaker_that_has_said_nothing_has_no_echo_tail():
    """At start-up nothing has played: half-duplex must not be deaf for the echo's
    tail (a question said at once lost its first words, 2026-12-07)."""
    sink = SpeakerSink(None, 16_000, on_error=lambda err: None)
    sink._rate = 16_000
    assert not sink.speaking(tail_s=5.0)
    sink._chunks.append(np.full(320, 3000, np.int16))
    sink._queue(sink._chunks[0])
    assert sink.speaking()
    block = np.zeros((320, 1), np.int16)
    sink._callback(block, 320, None, None)  # played out: now its echo may ring
    assert not sink._queued and sink.speaking(tail_s=5.0) and not sink.speaking(tail_s=-sink.latency - 1)


def test_the_stream_parks_after_five_silent_seconds_unless_the_canceller_needs_its_clock():
    far = FarEnd()
    sink = SpeakerSink(None, 16_000, on_error=lambda err: None, far=far)
    sink._rate = 16_000
    now = sink.quiet_since
    assert not sink.parks(now + PARK_S - 0.1) and sink.parks(now + PARK_S + 0.1)
    far.steady = True  # barge-in with echo cancellation: the stream keeps its own clock
    assert not sink.parks(now + 60)
    far.steady = False
    sink._chunks.append(np.full(1600, 3000, np.int16))
    sink._queue(sink._chunks[0])  # a reply waits to be played: never parked under it
    assert not sink.parks(now + 60)
    block = np.zeros((1600, 1), np.int16)
    sink._callback(block, 1600, None, None)  # played out
    assert not sink.parks(time.monotonic() + 1) and sink.parks(time.monotonic() + PARK_S + 0.1)
