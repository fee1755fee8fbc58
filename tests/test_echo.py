"""Echo cancellation's parts on real speech: SpeexDSP through ctypes removes a
reply's echo once the far end is aligned, keeps a voice said over it, and the
echo path's delay is found by cross-correlation."""

import numpy as np
import pytest
import soxr
from helpers import as_int16, delayed, echo_path, spoken_16k, wer

from assistant.audio.echo import FRAME, RATE, EchoCanceller, FarEnd, SpeexCanceller, estimate_delay
from assistant.audio.levels import frame_db

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


def test_the_far_end_ring_keeps_the_last_seconds_in_order():
    far = FarEnd(seconds=0.1)  # 1,600 samples
    far.open(RATE)
    for k in range(12):  # 3,840 samples: the ring wraps twice
        far.push(np.full(320, k, np.int16), heard_at=100.0 + k * 0.02)
    assert far.count == 3840
    assert far.read(3840 - 1600, 1600).tolist() == np.repeat(np.arange(7, 12), 320).tolist()
    assert not far.read(0, 320).any()  # gone from the ring: silence
    assert not far.read(3840, 320).any()  # not played yet
    assert far.index_at(100.0 + 11 * 0.02) == 11 * 320
    assert far.index_at(100.0 + 11 * 0.02 + 0.001) == 11 * 320 + 16


def play_and_hear(far16: np.ndarray, delay: int, jitter_s: float = 0.003, drop_s: float = 0.0,
                  seed: int = 0, gain: float = 1.0, step_s: float = 0.0,
                  watch=None) -> tuple[EchoCanceller, np.ndarray, np.ndarray, np.ndarray]:
    """The speaker plays ``far16`` at 48 kHz in 20 ms blocks, stamped with when each
    is heard; the microphone hears it ``delay`` samples later through the echo path
    and is cancelled in 30 ms frames, stamped (both with jitter) as the devices do.
    ``drop_s``: halfway, this much of the microphone is lost (a full frame queue).
    ``gain``: how loud the echo reaches the microphone.
    ``step_s``: halfway, the output is heard this much later, and stamped so (a
    sound server growing its buffer under load). ``watch(canceller)`` is called
    after each frame.
    Returns the canceller, and the microphone frames it got: raw, cleaned for
    words (SpeexDSP) and cleaned for detection (AEC3)."""
    rng = np.random.default_rng(seed)
    lead = np.zeros(RATE // 2, np.float64)  # the output runs silent before the reply
    heard = np.concatenate([lead, far16])
    near = echo_path(heard, delay, REFLECTIONS) * gain
    half = len(near) // 2
    late = round(step_s * RATE)
    near[half:] = echo_path(heard, delay + late, REFLECTIONS)[half:] * gain
    far = FarEnd()
    far.open(48_000)
    played = as_int16(soxr.resample(heard, RATE, 48_000))
    t0, block, frame = 1000.0, 960, 480
    canceller = EchoCanceller(far)
    got, cleaned, pushed = [], [], 0
    dropped = range(len(near) // 2, len(near) // 2 + round(drop_s * RATE))
    for start in range(0, len(near) - frame, frame):
        at = t0 + (start + frame) / RATE + rng.uniform(-jitter_s, jitter_s)
        while pushed < len(played) and t0 + pushed / 48_000 - 0.04 <= at:
            shift = step_s if pushed / 48_000 + step_s >= half / RATE else 0.0
            far.push(played[pushed: pushed + block], t0 + pushed / 48_000 + shift + rng.uniform(-jitter_s, jitter_s))
            pushed += block
        if start in dropped:
            continue
        got.append(as_int16(near[start: start + frame]))
        cleaned.append(canceller.process(got[-1], at, stretch=1.0))
        if watch is not None:
            watch(canceller)
    words, detect = zip(*cleaned, strict=True)
    return canceller, np.concatenate(got), np.concatenate(words), np.concatenate(detect)


@pytest.mark.parametrize("delay_ms", [40, 150])
def test_the_canceller_lines_up_the_speaker_with_the_microphone(delay_ms):
    """Through the devices' stamps and sample counts: the echo path's delay is
    measured on the reply's first second, then the echo loses more than 15 dB in
    what is transcribed and more than 40 dB in what detects the user."""
    far16 = spoken_16k(*REPLY)
    canceller, near, cleaned, detect = play_and_hear(far16, RATE * delay_ms // 1000)
    assert canceller.path.measured
    assert abs(canceller.path.at(len(near)) - RATE * delay_ms // 1000) <= RATE * 2 // 1000, canceller.path.points
    late = slice(RATE * 3, len(cleaned))
    assert frame_db(near[late]) - frame_db(cleaned[late]) > 15  # for words (SpeexDSP)
    assert frame_db(near[late]) - frame_db(detect[late]) > 40  # for detection (AEC3)
    assert canceller.converged  # the echo gate may now hear a voice over it


def test_the_canceller_is_converged_once_speex_has_the_echo_or_there_is_none_to_cancel():
    far16 = spoken_16k(*REPLY)
    first = play_and_hear(far16[: RATE * 3 // 4], RATE * 40 // 1000)[0]
    assert not first.converged  # not yet a second of the coach: nothing measured
    assert play_and_hear(far16, RATE * 40 // 1000)[0].converged
    # a headset: the microphone hears the coach 60 dB under what it plays
    assert play_and_hear(far16[: RATE * 2], RATE * 40 // 1000, gain=0.001)[0].converged
    # the coach silent (or half-duplex, where nothing is cancelled): the frame as it came, and no detection signal
    frame = np.full(480, 100, np.int16)
    words, detect = first.process(frame, 2000.0, stretch=None)
    assert detect is None and words is frame


def test_the_canceller_lines_up_again_after_microphone_frames_are_lost():
    far16 = spoken_16k(*REPLY)
    _, near, cleaned, _ = play_and_hear(far16, RATE * 40 // 1000, drop_s=0.3)
    # Lined up again at once from the stamps, to within their jitter; the next
    # second's measurement puts the far end right, and the filter converges again.
    after = slice(len(near) // 2 + RATE * 5 // 2, len(near) // 2 + RATE * 7 // 2)
    assert frame_db(near[after]) - frame_db(cleaned[after]) > 15


def test_a_step_in_the_output_latency_is_doubted_at_once_and_lined_up_within_half_a_second():
    """The sound server grows the speaker's buffer by 80 ms under load: the echo
    comes later, and the stamps say so. Until the canceller has lined up again,
    nothing heard over the coach may count (``settled``); the stamps' usual jitter
    never unsettles it."""
    far16 = spoken_16k(*REPLY)
    seen: list[tuple[bool, int]] = []
    offsets: list[int] = []
    canceller, near, cleaned, _ = play_and_hear(
        far16, RATE * 40 // 1000, jitter_s=0.015, step_s=0.08,
        watch=lambda c: (seen.append((c.settled, c.realigned)), offsets.append(c._offset)))
    # lined up by the whole step (the far end heard later: its sample at a given time is an earlier one)
    assert abs(offsets[-1] - offsets[0] + RATE * 80 // 1000) < RATE * 8 // 1000
    frames = [(k + 1) * 480 for k in range(len(seen))]  # microphone samples heard after each frame
    half = len(near) // 2
    converged = next(n for (settled, _), n in zip(seen, frames, strict=True) if settled)
    before = [settled for (settled, _), n in zip(seen, frames, strict=True) if converged <= n < half - RATE // 5]
    assert len(before) > 20 and all(before)  # once converged, 15 ms of jitter either way is no step (the
    # stamps of blocks heard after the step move up to 120 ms before it: they are written 40 ms ahead)
    moved = next(n for (_, realigned), n in zip(seen, frames, strict=True) if realigned)
    assert half < moved < half + RATE // 2
    unsettled = next(n for (settled, _), n in zip(seen, frames, strict=True) if n > half and not settled)
    assert unsettled < half + RATE // 4
    after = slice(half + RATE * 5 // 2, half + RATE * 7 // 2)  # measured again, the filter has the echo again
    assert frame_db(near[after]) - frame_db(cleaned[after]) > 15
