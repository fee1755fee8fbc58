"""Echo cancellation's parts on real speech: SpeexDSP through ctypes removes a
reply's echo once the far end is aligned, keeps a voice said over it, and the
echo path's delay is found by cross-correlation."""

import numpy as np
import pytest
from helpers import as_int16, delayed, echo_path, spoken_16k, wer

from assistant.echo import FRAME, RATE, SpeexCanceller, estimate_delay
from assistant.vad import frame_db

REFLECTIONS = ((112, 0.3), (400, 0.1))  # 7 and 25 ms after the direct echo
REPLY = ["Rest about two minutes between heavy sets, and one minute for lighter ones.",
         "Start the next set when your breathing has settled, then go again with good form."]


def cancel(near: np.ndarray, far: np.ndarray) -> np.ndarray:
    size = len(near) // FRAME * FRAME
    return SpeexCanceller().process(as_int16(near[:size]), as_int16(far[:size]))


@pytest.mark.parametrize("delay_ms", [0, 80, 230])
def test_the_echo_paths_delay_is_found(delay_ms):
    far = spoken_16k(*REPLY)
    near = echo_path(far, RATE * delay_ms // 1000, REFLECTIONS)
    assert estimate_delay(near[:RATE], far[:RATE]) == RATE * delay_ms // 1000


def test_an_aligned_echo_is_removed_and_a_voice_over_it_is_kept(transcriber):
    far = spoken_16k(*REPLY)
    delay = RATE * 80 // 1000
    near = echo_path(far, delay, REFLECTIONS)
    aligned = delayed(far, delay)
    echo_only = slice(RATE, len(far) // 2)  # after a second to converge
    cleaned = cancel(near, aligned)
    assert frame_db(as_int16(near[echo_only])) - frame_db(cleaned[echo_only]) > 15
    unaligned = cancel(near, far)  # the filter cannot reach back 80 ms of delay and 25 ms of reflections
    assert frame_db(unaligned[echo_only]) > frame_db(cleaned[echo_only]) + 6

    question = "Coach, how long should I rest between sets?"
    voice = spoken_16k(question)
    at = len(far) // 2
    said = slice(at, at + len(voice))
    with_voice = near.copy()
    with_voice[said] += voice * np.sqrt(np.mean(near[said] ** 2) / np.mean(voice ** 2)) / 2  # 6 dB under the echo
    kept = cancel(with_voice, aligned)
    assert frame_db(kept[said]) > frame_db(cleaned[said]) + 10  # the voice is let through
    heard = slice(at - RATE // 10, at + len(voice) + RATE // 10)
    alone = transcriber.transcribe_sync(as_int16(np.concatenate([np.zeros(RATE // 10), voice, np.zeros(RATE // 10)])))
    raw = transcriber.transcribe_sync(as_int16(with_voice[heard])).text
    clean = transcriber.transcribe_sync(kept[heard]).text
    # Against what whisper hears of the voice with no echo at all (tiny.en hears
    # "rest between sets" as "rest but we insets" even then):
    assert wer(alone.text, clean) <= 0.25 < wer(alone.text, raw), (alone.text, raw, clean)


def test_frames_must_be_whole():
    with pytest.raises(ValueError, match="whole 160-sample frames"):
        SpeexCanceller().process(np.zeros(100, np.int16), np.zeros(100, np.int16))
