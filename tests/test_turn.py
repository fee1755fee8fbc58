"""The end-of-turn judgement: the transcript's cues and the combination (plain
strings and numbers), then the real Smart Turn v3.2 model on Piper's voice."""

import importlib.util
from functools import cache

import numpy as np
import pytest
import soundfile
from helpers import SHORT_QUESTIONS, run_cli, speech_file, spoken_16k, write_config

from assistant.audio.capture import SAMPLE_RATE
from assistant.core.errors import ConfigError
from assistant.listen.turn import SILENCE_S, TurnModel, Verdict, judge, model_path, transcript_closed


@pytest.mark.parametrize("text, closed", [
    ("How long should I rest between sets?", True),
    ("Give me three tips for my squat.", True),
    ("What are you looking at?", True),  # a question may end on a preposition
    ("I think so.", True),
    ("I want to get better at.", False),  # whisper's full stop on a fragment
    ("I want to get better at...", False),
    ("I did some squats and", False),
    ("My knee hurts, so", False),
    ("My knee hurts so.", False),
    ("What should I eat before?", False),
    ("Can you give me a plan for the?", False),
    ("I usually train in the morning but", False),
    ("Um,", False),
    ("After my long run I always feel", False),  # a verb that wants what comes next
    ("How many minutes of rest do I need be", False),
    ("Can you tell me how to get better at?", False),  # a preposition no wh-word left there
    ("Who are you training with?", True),
    ("Can you tell me how to get better at? Can you", False),  # a question begun again
    ("I feel good.", True), ("That is all I need.", True), ("Yes I can.", True),
    ("Give me a plan for my legs", None),
    ("", None),
])
def test_the_transcript_says_whether_a_clause_is_still_open(text, closed):
    assert transcript_closed(text) is closed


@pytest.mark.parametrize("probability, text, verdict", [
    (0.9, "How should I warm up before a run?", Verdict.END),
    (0.25, "Should I run in the morning or in the evening?", Verdict.END),  # a question mark lowers the bar
    (0.05, "Should I run in the morning or in the evening?", Verdict.WAIT),
    (0.9, "Give me three tips for my squat.", Verdict.END),
    (0.3, "Give me three tips for my squat.", Verdict.HOLD),
    (0.99, "I want to get better at.", Verdict.HOLD),  # an open clause whatever the voice did
    (0.99, "What should I eat before?", Verdict.HOLD),
    (0.9, "Give me a plan for my legs", Verdict.WAIT),
    (0.1, "Give me a plan for my legs", Verdict.HOLD),
    (0.9, "", Verdict.WAIT),
])
def test_judge_combines_the_model_and_the_transcript(probability, text, verdict):
    assert judge(probability, text) is verdict


@cache
def model() -> TurnModel:
    return TurnModel()


def at_16k(sentence: str, tail_s: float = 0.15) -> np.ndarray:
    """Piper's voice at the microphone's rate, with the endpointer's lead and tail."""
    audio = spoken_16k(sentence)
    silence = lambda s: np.zeros(int(SAMPLE_RATE * s), np.float32)  # noqa: E731
    return np.concatenate([silence(0.3), audio, silence(tail_s)]).astype(np.int16)


def test_the_bundled_model_is_found_in_the_pipecat_wheel():
    path = model_path("smart-turn-v3.2")
    assert path.name == "smart-turn-v3.2-cpu.onnx" and path.stat().st_size > 8_000_000


def test_features_match_pipecats_reference_implementation():
    """faster-whisper's log-mel on the normalised waveform is exactly what pipecat
    feeds the model (its vendored transformers code, read from the wheel)."""
    source = model_path("smart-turn-v3.2").parent.parent / "_whisper_features.py"
    spec = importlib.util.spec_from_file_location("smart_turn_features", source)
    assert spec is not None and spec.loader is not None
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    audio = at_16k("How should I warm up before a long run?")
    heard = np.concatenate([audio, np.zeros(int(SILENCE_S * SAMPLE_RATE), np.int16)])  # the silence assumed to go on
    padded = np.pad(heard.astype(np.float32) / 32768.0, (8 * SAMPLE_RATE - len(heard), 0))
    expected = reference.compute_whisper_log_mel_features(padded)
    session = model().session
    probability = float(session.run(None, {model().input: expected[None]})[0].reshape(-1)[0])
    assert model().probability(audio) == pytest.approx(probability, abs=1e-4)


def test_the_model_hears_a_finished_question_and_a_sentence_left_hanging():
    assert model().probability(at_16k("What should I eat after a hard workout?")) > 0.9
    assert model().probability(at_16k("I usually train in the morning but")) < 0.1


def test_a_missing_turn_model_is_a_config_error_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match="vad.turn_model"):
        model_path(str(tmp_path / "missing.onnx"))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="vad.turn_model: cannot load"):
        TurnModel(str(bad))
    config = write_config(tmp_path / "config.yaml", f"vad:\n  turn_model: {bad}\n")
    silence = tmp_path / "silence.wav"
    soundfile.write(str(silence), np.zeros(SAMPLE_RATE, np.int16), SAMPLE_RATE)
    result = run_cli("run", "--config", config, "--input", silence, "--output", tmp_path / "o.wav", timeout=120)
    assert result.code == 2 and result.stderr.count("\n") == 1 and "vad.turn_model" in result.stderr, result.stderr


def test_most_short_complete_questions_end_at_the_short_pause(tmp_path):
    """Twenty short questions from a file (on the stream clock, so the same turns
    every run): at least 80 % are judged over at 210 ms of silence instead of
    waiting; none is split, none is lost."""
    audio = speech_file(tmp_path / "questions.wav", SHORT_QUESTIONS, gap_s=2.0)
    config = write_config(tmp_path / "config.yaml", "llm:\n  endpoints: []\n  embedded: {enabled: false}\n")
    result = run_cli("run", "--config", config, "--input", audio, "--output", tmp_path / "out.wav",
                     events=tmp_path / "events.jsonl", timeout=300)
    assert result.code == 0, result.stderr[-2000:]
    detected = [e["data"] for e in result.named("SPEECH_DETECTED")]
    assert len(detected) == len(SHORT_QUESTIONS), [d["text"] for d in detected]
    quick = [d for d in detected if d["silence_ms"] <= 300]
    assert len(quick) >= 16, [(d["text"], d["silence_ms"]) for d in detected]
    assert all(d["silence_ms"] >= 195 for d in quick)  # 210 ms after the voice, within half a frame
