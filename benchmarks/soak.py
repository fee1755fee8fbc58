"""Soak: does anything grow per turn? N turns through the real daemon, typed
through POST /say, answered by a fast loopback LLM server (tests/ollama_server.py
with a canned reply) and spoken by the real Piper voice into a WAV, while the
daemon's resident memory and open file descriptors are sampled.

Prints a row every ``--every`` turns, then the slope of RSS per 1,000 turns
after the warm-up (a least-squares line through the samples).

    .venv/bin/python benchmarks/soak.py [--turns 2000] [--warmup 300] [--every 100]
"""

from __future__ import annotations

import argparse
import os
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300, help="turns before the slope is measured")
    parser.add_argument("--every", type=int, default=100, help="turns between samples")
    args = parser.parse_args()
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
