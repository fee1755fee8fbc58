"""CPU and memory of ``assistant run`` while it listens to silence.

Starts the PulseAudio test rig (tests/audio_rig.py), runs the daemon on its
virtual microphone and speaker with all models loaded, waits for it to settle,
then reads the process's CPU time from /proc over the measuring window and
prints a table: CPU use as a share of one core, resident memory; then the same
per thread (by its OS name: PortAudio's and Python's own threads all show as
"python", libraries' named threads by their names), busiest first; and the
rig's PulseAudio server over the same window (it resamples the microphone to
16 kHz for the daemon, work the daemon did itself before 2026-12-06).

    .venv/bin/python benchmarks/idle_cpu.py [--seconds 60] [--page]

``--page``: two windows in one run, the second with the coach's page open in
headless chromium (the tests' browser, on the status API): what the page costs
the daemon.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from audio_rig import Daemon, Rig, returning_user, voice_ahead  # noqa: E402
from servers import free_port  # noqa: E402

CONFIG = "llm:\n  endpoints: []\n"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def thread_seconds(pid: int) -> dict[str, float]:
    """CPU seconds per thread, by ``tid name``."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended
            continue
        name = stat[stat.index("(") + 1: stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        found[f"{task.name} {name}"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--page", action="store_true", help="a second window with the page open")
    args = parser.parse_args()
    port = free_port()
    config = CONFIG + (f"status_api: {{enabled: true, port: {port}}}\n" if args.page else "")
    with tempfile.TemporaryDirectory() as tmp:
        rig = Rig(Path(tmp)).start()
        try:
            returning_user(rig)  # no spoken offer of the interview at start
            print(voice_ahead(rig))  # kept, as a user's daemon keeps them after its first quiet minutes
            daemon = Daemon(rig, Path(tmp), config)
            daemon.wait_for("SYSTEM_STARTED", timeout=180)
            time.sleep(5.0)  # streams open, warm-up done
            pid = daemon.proc.pid
            before, threads, started = cpu_seconds(pid), thread_seconds(pid), time.monotonic()
            server_before = cpu_seconds(rig.proc.pid)
            time.sleep(args.seconds)
            used, elapsed = cpu_seconds(pid) - before, time.monotonic() - started
            server = cpu_seconds(rig.proc.pid) - server_before
            after = thread_seconds(pid)
            rss = rss_mib(pid)
            detected = len(daemon.events("SPEECH_DETECTED"))
            if args.page:
                from test_page import browser

                driver = browser()
                try:
                    driver.get(f"http://127.0.0.1:{port}/#now")
                    time.sleep(5.0)  # loaded, its event stream open
                    page_before, page_started = cpu_seconds(pid), time.monotonic()
                    time.sleep(args.seconds)
                    page_used, page_elapsed = cpu_seconds(pid) - page_before, time.monotonic() - page_started
                finally:
                    driver.quit()
            daemon.stop()
        finally:
            rig.stop()
    print(f"\n{'window':>8} | {'CPU time':>9} | {'CPU, % of one core':>18} | {'resident memory':>15} | utterances")
    print(f"{elapsed:>6.1f} s | {used:>7.2f} s | {100 * used / elapsed:>17.1f}% | {rss:>11.0f} MiB | {detected:>10}")
    if args.page:
        share, without = 100 * page_used / page_elapsed, 100 * used / elapsed
        print(f"\nthe daemon with the page open, next {page_elapsed:.1f} s: {page_used:.2f} s, {share:.2f}% of one "
              f"core ({share - without:+.2f} points against {without:.2f}% without it)")
    print(f"\nPulseAudio server (the rig's): {server:.2f} s, {100 * server / elapsed:.1f}% of one core")
    busy = sorted(((seconds - threads.get(name, 0.0), name) for name, seconds in after.items()), reverse=True)
    print("\nthread | CPU, % of one core\n--- | ---")
    for seconds, name in busy:
        if seconds > 0:
            print(f"{name} | {100 * seconds / elapsed:.2f}%")


if __name__ == "__main__":
    main()
