"""Timers through the real daemon, from files: on the stream clock the result is
the same every run, whatever the machine's speed."""

from helpers import QUICK_REPLIES, run_cli, speech_file, write_config

from assistant.audio.capture import read_audio_file

STEADY = "tts: {noise_scale: 0, noise_w_scale: 0}\n"  # the same audio every run: what whisper hears of it too


def run(tmp_path, sentences, gaps):
    """``sentences`` spoken in one file, the i-th followed by ``gaps[i]`` s of silence."""
    speech_file(tmp_path / "in.wav", sentences, gap_s=gaps)
    return run_cli("run", "--input", tmp_path / "in.wav", "--output", tmp_path / "out.wav",
                   "--config", write_config(tmp_path / "c.yaml", QUICK_REPLIES + STEADY), events=tmp_path / "e.jsonl")


def test_a_spoken_ten_second_timer_ends_ten_seconds_of_stream_time_later(tmp_path, transcriber):
    result = run(tmp_path, ["Start a ten second timer."], [14.0])
    assert result.code == 0, result.stderr
    [heard] = result.named("SPEECH_DETECTED")
    [started] = result.named("TIMER_STARTED")
    [reply] = result.named("RESPONSE_GENERATED")
    assert reply["data"]["api"] == "skill" and reply["data"]["text"] == "Okay! 10 seconds, starting now."
    assert started["data"]["clock"] == "stream" and started["data"]["total_s"] == 10
    [done] = [c for c in result.named("TIMER_CUE") if c["data"]["cue"] == "done"]
    assert abs(done["data"]["played_s"] - heard["data"]["end_s"] - 10.0) <= 0.2
    assert [c["data"]["text"] for c in result.named("TIMER_CUE")] == ["Three.", "Two.", "One.", "Time's up!"]
    assert len(result.named("TIMER_FINISHED")) == 1
    names = [e["event"] for e in result.events]
    assert names.index("SPEAKING_FINISHED") < names.index("TIMER_CUE")  # the confirmation first
    spoken = transcriber.transcribe_sync(read_audio_file(tmp_path / "out.wav")).text.lower()
    assert "starting now" in spoken and spoken.index("starting now") < spoken.index("time")


def test_the_same_file_gives_the_same_cues_every_run(tmp_path):
    timings = []
    for attempt in range(2):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        result = run(folder, ["Start a ten second timer."], [14.0])
        timings.append([(c["data"]["text"], c["data"]["played_s"]) for c in result.named("TIMER_CUE")])
    assert timings[0] == timings[1] and len(timings[0]) == 4


def test_a_session_answers_time_left_and_stops_by_voice(tmp_path):
    result = run(tmp_path, ["Three rounds of twenty seconds on and ten off.", "How much time is left?",
                            "Stop the timer."], [9.0, 4.0, 3.0])
    assert result.code == 0, result.stderr
    replies = [e["data"] for e in result.named("RESPONSE_GENERATED")]
    assert [r["api"] for r in replies] == ["skill"] * 3
    assert replies[0]["text"] == "Okay! 3 rounds: 20 seconds on, 10 off."
    assert replies[1]["text"].startswith("Round 1 of 3: ") and "of work left" in replies[1]["text"]
    assert replies[2]["text"] == "Session stopped."
    [cancelled] = result.named("TIMER_CANCELLED")
    assert not result.named("TIMER_FINISHED")
    cues = [c["data"] for c in result.named("TIMER_CUE")]
    assert [c["cue"] for c in cues][:4] == ["countdown", "countdown", "countdown", "go"]
    assert all(c["due_s"] < cancelled["data"]["at_s"] for c in cues)  # nothing after the stop


def test_a_question_while_a_timer_runs_goes_to_the_model_and_the_cue_stays_on_time(tmp_path):
    result = run(tmp_path, ["Start a ten second timer.", "How long should I rest between sets?"], [1.0, 12.0])
    assert result.code == 0, result.stderr
    replies = [e["data"] for e in result.named("RESPONSE_GENERATED")]
    assert [r["api"] for r in replies] == ["skill", "embedded"]
    first = result.named("SPEECH_DETECTED")[0]["data"]
    [done] = [c["data"] for c in result.named("TIMER_CUE") if c["data"]["cue"] == "done"]
    assert abs(done["played_s"] - first["end_s"] - 10.0) <= 0.2
