"""The speaker sink's idea of "speaking", with its PortAudio callback driven by
hand (no device): a reply held for the user is queued but silent."""

import numpy as np

from assistant.audio.playback import SpeakerSink


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
