"""The interview by voice on the PulseAudio rig: a new user is offered it once,
starts it by voice, and the answers are stored as they are given."""

import json
import time

from audio_rig import start_daemon
from helpers import run_cli, speech_file


def test_a_new_user_is_offered_the_interview_once_and_answers_by_voice(rig, tmp_path):
    said = [speech_file(tmp_path / f"s{i}.wav", [text], gap_s=0.3, lead_s=0.2)
            for i, text in enumerate(["Set up my coach.", "Call me Sam."])]
    daemon = start_daemon(rig, tmp_path / "first", new_user=True)
    try:
        [offer] = daemon.wait_for("RESPONSE_GENERATED")
        assert [e["event"] for e in daemon.events() if e["event"] in ("LISTENING", "RESPONSE_GENERATED")] == \
            ["RESPONSE_GENERATED", "LISTENING"]  # so the second run, checked at LISTENING, would show one
        assert offer["data"]["model"] == "interview" and "set up my coach" in offer["data"]["text"].lower()
        daemon.wait_for("SPEAKING_FINISHED")
        for index, question in enumerate(("Question 1 of 6", "Question 2 of 6"), start=2):
            time.sleep(0.8)  # a person answers after a breath; half-duplex, the mic opens 0.3 s after the coach
            rig.play(said[index - 2]).wait(timeout=30)
            replies = daemon.wait_for("RESPONSE_GENERATED", count=index, timeout=60)
            assert question in replies[-1]["data"]["text"], [e["data"]["text"] for e in daemon.events("SPEECH_DETECTED")]
            daemon.wait_for("SPEAKING_FINISHED", count=index, timeout=60)
    finally:
        assert daemon.stop() == 0
    profile = json.loads(run_cli("profile", "--json", state=tmp_path / "state").stdout)
    heard = [e["data"]["text"] for e in daemon.events("SPEECH_DETECTED")]  # once heard as "Call me Send"
    assert profile["profile"] == {"name": "Sam"} and profile["questions_done"] == 1, (profile, heard)

    again = start_daemon(rig, tmp_path / "second", new_user=True)  # the same user: offered before
    try:  # an offer is made right after SYSTEM_STARTED, before LISTENING (as the first run's was)
        assert [e["event"] for e in again.events() if e["event"] in ("LISTENING", "RESPONSE_GENERATED")] == \
            ["LISTENING"]
    finally:
        assert again.stop() == 0
