"""A training week through the real daemon, each day on its own date (Debian's
faketime): last week's sets imported from a workout app, the interview typed,
"make me a plan" answered by a server model (the loopback Ollama server, its
plan canned), then three sessions led by voice from files with "done" after
each set. The rest timers start by themselves and are cued on time, a missed
set holds its target and met ones raise it, the one record is said once, and
"How was my week?" names the sessions and the record. The only request the
model gets all week is the plan's. And a daemon killed with SIGKILL in the
middle of a set goes on at the same exercise and set, and says so."""

import json
import os
import signal
import subprocess
import time

from helpers import ROOT, cli_argv, faked_env, run_cli, speech_file, write_config
from servers import asked, ollama

from assistant.skills import plan_proposal

DAYS = {"monday": "2026-12-07", "wednesday": "2026-12-09", "friday": "2026-12-11"}
LAST_WEEK = """Date,Workout Name,Duration,Exercise Name,Set Order,Weight,Reps,Distance,Seconds,Notes,Workout Notes,RPE
2026-11-30 18:00:00,Legs,0m,Squat (Barbell),1,60,5,0,0,,,
2026-12-02 18:00:00,Pull,0m,Deadlift (Barbell),1,100,5,0,0,,,
"""
ANSWERS = "Sam\nGet stronger\nTwo years of lifting\nMonday, Wednesday and Friday, 45 minutes\nNone\nFirm\n"
SQUAT = {"exercise": "squat", "sets": 2, "reps": 5, "rest_s": 60}
DEADLIFT = {"exercise": "deadlift", "sets": 2, "reps": 5, "rest_s": 60}
PLAN = {"kind": "strength", "level": "experienced", "days": [
    {"day": "monday", "session": "legs", "targets": [SQUAT]},
    {"day": "wednesday", "session": "pull", "targets": [DEADLIFT]},
    {"day": "friday", "session": "legs", "targets": [SQUAT]}]}
REST_S = 60
CONFIG = "llm:\n  endpoints: [{{url: '{url}', models: ['coach']}}]\n  second_opinion_s: 0\n"


def day(tmp_path, state, server, name: str, sentences: list[str], gaps: list[float]):
    """One day's run from a file of ``sentences``, on that day at 8 in the morning."""
    speech_file(tmp_path / f"{name}.wav", sentences, gap_s=gaps)
    result = run_cli("run", "--input", tmp_path / f"{name}.wav", "--output", tmp_path / f"{name}_out.wav",
                     "--config", write_config(tmp_path / "c.yaml", CONFIG.format(url=server.url)),
                     events=tmp_path / f"{name}.jsonl", state=state, at=f"{DAYS[name]} 08:00:00")
    assert result.code == 0, result.stderr
    replies = [e["data"]["text"] for e in result.named("RESPONSE_GENERATED")]
    assert len(replies) == len(sentences), (replies, [e["data"]["text"] for e in result.named("SPEECH_DETECTED")])
    return result, replies


def rested(result, after: str) -> None:
    """The one rest of the day started by itself at the set's end and was cued on time."""
    [started] = result.named("TIMER_STARTED")
    assert (started["data"]["label"], started["data"]["total_s"]) == ("set rest", REST_S)
    [done] = [c["data"] for c in result.named("TIMER_CUE") if c["data"]["cue"] == "done"]
    assert done["text"] == f"Rest over. {after}"
    assert abs(done["due_s"] - (started["data"]["started_s"] + REST_S)) < 0.01 and 0 <= done["late_ms"] < 500
    [finished] = result.named("TIMER_FINISHED")
    assert finished["data"]["timer_id"] == started["data"]["timer_id"]


def test_a_week_planned_by_the_model_and_led_by_voice(tmp_path):
    state = tmp_path / "state"
    (tmp_path / "last_week.csv").write_text(LAST_WEEK)
    assert run_cli("log", "--import", tmp_path / "last_week.csv", state=state).code == 0
    typed = run_cli("onboard", "--text", state=state, stdin=ANSWERS, at=f"{DAYS['monday']} 07:30:00")
    assert typed.code == 0 and "Your plan is ready, experienced strength" in typed.stdout, typed.stderr

    with ollama(canned=json.dumps(PLAN), names=("coach",)) as server:
        monday, said = day(tmp_path, state, server, "monday",
                           ["Make me a plan.", "Start today's workout.", "Done.", "Done."], [6, 3, REST_S + 6, 4])
        assert said[0].startswith("Your plan is ready, experienced strength. 3 days this week: Monday legs, "
                                  "Wednesday pull, Friday legs.")
        [plan] = asked(server)  # the plan, and nothing else all week
        assert plan["format"] == plan_proposal.schema()
        assert said[1] == "Legs, 1 exercise. Squat, set 1 of 2: 5 reps at 60 kilos. Say done after the set."
        assert said[2] == "Set 1: 5 reps. Rest 1 minute."
        rested(monday, "Squat, set 2 of 2: 5 reps at 60 kilos.")
        assert said[3] == "Set 2: 5 reps. Workout done: 2 sets of legs. Well done. Next time: squat at 65 kilos."

        wednesday, said = day(tmp_path, state, server, "wednesday",
                              ["Start today's workout.", "Done.", "Only three."], [3, REST_S + 6, 4])
        assert said[0] == "Pull, 1 exercise. Deadlift, set 1 of 2: 5 reps at 100 kilos. Say done after the set."
        rested(wednesday, "Deadlift, set 2 of 2: 5 reps at 100 kilos.")
        assert said[2] == "Set 2: 3 reps. Workout done: 2 sets of pull. Well done."  # missed: it holds

        friday, said = day(tmp_path, state, server, "friday",
                           ["Start today's workout.", "Done.", "Done.", "How was my week?"], [3, REST_S + 6, 4, 4])
        assert said[0] == "Legs, 1 exercise. Squat, set 1 of 2: 5 reps at 65 kilos. Say done after the set."
        assert said[1] == "Set 1: 5 reps. That's a new best squat: 65 kilos. Rest 1 minute."
        rested(friday, "Squat, set 2 of 2: 5 reps at 65 kilos.")
        assert said[2] == "Set 2: 5 reps. Workout done: 2 sets of legs. Well done. Next time: squat at 70 kilos."
        assert said[3] == ("You trained on 3 days of the 3 your plan had by today (Monday legs, Wednesday pull, "
                           "Friday legs): 4 sets of squats, 2 sets of deadlifts. New bests: squat. "
                           "That's 2 weeks in a row.")
        assert len(asked(server)) == 1

    everything = [monday, wednesday, friday]
    replies = [e["data"]["text"] for r in everything for e in r.named("RESPONSE_GENERATED")]
    assert sum(text.count("That's a new best") for text in replies) == 1  # said once (and named in the review)
    assert all(e["data"]["api"] == "skill" for r in everything for e in r.named("RESPONSE_GENERATED"))
    log = json.loads(run_cli("log", "--json", "--since", DAYS["monday"], state=state).stdout)
    assert [(e["date"][:10], e["exercise"], e["reps"], e["weight"]) for e in log] == [
        (DAYS["monday"], "squat", 5, 60.0), (DAYS["monday"], "squat", 5, 60.0),
        (DAYS["wednesday"], "deadlift", 5, 100.0), (DAYS["wednesday"], "deadlift", 3, 100.0),
        (DAYS["friday"], "squat", 5, 65.0), (DAYS["friday"], "squat", 5, 65.0)]
    plan = json.loads(run_cli("plan", "--json", state=state).stdout)["plan"]
    assert plan["source"] == "model" and [d["day"] for d in plan["days"]] == ["monday", "wednesday", "friday"]
    targets = {d["day"]: d["targets"][0] for d in plan["days"]}
    assert (targets["monday"]["load_kg"], targets["friday"]["load_kg"]) == (70.0, 70.0)  # raised twice
    assert (targets["wednesday"]["load_kg"], targets["wednesday"]["missed"]) == (100.0, 1)  # held


def test_a_daemon_killed_mid_session_goes_on_at_the_same_set_and_says_so(tmp_path):
    state = tmp_path / "state"
    (tmp_path / "last_week.csv").write_text(LAST_WEEK)
    assert run_cli("log", "--import", tmp_path / "last_week.csv", state=state).code == 0
    typed = run_cli("onboard", "--text", state=state, stdin=ANSWERS, at=f"{DAYS['wednesday']} 07:30:00")
    assert typed.code == 0, typed.stderr
    config = write_config(tmp_path / "c.yaml", "llm:\n  endpoints: []\n")
    speech_file(tmp_path / "first.wav", ["Start today's workout.", "Done."], gap_s=[3, 60])
    events = tmp_path / "first.jsonl"
    proc = subprocess.Popen([*cli_argv("run", "--input", tmp_path / "first.wav", "--realtime", "--output",
                                       tmp_path / "first_out.wav", "--config", config, "--events", events,
                                       at=f"{DAYS['wednesday']} 18:00:00")],
                            cwd=ROOT, env=faked_env(state), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)  # faketime's child is the daemon: killed with it, as a group
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and '"WORKOUT_LOGGED"' not in (events.read_text() if events.exists() else ""):
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)
        assert '"WORKOUT_LOGGED"' in events.read_text()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    speech_file(tmp_path / "again.wav", ["Done."], gap_s=[3])
    again = run_cli("run", "--input", tmp_path / "again.wav", "--output", tmp_path / "again_out.wav",
                    "--config", config, events=tmp_path / "again.jsonl", state=state, at=f"{DAYS['wednesday']} 18:05:00")
    assert again.code == 0, again.stderr
    said = [e["data"]["text"] for e in again.named("RESPONSE_GENERATED")]
    assert said == ["Picking up your workout where we stopped. Deadlift, set 2 of 3: 5 reps at 100 kilos. "
                    "Say done after the set.",
                    "Set 2: 5 reps. Rest 3 minutes."], said
