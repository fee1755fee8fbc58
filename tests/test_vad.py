"""The endpointer fed plain numbers: seconds of silence, tone and noise."""

import numpy as np
import pytest

from assistant.capture import split_frames
from assistant.config import VadConfig
from assistant.vad import Endpointer, Onset, Pause, Segment

RATE = 16000
rng = np.random.default_rng(7)


def loud(seconds: float) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (8000 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.int16)


def quiet(seconds: float, level: float = 30.0) -> np.ndarray:
    return (rng.normal(0, level, int(RATE * seconds))).astype(np.int16)


def feed(endpointer: Endpointer, pcm: np.ndarray, is_end: bool = True) -> list:
    out = []
    for i, frame in enumerate(split_frames(pcm, endpointer.cfg.frame_ms)):
        out += endpointer.process(frame, at=i * endpointer.frame_s)
    return out + (endpointer.flush() if is_end else [])


def by_level(samples: np.ndarray) -> bool:
    """A stand-in detector: anything louder than a whisper is 'speech'."""
    return float(np.abs(samples.astype(np.float32)).mean()) > 500


def test_two_utterances_split_by_silence():
    pcm = np.concatenate([quiet(1), loud(1.5), quiet(1.5), loud(1.0), quiet(1)])
    events = feed(Endpointer(VadConfig(), is_speech=by_level), pcm)
    onsets = [e for e in events if isinstance(e, Onset)]
    segments = [e for e in events if isinstance(e, Segment)]
    assert len(onsets) == 2 and len(segments) == 2
    assert abs(segments[0].end_s - 2.5) < 0.1 and abs(segments[1].end_s - 5.0) < 0.1
    assert abs(onsets[0].stream_s - 1.0) < 0.35  # pre-roll reaches back before the onset
    assert [s.utterance_id for s in segments] == [o.utterance_id for o in onsets]
    assert segments[0].ended_at == pytest.approx(segments[0].end_s - 0.03)  # arrival time of the last voiced frame


def test_a_pause_shorter_than_end_silence_does_not_split():
    pcm = np.concatenate([quiet(1), loud(1), quiet(0.4), loud(1), quiet(1)])
    segments = [e for e in feed(Endpointer(VadConfig(), is_speech=by_level), pcm) if isinstance(e, Segment)]
    assert len(segments) == 1


def test_short_bursts_are_ignored_and_long_speech_is_cut():
    burst = np.concatenate([quiet(1), loud(0.15), quiet(1)])
    assert not [e for e in feed(Endpointer(VadConfig(), is_speech=by_level), burst) if isinstance(e, Segment)]
    long = np.concatenate([quiet(0.5), loud(5.0), quiet(1)])
    segments = [
        e for e in feed(Endpointer(VadConfig(max_utterance_s=2.0), is_speech=by_level), long) if isinstance(e, Segment)
    ]
    assert len(segments) >= 2 and segments[0].forced
    assert all(len(s.audio) <= 2.0 * RATE + 480 for s in segments)


def test_speech_running_into_the_end_of_the_stream_is_flushed():
    pcm = np.concatenate([quiet(1), loud(1)])
    segments = [e for e in feed(Endpointer(VadConfig(), is_speech=by_level), pcm) if isinstance(e, Segment)]
    assert len(segments) == 1


def test_steady_noise_never_opens_an_utterance_with_real_webrtcvad():
    for level in (300, 3000, 12000):
        noise = rng.normal(0, level, RATE * 10).clip(-32768, 32767).astype(np.int16)
        assert feed(Endpointer(VadConfig()), noise) == [], level


def test_digital_silence_gives_nothing():
    assert feed(Endpointer(VadConfig()), np.zeros(RATE * 5, np.int16)) == []


def test_a_pause_carries_exactly_the_audio_of_the_utterance_that_ends_there():
    pcm = np.concatenate([quiet(1), loud(1), quiet(0.4), loud(1), quiet(1)])
    events = feed(Endpointer(VadConfig(), is_speech=by_level), pcm)
    pauses = [e for e in events if isinstance(e, Pause) and not e.command]
    segments = [e for e in events if isinstance(e, Segment)]
    assert len(pauses) == 2 and len(segments) == 1  # the first pause was not the end
    assert len(pauses[0].audio) < len(segments[0].audio)
    assert np.array_equal(pauses[1].audio, segments[0].audio)
    position = {id(e): i for i, e in enumerate(events)}
    assert position[id(pauses[1])] < position[id(segments[0])]


def claiming(pcm: np.ndarray, claim_at: int) -> tuple[list, list[bool]]:
    """Feed ``pcm``; at the ``claim_at``-th command pause (0-based) claim the
    utterance, as the transcriber does when the words are a command."""
    endpointer, events, claims, seen = Endpointer(VadConfig(), is_speech=by_level), [], [], 0
    for i, frame in enumerate(split_frames(pcm, 30)):
        for event in endpointer.process(frame, at=i * 0.03):
            events.append(event)
            if isinstance(event, Pause) and event.command:
                if seen == claim_at:
                    claims.append(endpointer.claim(event.utterance_id))
                seen += 1
    return events + endpointer.flush(), claims


def test_a_command_pause_comes_at_210_ms_and_a_claim_ends_the_utterance_there():
    events, claims = claiming(np.concatenate([quiet(1), loud(1.5), quiet(1.5)]), claim_at=0)
    [command] = [e for e in events if isinstance(e, Pause) and e.command]
    assert claims == [True]
    assert not [e for e in events if isinstance(e, Segment)]  # no second turn for the same words
    assert 1.0 + 1.5 - 0.06 <= command.end_s <= 1.0 + 1.5 + 0.06
    assert not [e for e in events if isinstance(e, Pause) and not e.command]  # it ended at the claim


def test_no_claim_once_the_voice_came_back():
    endpointer = Endpointer(VadConfig(), is_speech=by_level)
    pcm = np.concatenate([quiet(1), loud(1), quiet(0.27)])
    events = feed(endpointer, pcm, is_end=False)
    [command] = [e for e in events if isinstance(e, Pause) and e.command]
    feed(endpointer, loud(0.3), is_end=False)  # the user goes on before the transcript is back
    assert not endpointer.claim(command.utterance_id)
    assert [e for e in feed(endpointer, quiet(1)) if isinstance(e, Segment)]  # it ends as usual


def test_echo_gate_learns_the_coupling_then_asks_for_louder_speech():
    from assistant.vad import EchoGate

    gate = EchoGate()
    # the first 0.4 s of a reply: the mic hears the speaker 3 dB under its playback level
    assert gate.threshold(10.1, 10.0, played_db=-20.0, heard_db=-23.0) == 100.0
    assert gate.threshold(10.3, 10.0, played_db=-20.0, heard_db=-24.0) == 100.0
    assert gate.threshold(11.0, 10.0, played_db=-18.0, heard_db=-10.0) == -21.0  # -18 played + -3 coupling
    # a new reply starts over; with no echo heard the bar is far below the playback
    assert gate.threshold(20.1, 20.0, played_db=-20.0, heard_db=-90.0) == 100.0
    assert gate.threshold(21.0, 20.0, played_db=-20.0, heard_db=-30.0) == -60.0
