"""The endpointer fed plain numbers: seconds of silence, tone and noise."""

import dataclasses

import numpy as np
import pytest

from assistant.audio.capture import split_frames
from assistant.core.config import VadConfig
from assistant.listen.vad import Endpointer
from assistant.listen.utterances import CommandPause, Judge, Onset, Pause, Prepare, Segment, Speculate

RATE = 16000
SILENCE = VadConfig(turn="silence")  # the fixed end-of-speech silence
MODEL = VadConfig(turn="model")  # the end judged at a short pause (assistant/listen/turn.py)
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
    events = feed(Endpointer(SILENCE, is_speech=by_level), pcm)
    onsets = [e for e in events if isinstance(e, Onset)]
    segments = [e for e in events if isinstance(e, Segment)]
    assert len(onsets) == 2 and len(segments) == 2
    assert abs(segments[0].end_s - 2.5) < 0.1 and abs(segments[1].end_s - 5.0) < 0.1
    assert abs(onsets[0].stream_s - 1.0) < 0.35  # pre-roll reaches back before the onset
    assert [s.utterance_id for s in segments] == [o.utterance_id for o in onsets]
    assert segments[0].ended_at == pytest.approx(segments[0].end_s - 0.03)  # arrival time of the last voiced frame


def test_a_user_who_goes_on_as_the_reply_starts_is_heard_with_the_last_stretch_coupling():
    """A claimed turn the user goes on with (take-back) as the next reply starts:
    their voice is not learnt as the echo, and they are not deaf 0.4 s to it."""
    from assistant.listen.echo_gate import EchoGate

    gate = EchoGate()
    gate.threshold(10.1, 10.0, played_db=-20.0, heard_db=-50.0)  # a reply: the echo 30 dB under it
    assert gate.threshold(11.0, 10.0, played_db=-20.0, heard_db=-50.0) == -50.0
    # the next reply starts while the user speaks (-25 dBFS): the bar is the last reply's
    assert gate.threshold(20.1, 20.0, played_db=-20.0, heard_db=-25.0, voice=True) == -50.0
    assert gate.threshold(20.2, 20.0, played_db=-20.0, heard_db=-25.0, voice=True) == -50.0
    assert gate.threshold(21.0, 20.0, played_db=-20.0, heard_db=-25.0) == -50.0  # and nothing was learnt
    # before any stretch has taught the coupling there is none to keep: deaf, and learning, as always
    fresh = EchoGate()
    fresh.threshold(5.0, 0.0, played_db=-100.0, heard_db=-90.0)  # the speaker's tail at start: nothing played
    assert fresh.threshold(10.1, 10.0, played_db=-20.0, heard_db=-25.0, voice=True) == 100.0
    assert fresh.threshold(11.0, 10.0, played_db=-20.0, heard_db=-25.0) == -25.0
    # what it learnt then may be the user's voice: no coupling to carry into the next reply
    assert fresh.threshold(20.1, 20.0, played_db=-20.0, heard_db=-25.0, voice=True) == 100.0


def test_an_utterance_knows_how_much_of_its_pre_roll_came_before_the_voice():
    """The pre-roll (300 ms, 10 frames) less the onset's window (4 frames): what came
    before the voice, over a reply the coach's echo (``Segment.lead``)."""
    from assistant.listen.vad import ONSET_WINDOW

    pcm = np.concatenate([quiet(1), loud(1.0), quiet(1)])
    events = feed(Endpointer(SILENCE, is_speech=by_level), pcm)
    [segment] = [e for e in events if isinstance(e, Segment)]
    pauses = [e for e in events if isinstance(e, Pause)]
    frame = RATE * SILENCE.frame_ms // 1000
    assert segment.lead == (SILENCE.preroll_ms // SILENCE.frame_ms - ONSET_WINDOW) * frame
    assert pauses and {p.lead for p in pauses} == {segment.lead}
    assert np.abs(segment.audio[: segment.lead].astype(np.int32)).max() < 500  # all of it before the voice


def test_a_pause_shorter_than_end_silence_does_not_split():
    pcm = np.concatenate([quiet(1), loud(1), quiet(0.4), loud(1), quiet(1)])
    segments = [e for e in feed(Endpointer(SILENCE, is_speech=by_level), pcm) if isinstance(e, Segment)]
    assert len(segments) == 1


def test_short_bursts_are_ignored_and_long_speech_is_cut():
    burst = np.concatenate([quiet(1), loud(0.15), quiet(1)])
    assert not [e for e in feed(Endpointer(SILENCE, is_speech=by_level), burst) if isinstance(e, Segment)]
    long = np.concatenate([quiet(0.5), loud(5.0), quiet(1)])
    segments = [
        e for e in feed(Endpointer(dataclasses.replace(SILENCE, max_utterance_s=2.0), is_speech=by_level), long) if isinstance(e, Segment)
    ]
    assert len(segments) >= 2 and segments[0].forced
    assert all(len(s.audio) <= 2.0 * RATE + 480 for s in segments)


def test_speech_running_into_the_end_of_the_stream_is_flushed():
    pcm = np.concatenate([quiet(1), loud(1)])
    segments = [e for e in feed(Endpointer(SILENCE, is_speech=by_level), pcm) if isinstance(e, Segment)]
    assert len(segments) == 1


def test_steady_noise_never_opens_an_utterance_with_real_webrtcvad():
    for level in (300, 3000, 12000):
        noise = rng.normal(0, level, RATE * 10).clip(-32768, 32767).astype(np.int16)
        assert feed(Endpointer(SILENCE), noise) == [], level


def test_digital_silence_gives_nothing():
    assert feed(Endpointer(SILENCE), np.zeros(RATE * 5, np.int16)) == []


def test_a_pause_carries_exactly_the_audio_of_the_utterance_that_ends_there():
    pcm = np.concatenate([quiet(1), loud(1), quiet(0.4), loud(1), quiet(1)])
    events = feed(Endpointer(SILENCE, is_speech=by_level), pcm)
    pauses = [e for e in events if isinstance(e, Speculate)]
    segments = [e for e in events if isinstance(e, Segment)]
    assert len(pauses) == 2 and len(segments) == 1  # the first pause was not the end
    assert len(pauses[0].audio) < len(segments[0].audio)
    assert np.array_equal(pauses[1].audio, segments[0].audio)
    position = {id(e): i for i, e in enumerate(events)}
    assert position[id(pauses[1])] < position[id(segments[0])]


def claiming(pcm: np.ndarray, claim_at: int) -> tuple[list, list[bool]]:
    """Feed ``pcm``; at the ``claim_at``-th command pause (0-based) claim the
    utterance, as the transcriber does when the words are a command."""
    endpointer, events, claims, seen = Endpointer(SILENCE, is_speech=by_level), [], [], 0
    for i, frame in enumerate(split_frames(pcm, 30)):
        for event in endpointer.process(frame, at=i * 0.03):
            events.append(event)
            if isinstance(event, CommandPause):
                if seen == claim_at:
                    claims.append(endpointer.claim(event.utterance_id))
                seen += 1
    return events + endpointer.flush(), claims


def test_a_command_pause_comes_at_210_ms_and_a_claim_ends_the_utterance_there():
    events, claims = claiming(np.concatenate([quiet(1), loud(1.5), quiet(1.5)]), claim_at=0)
    [command] = [e for e in events if isinstance(e, CommandPause)]
    assert claims == [True]
    assert not [e for e in events if isinstance(e, Segment)]  # no second turn for the same words
    assert 1.0 + 1.5 - 0.06 <= command.end_s <= 1.0 + 1.5 + 0.06
    assert not [e for e in events if isinstance(e, Speculate)]  # it ended at the claim


def test_no_claim_once_the_voice_came_back():
    endpointer = Endpointer(SILENCE, is_speech=by_level)
    pcm = np.concatenate([quiet(1), loud(1), quiet(0.27)])
    events = feed(endpointer, pcm, is_end=False)
    [command] = [e for e in events if isinstance(e, CommandPause)]
    feed(endpointer, loud(0.3), is_end=False)  # the user goes on before the transcript is back
    assert not endpointer.claim(command.utterance_id)
    assert [e for e in feed(endpointer, quiet(1)) if isinstance(e, Segment)]  # it ends as usual


def judged(pcm: np.ndarray, verdicts: list, retract=None, resume_only=lambda endpointer: False
           ) -> tuple[list, Endpointer]:
    """Feed ``pcm`` in model mode; each turn pause gets the next verdict in turn:
    "end" claims the utterance, a number of ms waits that long, None says nothing.
    ``resume_only(endpointer)``: the frame is heard while the coach speaks, half-duplex."""
    endpointer = Endpointer(MODEL, is_speech=by_level, retract=retract)
    events, verdicts = [], list(verdicts)
    for i, frame in enumerate(split_frames(pcm, 30)):
        for event in endpointer.process(frame, at=i * 0.03, resume_only=resume_only(endpointer)):
            events.append(event)
            if isinstance(event, Judge) and verdicts:
                verdict = verdicts.pop(0)
                if verdict == "end":
                    assert endpointer.claim(event.utterance_id)
                elif verdict is not None:
                    endpointer.wait(event.utterance_id, verdict)
    return events + endpointer.flush(), endpointer


def test_model_turns_are_judged_at_210_ms_whatever_their_length_and_otherwise_wait_the_longest():
    events, _ = judged(np.concatenate([quiet(1), loud(6.0), quiet(3.0)]), [None])
    [prepare, pause] = [e for e in events if isinstance(e, Pause)]
    assert isinstance(prepare, Prepare) and prepare.silence_ms == 120 and prepare.voice_mark == pause.voice_mark
    [segment] = [e for e in events if isinstance(e, Segment)]
    assert isinstance(pause, Judge) and pause.silence_ms == 210  # a 6 s utterance is judged too
    assert MODEL.max_silence_ms <= segment.silence_ms < MODEL.max_silence_ms + 30  # unjudged: the longest wait
    assert abs(segment.end_s - 7.0) < 0.06


def test_a_wait_verdict_ends_the_utterance_after_that_silence():
    events, _ = judged(np.concatenate([quiet(1), loud(1.5), quiet(2.0)]), [600])
    [segment] = [e for e in events if isinstance(e, Segment)]
    assert 600 <= segment.silence_ms < 630  # the voice's fading last 10 ms windows count as silence too


def test_a_voice_back_after_a_hold_is_judged_again_and_stays_one_utterance():
    pcm = np.concatenate([quiet(1), loud(1.0), quiet(1.0), loud(1.0), quiet(2.0)])
    events, _ = judged(pcm, [MODEL.max_silence_ms, 600])
    assert len([e for e in events if isinstance(e, Judge)]) == 2
    [segment] = [e for e in events if isinstance(e, Segment)]
    assert len(segment.audio) > 3.0 * RATE and 600 <= segment.silence_ms < 630


def test_a_claimed_turn_withdrawn_when_the_voice_comes_back_continues_as_one_utterance():
    asked: list[int] = []

    def retract(turn_id: int) -> bool:
        asked.append(turn_id)
        return True

    pcm = np.concatenate([quiet(1), loud(1.0), quiet(0.8), loud(1.0), quiet(2.0)])
    events, _ = judged(pcm, ["end", None], retract)
    onsets = [e for e in events if isinstance(e, Onset)]
    [segment] = [e for e in events if isinstance(e, Segment)]
    assert asked == [onsets[0].utterance_id] and onsets[1].resumes == onsets[0].utterance_id
    assert segment.utterance_id == onsets[1].utterance_id
    assert abs(segment.start_s - onsets[0].stream_s) < 1e-9  # from the first word
    assert segment.lead == (MODEL.preroll_ms // MODEL.frame_ms - 4) * 480  # the first utterance's pre-roll
    assert 2.8 * RATE < len(segment.audio) < 3.4 * RATE  # both parts and the pause between


def test_an_utterance_ended_by_its_silence_is_held_too_and_continues_when_the_voice_comes_back():
    """A turn judged unfinished-looking but not held ("wait", 600 ms) ends on that
    silence; a voice back 0.4 s later, its reply withdrawn, continues it: one
    Segment of both parts (live, where a retract is given), besides the first."""
    asked: list[int] = []
    pcm = np.concatenate([quiet(1), loud(1.0), quiet(1.0), loud(1.0), quiet(3.5)])
    events, endpointer = judged(pcm, [600, None], retract=lambda turn_id: asked.append(turn_id) or True)
    onsets = [e for e in events if isinstance(e, Onset)]
    first, whole = [e for e in events if isinstance(e, Segment)]
    assert 600 <= first.silence_ms < 630 and asked == [first.utterance_id]
    assert onsets[1].resumes == first.utterance_id and whole.utterance_id == onsets[1].utterance_id
    assert 2.9 * RATE < len(whole.audio) < 3.4 * RATE and not endpointer.holding
    # from a file (no retract) nothing is held: the voice back is an utterance of its own
    events, endpointer = judged(pcm, [600, None])
    assert [e.resumes for e in events if isinstance(e, Onset)] == [0, 0] and not endpointer.holding
    # held for max_silence_ms (1.5 s) after its end at 600 ms: 2.2 s is too late
    asked.clear()
    pcm = np.concatenate([quiet(1), loud(1.0), quiet(2.2), loud(1.0), quiet(3.5)])
    events, _ = judged(pcm, [600, None], retract=lambda turn_id: asked.append(turn_id) or True)
    assert asked == [] and [e.resumes for e in events if isinstance(e, Onset)] == [0, 0]


def test_a_claimed_turn_already_heard_stays_and_the_rest_is_a_new_utterance():
    pcm = np.concatenate([quiet(1), loud(1.0), quiet(0.8), loud(1.0), quiet(2.0)])
    events, _ = judged(pcm, ["end", None], retract=lambda turn_id: False)
    onsets = [e for e in events if isinstance(e, Onset)]
    [segment] = [e for e in events if isinstance(e, Segment)]
    assert onsets[1].resumes == 0 and len(segment.audio) < 1.6 * RATE


@pytest.mark.parametrize("heard_long", [False, True], ids=["taken-back", "too-late"])
def test_while_the_coach_speaks_half_duplex_a_voice_only_continues_a_claimed_turn(heard_long):
    """After a claim the coach answers; the voice coming back continues the claimed
    utterance when its reply can still be taken back, and opens none of its own
    when it cannot (the microphone is the coach's alone again)."""
    speaking = []  # from the claim on, the coach speaks

    def resume_only(endpointer):
        speaking.extend([True] if endpointer.holding and not speaking else [])
        return bool(speaking)

    pcm = np.concatenate([quiet(1), loud(1.0), quiet(0.8), loud(1.0), quiet(3.2)])  # its end is held too
    events, endpointer = judged(pcm, ["end", None], retract=lambda turn_id: not heard_long, resume_only=resume_only)
    onsets = [e for e in events if isinstance(e, Onset)]
    if heard_long:
        assert len(onsets) == 1 and not [e for e in events if isinstance(e, Segment)]
    else:
        [segment] = [e for e in events if isinstance(e, Segment)]
        assert onsets[1].resumes == onsets[0].utterance_id and len(segment.audio) > 2.8 * RATE
    assert not endpointer.holding


def test_the_hold_ends_after_the_longest_wait():
    asked: list[int] = []
    pcm = np.concatenate([quiet(1), loud(1.0), quiet(2.0), loud(1.0), quiet(2.0)])
    events, _ = judged(pcm, ["end", None], retract=lambda turn_id: asked.append(turn_id) or True)
    assert asked == [] and [e.resumes for e in events if isinstance(e, Onset)] == [0, 0]


def test_echo_gate_learns_the_coupling_then_asks_for_louder_speech():
    from assistant.listen.echo_gate import EchoGate

    gate = EchoGate()
    # the first 0.4 s of a reply: the mic hears the speaker 3 dB under its playback level
    assert gate.threshold(10.1, 10.0, played_db=-20.0, heard_db=-23.0) == 100.0
    assert gate.threshold(10.3, 10.0, played_db=-20.0, heard_db=-24.0) == 100.0
    assert gate.threshold(11.0, 10.0, played_db=-18.0, heard_db=-10.0) == -21.0  # -18 played + -3 coupling
    # a new reply starts over; with no echo heard the bar is far below the playback
    assert gate.threshold(20.1, 20.0, played_db=-20.0, heard_db=-90.0) == 100.0
    assert gate.threshold(21.0, 20.0, played_db=-20.0, heard_db=-30.0) == -60.0


def test_echo_gate_grows_stricter_after_a_false_alarm_and_learns_again_when_the_echo_moves():
    from assistant.listen.echo_gate import EchoGate

    gate = EchoGate()
    gate.threshold(10.1, 10.0, played_db=-20.0, heard_db=-50.0)  # what the canceller leaves: 30 dB under
    assert gate.threshold(11.0, 10.0, played_db=-20.0, heard_db=-50.0) == -50.0
    gate.stricter()  # a pause for no voice
    assert gate.threshold(11.5, 10.0, played_db=-20.0, heard_db=-50.0) == -44.0
    gate.relearn(12.0)  # the echo path moved: 0.4 s with no barge-in, learning what is left now
    assert gate.threshold(12.1, 10.0, played_db=-20.0, heard_db=-30.0) == 100.0
    assert gate.threshold(12.5, 10.0, played_db=-20.0, heard_db=-50.0) == -30.0  # only ever stricter
    gate.threshold(20.1, 20.0, played_db=-20.0, heard_db=-50.0)  # a new stretch starts over
    assert gate.threshold(20.5, 20.0, played_db=-20.0, heard_db=-50.0) == -50.0


def test_behind_a_canceller_a_frame_speex_took_the_echo_out_of_is_no_voice_and_nothing_counts_before_it_converged():
    """AEC3 losing the echo for a moment lets it through 8 dB over the bar; SpeexDSP,
    which keeps a voice whole, took 30 dB out of that frame: the coach's echo. A
    voice said over the echo leaves SpeexDSP's output 3 dB under the microphone."""
    from assistant.listen.echo_gate import ECHO_REMOVED_DB, EchoGate

    gate = EchoGate()
    gate.threshold(10.1, 10.0, played_db=-13.0, heard_db=-26.0, raw_db=-14.0, words_db=-50.0)
    bar = gate.threshold(11.0, 10.0, played_db=-13.0, heard_db=-40.0, raw_db=-14.0, words_db=-50.0)
    assert bar == -26.0
    assert gate.threshold(15.0, 10.0, played_db=-13.0, heard_db=-18.0, raw_db=-13.0, words_db=-43.0) == 100.0
    assert gate.threshold(15.0, 10.0, played_db=-13.0, heard_db=-18.0, raw_db=-13.0,
                          words_db=-13.0 - ECHO_REMOVED_DB + 0.5) == bar
    assert gate.threshold(16.0, 10.0, played_db=-13.0, heard_db=-16.0, raw_db=-11.0, words_db=-14.0) == bar
    # the same voice before SpeexDSP's filter has the echo: the coach may not yet tell it from its own
    assert gate.threshold(16.0, 10.0, played_db=-13.0, heard_db=-16.0, raw_db=-11.0, words_db=-14.0,
                          converged=False) == 100.0
    # quieter than the bar, nothing is vetoed: the bar is what a voice must pass
    assert gate.threshold(16.0, 10.0, played_db=-13.0, heard_db=-40.0, raw_db=-13.0, words_db=-60.0) == bar


def test_behind_a_canceller_the_gate_asks_for_no_less_than_30_db_under_the_echo_itself():
    """A canceller that removes 43 dB in the first 0.4 s does not make a voice 40 dB
    under the coach's echo a barge-in: what it leaves rises by more later."""
    from assistant.listen.echo_gate import CANCELLED_DB, EchoGate

    gate = EchoGate()
    gate.threshold(10.1, 10.0, played_db=-20.0, heard_db=-65.0, raw_db=-22.0)  # the echo 2 dB under playback
    assert gate.threshold(11.0, 10.0, played_db=-20.0, heard_db=-65.0, raw_db=-22.0) == -22.0 - CANCELLED_DB
    # a canceller not yet converged: what it leaves is the bar
    gate.threshold(20.1, 20.0, played_db=-20.0, heard_db=-30.0, raw_db=-22.0)
    assert gate.threshold(21.0, 20.0, played_db=-20.0, heard_db=-65.0, raw_db=-22.0) == -30.0
    # no echo reaches the microphone at all: the floor, as without a canceller
    gate.threshold(30.1, 30.0, played_db=-20.0, heard_db=-90.0, raw_db=-90.0)
    assert gate.threshold(31.0, 30.0, played_db=-20.0, heard_db=-90.0, raw_db=-90.0) == -60.0


def test_the_end_of_speech_is_the_last_10_ms_near_the_voice_not_its_fading_tail():
    """A word that fades out: the end is where the voice was last within 35 dB of its
    loudest, so the 210 ms judged pause is 210 ms after what a listener hears."""
    fade = (loud(0.2).astype(np.float32) * np.geomspace(1.0, 1e-3, int(0.2 * RATE))).astype(np.int16)  # -60 dB
    pcm = np.concatenate([quiet(1), loud(0.99), fade, np.zeros(int(1.5 * RATE), np.int16)])
    events = feed(Endpointer(MODEL, is_speech=lambda samples: float(np.abs(samples).mean()) > 20), pcm)
    [pause] = [e for e in events if isinstance(e, Judge)]
    at_35_db = 1.99 + 0.2 * 35 / 60  # the fade reaches -35 dB here
    assert abs(pause.end_s - at_35_db) <= 0.02
    assert 195 <= pause.silence_ms < 225


def test_the_turn_state_walks_the_table_quiet_speaking_paused_claimed_and_back():
    """Every frame's state, through a claimed end the voice takes back and a
    second claim that stands: the endpointer moves only as ``TurnState`` says."""
    from assistant.listen.vad import TurnState

    endpointer = Endpointer(MODEL, is_speech=by_level, retract=lambda turn_id: True)
    seen = [endpointer.state]
    pcm = np.concatenate([quiet(0.5), loud(1.0), quiet(0.5), loud(0.6), quiet(2.5)])
    for i, frame in enumerate(split_frames(pcm, 30)):
        for event in endpointer.process(frame, at=i * 0.03):
            if isinstance(event, Judge):
                assert endpointer.state is TurnState.PAUSED and endpointer.claim(event.utterance_id)
                assert endpointer.state is TurnState.CLAIMED and endpointer.holding and not endpointer.in_speech
        if endpointer.state is not seen[-1]:
            seen.append(endpointer.state)
    assert seen == [TurnState.QUIET, TurnState.SPEAKING, TurnState.PAUSED, TurnState.CLAIMED, TurnState.SPEAKING,
                    TurnState.PAUSED, TurnState.CLAIMED, TurnState.QUIET]
    endpointer.reset()
    assert endpointer.state is TurnState.QUIET
    with pytest.raises(RuntimeError, match="no move from quiet to claimed"):
        endpointer._to(TurnState.CLAIMED)
