"""Timers on the PulseAudio rig: cues recorded off the virtual speaker on their
schedule, a question answered during a session, and a timer that survives
kill -9."""

import json
import signal
import time

import httpx
from audio_rig import LIVE_CONFIG, start_daemon
from helpers import run_cli, speech_file, wer
from servers import free_port

from assistant.skills.timing import LEAD_IN_S

ON_TIME_S = 0.15  # a cue's first sample leaves the speaker this close to its time


def test_an_interval_session_is_cued_on_time_and_a_question_in_it_is_answered(rig, tmp_path):
    command = speech_file(tmp_path / "command.wav", ["Three rounds of five seconds on and three off."],
                          gap_s=0.3, lead_s=0.2)
    question = speech_file(tmp_path / "question.wav", ["How should I breathe?"], gap_s=0.3, lead_s=0.1)
    daemon = start_daemon(rig, tmp_path / "d")
    try:
        recorder = rig.record_speaker_timed()
        rig.play(command).wait(timeout=30)
        [started] = daemon.wait_for("TIMER_STARTED", timeout=30)
        origin = started["data"]["started_s"]
        go2 = origin + LEAD_IN_S + 8  # round 2 starts: after the lead-in, 5 on + 3 off
        time.sleep(max(0.0, go2 + 1.8 - time.time()))  # after "Go! Round 2 of 3." has been said
        rig.play(question).wait(timeout=30)
        daemon.wait_for("TIMER_FINISHED", timeout=60)
        asked = daemon.wait_for("SPEECH_DETECTED", count=2, timeout=30)[1]["data"]
        answer = daemon.wait_for("RESPONSE_GENERATED", count=2, timeout=60)[1]["data"]
        assert wer("How should I breathe?", asked["text"]) <= 0.25, asked["text"]  # heard over the cues
        assert answer["api"] == "embedded" and not answer["interrupted"] and len(answer["text"].split()) >= 3
        spoken = daemon.wait_for("SPEAKING_FINISHED", count=2, timeout=60)[1]["data"]
        assert spoken["turn_id"] == answer["turn_id"] and not spoken["interrupted"]
        recorder.until(max(time.time(), daemon.events("TIMER_CUE")[-1]["data"]["due_s"] + 1.0))
    finally:
        assert daemon.stop() == 0
        rig.stop()
    cues = [e["data"] for e in daemon.events("TIMER_CUE")]
    assert [c["cue"] for c in cues] == ["countdown"] * 3 + ["go", "rest", "go", "rest", "go", "done"]
    answered = [e["time"] for e in daemon.events("SPEAKING_STARTED")][1]
    after_question = [c for c in cues if c["due_s"] > asked["speech_ended_at"]]
    assert after_question and all(c["late_ms"] <= 1000 for c in after_question)
    # Cues that fell in silence are found in the recording itself.
    onsets = recorder.onsets()
    alone = [c for c in cues if c["due_s"] < go2 + 1 or c["due_s"] > answered + 12]
    assert len(alone) >= 5
    for cue in alone:
        heard = min(onsets, key=lambda t: abs(t - cue["due_s"]))
        assert abs(heard - cue["due_s"]) <= ON_TIME_S, (cue, heard - cue["due_s"])


def test_a_timer_survives_kill_9_and_finishes_on_its_original_time(rig, tmp_path):
    port = free_port()
    config = LIVE_CONFIG + f"status_api: {{enabled: true, port: {port}}}\n"
    first = start_daemon(rig, tmp_path / "first", config)
    try:
        said = httpx.post(f"http://127.0.0.1:{port}/say", json={"text": "Start a 30 second timer."}, timeout=10)
        assert said.status_code == 202
        [started] = first.wait_for("TIMER_STARTED", timeout=30)
        first.wait_for("SPEAKING_FINISHED", timeout=30)
        time.sleep(2.0)
    finally:
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(timeout=10)
    listed = run_cli("timers", "--json", state=tmp_path / "state")
    assert listed.code == 0, listed.stderr
    [timer] = json.loads(listed.stdout)
    assert timer["id"] == started["data"]["timer_id"] and timer["what"] == "timer 30 seconds"
    second = start_daemon(rig, tmp_path / "second", config)
    try:
        [finished] = second.wait_for("TIMER_FINISHED", timeout=60)
        assert finished["data"]["timer_id"] == started["data"]["timer_id"] and not finished["data"]["missed"]
        assert abs(finished["time"] - started["data"]["ends_s"]) <= 1.0
        assert [c["data"]["text"] for c in second.events("TIMER_CUE")][-4:] == ["Three.", "Two.", "One.",
                                                                              "Time's up!"]
    finally:
        assert second.stop() == 0
