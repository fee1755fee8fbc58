"""Soak: does anything grow per turn? N turns through the real daemon, typed
through POST /say, answered by a fast loopback LLM server (tests/ollama_server.py
with a canned reply) and spoken by the real Piper voice into a WAV, while the
daemon's resident memory and open file descriptors are sampled.

Prints a row every ``--every`` turns, then the slope of RSS per 1,000 turns
after the warm-up (a least-squares line through the samples).

    .venv/bin/python benchmarks/soak.py [--turns 2000] [--warmup 300] [--every 100]

``--embedded``: the coach as a new user runs it with no server, the bundled
SmolLM2 in process (``llm: {endpoints: []}``), on mixed turns: about 70 % skill
commands (timers, log entries, questions about the log) and 30 % coaching
questions to the model, each said ``--pause`` seconds (1.0) after the reply before
it has been spoken (people answer after a breath, and between sets far later). Per
hundred turns it prints the questions' first-token times, their prompt tokens,
apologies, errors and RSS; then the daemon is restarted on the same history
(``history.resume_turns: 20``) and asked five more questions.

    .venv/bin/python benchmarks/soak.py --embedded [--turns 1000] [--every 100] [--pause 1.0] [--code DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from helpers import SHORT_QUESTIONS  # noqa: E402
from servers import free_port, ollama  # noqa: E402

REPLY = "Good work. Keep your back straight and breathe out as you push."


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def turns_done(client: httpx.Client, base: str) -> int:
    """Replies spoken to the end (into the WAV)."""
    return int(client.get(base + "/health").json()["spoken"])


QUESTIONS = SHORT_QUESTIONS + [
    "Is that enough rest before my next set?",
    "What should I focus on in my next session?",
    "How do I keep my back straight when I lift?",
    "Should I stretch now or after the last set?",
]


def commands(turn: int) -> str:
    """The skill commands a session at the gym is made of."""
    n = turn % 9 + 2
    return [
        f"Log 3 sets of {n} squats at {40 + turn % 30} kilos",
        f"Set a timer for {n} minutes",
        "Cancel the timer",
        f"Log {10 + turn % 15} push-ups",
        "How many push-ups did I do today?",
        f"I ran {n} kilometres in {n * 6} minutes",
        "How much time is left?",
    ][turn % 7]


def utterances(turns: int, seed: int = 7) -> list[tuple[str, bool]]:
    """(text, is a question) for ``turns`` turns: about 30 % questions."""
    draw = random.Random(seed)
    out, asked = [], 0
    for turn in range(turns):
        if draw.random() < 0.3:
            out.append((QUESTIONS[asked % len(QUESTIONS)], True))
            asked += 1
        else:
            out.append((commands(turn), False))
    return out


class Events:
    """The daemon's --events file, read as it grows."""

    def __init__(self, path: Path):
        self.path, self.offset, self.seen = path, 0, []

    def read(self) -> list[dict]:
        if self.path.exists():
            with self.path.open() as f:
                f.seek(self.offset)
                chunk = f.read()
            whole = chunk[: chunk.rfind("\n") + 1]  # a line being written is read next time
            self.offset += len(whole.encode())
            self.seen += [json.loads(line) for line in whole.splitlines() if line.strip()]
        return self.seen

    def wait(self, match, seconds: float, proc: subprocess.Popen) -> dict:
        deadline = time.monotonic() + seconds
        start = 0
        while True:
            events = self.read()
            for event in events[start:]:
                if match(event):
                    return event
            start = len(events)
            if proc.poll() is not None:
                raise SystemExit("the daemon exited")
            if time.monotonic() > deadline:
                raise SystemExit(f"no such event within {seconds:g} s")
            time.sleep(0.02)


def start_daemon(folder: Path, config: Path, events: Path, run: int,
                 code: Path = ROOT) -> tuple[subprocess.Popen, object]:
    silence = folder / "silence.flac"
    if not silence.exists():  # the input: long enough to outlast any run
        soundfile.write(str(silence), np.zeros(16000 * 4 * 3600, np.int16), 16000)
    env = {**os.environ, "XDG_STATE_HOME": str(folder / "state")}
    log = (folder / f"daemon{run}.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant.cli", "run", "--config", str(config), "--input", str(silence),
         "--realtime", "--output", str(folder / f"soak{run}.wav"), "--events", str(events)],
        cwd=code, env=env, stdout=subprocess.DEVNULL, stderr=log)
    return proc, log


def warmed(log_path: Path, proc: subprocess.Popen, seconds: float = 60) -> None:
    """The model has read the system prompt and the resumed history (llm.warm), or
    ``seconds`` have passed (code older than that log line says nothing of it)."""
    deadline = time.monotonic() + seconds
    while "read the context" not in log_path.read_text():
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited; see {log_path}")
        if time.monotonic() > deadline:
            print(f"(the daemon did not say it read the context within {seconds:g} s; going on)")
            return
        time.sleep(0.1)


def ask(client: httpx.Client, base: str, text: str, events: Events, proc: subprocess.Popen) -> tuple[dict, int]:
    """Say ``text``; its RESPONSE_GENERATED, once the reply has been spoken, and the
    errors the turn raised."""
    response = client.post(base + "/say", json={"text": text})
    if response.status_code != 202:
        raise SystemExit(f"/say answered {response.status_code}: {response.text}")
    turn = response.json()["utterance_id"]
    generated = events.wait(lambda e: e["event"] == "RESPONSE_GENERATED" and e["data"]["turn_id"] == turn, 120, proc)
    events.wait(lambda e: e["event"] == "SPEAKING_FINISHED" and e["data"]["turn_id"] == turn, 60, proc)
    errors = sum(1 for e in events.read() if e["event"] == "ERROR_OCCURRED" and e["data"].get("turn_id") == turn)
    return generated["data"], errors


def embedded(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="assistant-soak-embedded-"))
    port = free_port()
    config = folder / "config.yaml"
    config.write_text(f"llm:\n  endpoints: []\nstatus_api: {{enabled: true, port: {port}}}\n"
                      "history: {resume_turns: 20}\nlog_level: INFO\n")
    events = Events(folder / "events.jsonl")
    base = f"http://127.0.0.1:{port}"
    rows: list[dict] = []
    print(f"{args.turns} mixed turns on the embedded model; the daemon's files are in {folder}")
    print("| turns | skill / model answers | first token median (ms) | p95 (ms) | max (ms) "
          "| prompt tokens median / max | apologies | errors | RSS (MiB) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    proc, log = start_daemon(folder, config, events.path, 1, args.code)
    try:
        events.wait(lambda e: e["event"] == "SYSTEM_STARTED", 180, proc)
        warmed(Path(log.name), proc)
        with httpx.Client(timeout=30) as client:
            block: list[tuple[dict, int, bool]] = []
            for turn, (text, question) in enumerate(utterances(args.turns), start=1):
                time.sleep(args.pause)
                generated, errors = ask(client, base, text, events, proc)
                block.append((generated, errors, question))
                if turn % args.every == 0:
                    rows.append(summary(turn, block, rss_mib(proc.pid)))
                    block = []
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    first = rows[0]["median"]
    later = [r["median"] for r in rows[1:]]
    worst = float("inf") if any(math.isnan(m) for m in later) else max(later, default=first)
    print(f"\napologies {sum(r['apologies'] for r in rows)}, errors {sum(r['errors'] for r in rows)}; worst later "
          f"block against the first: {worst / first:.2f}x the median ({worst:.0f} ms against {first:.0f} ms; "
          "inf: a block where no question was answered by the model)")
    events = Events(folder / "events2.jsonl")
    proc, log = start_daemon(folder, config, events.path, 2, args.code)
    try:
        events.wait(lambda e: e["event"] == "SYSTEM_STARTED", 180, proc)
        warmed(Path(log.name), proc)
        with httpx.Client(timeout=30) as client:
            after = []
            for question in QUESTIONS[:5]:
                time.sleep(args.pause)
                after.append(ask(client, base, question, events, proc)[0])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    print("after a restart (resume_turns: 20), five questions: first token "
          + ", ".join(f"{g['first_token_ms']:.0f}" for g in after) + " ms; prompt tokens "
          + ", ".join(str(g["prompt_tokens"]) for g in after)
          + f"; apologies {sum(g['api'] == 'none' for g in after)}")


def summary(turn: int, block: list[tuple[dict, int, bool]], rss: float) -> dict:
    asked = [g for g, _, question in block if question]
    firsts = sorted(g["first_token_ms"] for g in asked if g["api"] == "embedded")
    prompts = sorted(g["prompt_tokens"] for g in asked if g["api"] == "embedded")
    p95 = firsts[min(len(firsts) - 1, int(len(firsts) * 0.95))] if firsts else float("nan")
    apologies = sum(1 for g, _, _ in block if g["api"] == "none")
    errors = sum(e for _, e, _ in block)
    row = {"median": statistics.median(firsts) if firsts else float("nan"), "apologies": apologies, "errors": errors}
    skills = sum(1 for g, _, _ in block if g["api"] == "skill")
    slowest = max(firsts, default=float("nan"))
    print(f"| {turn} | {skills} / {len(firsts)} | {row['median']:.0f} | {p95:.0f} | {slowest:.0f} "
          f"| {statistics.median(prompts) if prompts else 0:.0f} / {max(prompts, default=0)} | {apologies} "
          f"| {errors} | {rss:.1f} |", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=None, help="2000; 1000 with --embedded")
    parser.add_argument("--warmup", type=int, default=300, help="turns before the slope is measured")
    parser.add_argument("--every", type=int, default=100, help="turns between samples")
    parser.add_argument("--embedded", action="store_true", help="mixed turns on the embedded model")
    parser.add_argument("--pause", type=float, default=1.0,
                        help="--embedded: seconds from the end of a reply to the next utterance")
    parser.add_argument("--code", type=Path, default=ROOT,
                        help="--embedded: run the daemon of this checkout (another commit, to compare)")
    args = parser.parse_args()
    if args.embedded:
        args.turns = args.turns or 1000
        return embedded(args)
    args.turns = args.turns or 2000
    folder = Path(tempfile.mkdtemp(prefix="assistant-soak-"))
    silence = folder / "silence.flac"  # the daemon's input: long enough to outlast the run
    soundfile.write(str(silence), np.zeros(16000 * (60 + args.turns // 2), np.int16), 16000)
    port = free_port()
    with ollama(canned=REPLY, names=("coach",)) as server:
        config = folder / "config.yaml"
        config.write_text(f"llm:\n  endpoints: [{{url: '{server.url}', models: [coach]}}]\n"
                          f"status_api: {{enabled: true, port: {port}}}\nlog_level: WARNING\n")
        env = {**os.environ, "XDG_STATE_HOME": str(folder / "state")}
        log = (folder / "daemon.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "run", "--config", str(config), "--input", str(silence),
             "--realtime", "--output", str(folder / "soak.wav")],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
        base = f"http://127.0.0.1:{port}"
        samples: list[tuple[int, float, float, int]] = []  # turns, seconds, RSS MiB, fds
        try:
            with httpx.Client(timeout=30) as client:
                deadline = time.monotonic() + 180
                while True:
                    try:
                        if client.get(base + "/health").json()["state"] == "listening":
                            break
                    except (httpx.HTTPError, ValueError):
                        pass
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit(f"the daemon did not start; see {log.name}")
                    time.sleep(0.2)
                started = time.monotonic()
                samples.append((0, 0.0, rss_mib(proc.pid), fds(proc.pid)))
                print(f"{'turns':>6} {'s':>7} {'RSS MiB':>8} {'fds':>4}")
                for turn in range(1, args.turns + 1):
                    response = client.post(base + "/say", json={"text": f"Set {turn} done. How was my form?"})
                    if response.status_code != 202:
                        raise SystemExit(f"/say answered {response.status_code}: {response.text}")
                    while turns_done(client, base) < turn - 1:  # at most two turns in flight
                        time.sleep(0.002)
                    if turn % args.every == 0:
                        while turns_done(client, base) < turn:
                            time.sleep(0.002)
                        row = (turn, time.monotonic() - started, rss_mib(proc.pid), fds(proc.pid))
                        samples.append(row)
                        print(f"{row[0]:>6} {row[1]:>7.1f} {row[2]:>8.1f} {row[3]:>4}", flush=True)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            log.close()
    after = [s for s in samples if s[0] >= args.warmup]
    x = np.array([s[0] for s in after], float)
    y = np.array([s[2] for s in after])
    slope = float(np.polyfit(x, y, 1)[0]) * 1000 if len(after) >= 2 else float("nan")
    print()
    print("| turns | RSS after warm-up (MiB) | RSS at the end (MiB) | RSS slope (MiB per 1,000 turns) "
          "| fds after warm-up | fds at the end | turns per s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rate = samples[-1][0] / samples[-1][1] if samples[-1][1] else 0.0
    print(f"| {samples[-1][0]} | {after[0][2]:.1f} | {after[-1][2]:.1f} | {slope:+.2f} | {after[0][3]} "
          f"| {after[-1][3]} | {rate:.1f} |")
    print(f"\nwarm-up: {args.warmup} turns; samples every {args.every} turns; fds min/max after warm-up: "
          f"{min(s[3] for s in after)}/{max(s[3] for s in after)}; "
          f"RSS median after warm-up {statistics.median(y):.1f} MiB")


if __name__ == "__main__":
    main()
