"""A coach that knows you, through the real daemon: spoken logging, spoken
memory and the typed interview, each across a restart, with the requests the
language model receives read back from a loopback Ollama server."""

import json
import os
import signal
import subprocess
import sys

from helpers import QUICK_REPLIES, ROOT, run_cli, speech_file, write_config
from servers import asked, ollama


def with_server(path, url):
    return write_config(path, f"llm:\n  endpoints: [{{url: '{url}', models: ['smollm2:135m']}}]\n"
                              "  options: {max_tokens: 30, seed: 2}\n")


def sent(server) -> list[list[dict]]:
    return [r["messages"] for r in asked(server)]


def test_a_spoken_log_entry_is_stored_and_read_back_after_a_restart_without_the_model(tmp_path):
    state = tmp_path / "state"
    speech_file(tmp_path / "log.wav", ["Coach, log three sets of ten squats at sixty kilos."])
    result = run_cli("run", "--input", tmp_path / "log.wav", "--output", tmp_path / "o1.wav",
                     "--config", write_config(tmp_path / "c.yaml", QUICK_REPLIES), events=tmp_path / "e1.jsonl",
                     state=state)
    assert result.code == 0, result.stderr
    [reply] = result.named("RESPONSE_GENERATED")
    assert reply["data"]["api"] == "skill" and reply["data"]["text"] == "Logged squats: 3 sets of 10 at 60 kilos."
    [logged] = result.named("WORKOUT_LOGGED")
    assert logged["data"]["action"] == "logged" and logged["data"]["entry"]["exercise"] == "squat"

    stored = json.loads(run_cli("log", "--json", state=state).stdout)
    assert [{k: e[k] for k in ("exercise", "sets", "reps", "weight", "weight_unit", "distance", "duration_s")}
            for e in stored] == [{"exercise": "squat", "sets": 3, "reps": 10, "weight": 60.0, "weight_unit": "kg",
                                  "distance": None, "duration_s": None}]
    table = run_cli("log", "--csv", "--since", "today", state=state)
    assert table.code == 0 and [row.split(",")[3:7] for row in table.stdout.splitlines()[1:]] == \
        [["squat", str(n), "60", "10"] for n in (1, 2, 3)]  # Strong's columns: a row per set

    with ollama() as server:  # the model is there, and must not be asked
        speech_file(tmp_path / "ask.wav", ["What did I do today?"])
        again = run_cli("run", "--input", tmp_path / "ask.wav", "--output", tmp_path / "o2.wav",
                        "--config", with_server(tmp_path / "c2.yaml", server.url), events=tmp_path / "e2.jsonl",
                        state=state)
        assert again.code == 0, again.stderr
        assert sent(server) == []
    [answer] = again.named("RESPONSE_GENERATED")
    assert answer["data"]["api"] == "skill" and answer["data"]["model"] == "workouts"
    assert answer["data"]["text"] == "Today you logged squats: 3 sets of 10 at 60 kilos."


def test_a_remembered_fact_reaches_the_system_prompt_after_a_restart_until_it_is_forgotten(tmp_path):
    state = tmp_path / "state"
    speech_file(tmp_path / "remember.wav", ["Remember that my left knee is sore."])
    first = run_cli("run", "--input", tmp_path / "remember.wav", "--output", tmp_path / "o1.wav",
                    "--config", write_config(tmp_path / "c.yaml", QUICK_REPLIES), events=tmp_path / "e1.jsonl",
                    state=state)
    assert first.code == 0, first.stderr
    [update] = first.named("MEMORY_UPDATED")
    assert update["data"]["action"] == "added" and update["data"]["text"] == "my left knee is sore"
    assert first.named("RESPONSE_GENERATED")[0]["data"]["text"] == "Got it. I'll remember that your left knee is sore."
    [fact] = json.loads(run_cli("memory", "--json", state=state).stdout)
    assert fact["text"] == "my left knee is sore"

    with ollama() as server:
        speech_file(tmp_path / "then.wav", ["How should I warm up?", "Forget that my knee is sore.",
                                            "How should I cool down?"])
        second = run_cli("run", "--input", tmp_path / "then.wav", "--output", tmp_path / "o2.wav",
                         "--config", with_server(tmp_path / "c2.yaml", server.url), events=tmp_path / "e2.jsonl",
                         state=state)
        assert second.code == 0, second.stderr
        requests = sent(server)
    assert len(requests) == 2
    before, after = requests[0][0], requests[1][0]
    assert before["role"] == "system" and "my left knee is sore" in before["content"]
    assert before["content"].startswith("You are Coach")  # the persona first, the fact after it
    assert after["role"] == "system" and "knee" not in after["content"]
    assert [u["data"]["action"] for u in second.named("MEMORY_UPDATED")] == ["forgotten"]
    assert json.loads(run_cli("memory", "--json", state=state).stdout) == []


def onboard(state):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "XDG_STATE_HOME": str(state)}
    return subprocess.Popen([sys.executable, "-m", "assistant.cli", "onboard", "--text"], cwd=ROOT, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_typed_interview_killed_after_question_3_resumes_and_its_profile_reaches_the_prompt(tmp_path):
    state = tmp_path / "state"
    proc = onboard(state)
    try:
        assert "Question 1 of 6" in proc.stdout.readline()
        for answer, next_question in (("Call me Sam", 2), ("A 5k under 25 minutes by June", 3),
                                      ("I run twice a week, 3k easy", 4)):
            proc.stdin.write(answer + "\n")
            proc.stdin.flush()
            assert f"Question {next_question} of 6" in proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    partial = json.loads(run_cli("profile", "--json", state=state).stdout)
    assert partial["questions_done"] == 3 and not partial["complete"]
    assert partial["profile"]["level"] == "I run twice a week, 3k easy"

    proc = onboard(state)
    out, err = proc.communicate("Three days, 45 minutes\nskip\nShort and firm\n", timeout=60)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert "Picking up where we stopped. Question 4 of 6" in lines[0]
    assert lines[-1].startswith("Thanks, Sam.") and "Your plan is ready, beginner running." in lines[-1]
    profile = json.loads(run_cli("profile", "--json", state=state).stdout)
    assert profile["complete"] and profile["profile"] == {
        "name": "Sam", "goal": "A 5k under 25 minutes by June", "level": "I run twice a week, 3k easy",
        "schedule": "Three days, 45 minutes", "style": "Short and firm"}
    plan = json.loads(run_cli("plan", "--json", state=state).stdout)["plan"]  # made as the interview completed
    assert plan["kind"] == "running" and [day["day"] for day in plan["days"]] == ["monday", "wednesday", "friday"]

    with ollama() as server:
        config = with_server(tmp_path / "c.yaml", server.url)
        asked = run_cli("ask", "What should I do this week?", "--config", config, state=state)
        assert asked.code == 0, asked.stderr
        [messages] = sent(server)
        speech_file(tmp_path / "week.wav", ["Coach, what's my plan for the week?"])
        week = run_cli("run", "--input", tmp_path / "week.wav", "--output", tmp_path / "week_out.wav",
                       "--config", config, events=tmp_path / "week.jsonl", state=state)
        assert week.code == 0, week.stderr
        [reply] = week.named("RESPONSE_GENERATED")
        assert reply["data"]["api"] == "skill" and reply["data"]["text"] == (
            "3 days this week: Monday run-walk intervals, Wednesday easy run, Friday long easy run.")
        assert len(sent(server)) == 1  # the plan answered; the model was not asked
    system = messages[0]["content"]
    assert "Call them: Sam" in system and "Main goal: A 5k under 25 minutes by June" in system
    assert "Injuries or limits" not in system  # skipped


def test_assistant_onboard_asks_by_voice_from_a_file(tmp_path):
    state = tmp_path / "state"
    speech_file(tmp_path / "answers.wav", ["Call me Sam.", "Run a 5k under 25 minutes by June."])
    result = run_cli("onboard", "--input", tmp_path / "answers.wav", "--output", tmp_path / "o.wav",
                     "--config", write_config(tmp_path / "c.yaml", QUICK_REPLIES), events=tmp_path / "e.jsonl",
                     state=state)
    assert result.code == 0, result.stderr
    said = [e["data"] for e in result.named("RESPONSE_GENERATED")]
    assert [s["model"] for s in said] == ["interview"] * 3
    assert "Question 1 of 6. What should I call you?" in said[0]["text"]
    assert said[1]["text"].startswith("Nice to meet you, Sam. Question 2 of 6")
    assert said[2]["text"].startswith("Question 3 of 6")
    profile = json.loads(run_cli("profile", "--json", state=state).stdout)
    assert profile["questions_done"] == 2 and profile["profile"]["name"] == "Sam"
    assert "5k under 25 minutes" in profile["profile"]["goal"].lower()


def test_memory_auto_keeps_only_the_facts_the_user_said(tmp_path):
    from assistant.skills.memory import SCHEMA

    state = tmp_path / "state"
    proposal = '{"facts": ["my left knee is sore", "the moon is made of cheese"]}'
    with ollama(canned=proposal) as server:  # the same words for the answer and the proposal
        config = with_server(tmp_path / "c.yaml", server.url)
        config.write_text(config.read_text() + "memory:\n  auto: true\n")
        speech_file(tmp_path / "in.wav", ["I think my left knee is sore after yesterday's run."])
        result = run_cli("run", "--input", tmp_path / "in.wav", "--output", tmp_path / "o.wav", "--config", config,
                         events=tmp_path / "e.jsonl", state=state)
        assert result.code == 0, result.stderr
        requests = asked(server)
    assert [r.get("format") for r in requests] == [None, SCHEMA]  # the answer, then the facts
    assert requests[1]["messages"][-1]["content"] == result.named("SPEECH_DETECTED")[0]["data"]["text"]
    assert [(u["data"]["action"], u["data"]["text"]) for u in result.named("MEMORY_UPDATED")] == \
        [("added", "my left knee is sore")]
    assert [f["text"] for f in json.loads(run_cli("memory", "--json", state=state).stdout)] == ["my left knee is sore"]


def test_a_session_is_led_by_voice_from_the_plan_without_the_model(tmp_path):
    """The interview typed (every day, so today is a training day), then by voice:
    the session started, a set reported, the workout finished. The set is logged
    with the reps said, the planned rest is a timer, and no model is asked."""
    state = tmp_path / "state"
    proc = onboard(state)
    out, err = proc.communicate("Sam\nGet stronger\nNever trained\nEvery day, 45 minutes\nNone\nFirm\n", timeout=60)
    assert proc.returncode == 0 and "Your plan is ready, beginner strength. 7 days this week" in out, err
    speech_file(tmp_path / "session.wav", ["Start today's workout.", "Done, eight.", "Finish the workout."],
                gap_s=2.5)
    with ollama() as server:
        result = run_cli("run", "--input", tmp_path / "session.wav", "--output", tmp_path / "out.wav",
                         "--config", with_server(tmp_path / "c.yaml", server.url), events=tmp_path / "e.jsonl",
                         state=state)
        assert result.code == 0, result.stderr
        assert sent(server) == []
    replies = [(e["data"]["api"], e["data"]["text"]) for e in result.named("RESPONSE_GENERATED")]
    heard = [e["data"]["text"] for e in result.named("SPEECH_DETECTED")]
    assert [api for api, _ in replies] == ["skill"] * 3, (replies, heard)
    assert replies[0][1].endswith("set 1 of 3: 10 reps. Say done after the set."), replies
    assert replies[1][1] == "Set 1: 8 reps. Rest 1 minute 30 seconds.", replies
    assert replies[2][1].startswith("Workout done: 1 set of "), replies
    [logged] = result.named("WORKOUT_LOGGED")
    assert (logged["data"]["entry"]["sets"], logged["data"]["entry"]["reps"]) == (1, 8)
    [rest] = result.named("TIMER_STARTED")
    assert (rest["data"]["label"], rest["data"]["total_s"]) == ("set rest", 90)
    assert len(result.named("TIMER_CANCELLED")) == 1  # the rest, ended with the workout
