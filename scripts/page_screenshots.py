"""Screenshots of the coach's page for docs/page/, taken by the browser the tests
use (Debian's headless chromium): each view at a desktop and a tablet size, on a
daemon with six weeks of a sample log, two facts, a running timer and a few
turns. Run: .venv/bin/python scripts/page_screenshots.py
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from test_page import browser  # noqa: E402  (the tests' own browser set-up)

SIZES = {"desktop": (1280, 860), "tablet": (820, 1180)}
VIEWS = ("now", "log", "you", "turns")
SAYS = ("Remember that my left knee is sore.", "Remember that I'm vegetarian.", "How should I warm up for squats?",
        "What should I eat after training?", "Set a timer for 2 minutes.")


def sample_log() -> str:
    """Six weeks of squats, bench and runs, as Strong writes them."""
    out = io.StringIO()
    columns = ("Date", "Workout Name", "Exercise Name", "Set Order", "Weight", "Reps", "Distance", "Seconds")
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    start = datetime.now().replace(hour=18, minute=0, second=0, microsecond=0) - timedelta(weeks=6)
    for week in range(6):
        for day, kind in ((0, "lift"), (2, "run"), (4, "lift")):
            at = (start + timedelta(weeks=week, days=day)).strftime("%Y-%m-%d %H:%M:%S")
            if kind == "run":
                writer.writerow({"Date": at, "Workout Name": "Run", "Exercise Name": "Running",
                                 "Set Order": 1, "Distance": 5 + week % 3, "Seconds": 1800 + 60 * week})
                continue
            for order in range(1, 4):
                writer.writerow({"Date": at, "Workout Name": "Strength", "Exercise Name": "Squat (Barbell)",
                                 "Set Order": order, "Weight": 60 + 2.5 * week, "Reps": 5})
                writer.writerow({"Date": at, "Workout Name": "Strength", "Exercise Name": "Bench Press (Barbell)",
                                 "Set Order": order, "Weight": 40 + 2.5 * (week // 2), "Reps": 8})
    return out.getvalue()


def main() -> int:
    out = ROOT / "docs" / "page"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        port = 8799
        config = tmp / "c.yaml"
        config.write_text(f"llm: {{endpoints: [], options: {{max_tokens: 40}}}}\nhistory: {{path: {tmp / 'h.db'}}}\n"
                          f"status_api: {{enabled: true, port: {port}}}\n")
        (tmp / "log.csv").write_text(sample_log())
        cli = [sys.executable, "-m", "assistant.cli"]
        subprocess.run([*cli, "log", "--import", str(tmp / "log.csv"), "--config", str(config)], check=True, cwd=ROOT)
        import numpy as np
        import soundfile

        soundfile.write(str(tmp / "s.wav"), np.zeros(16000 * 600, np.int16), 16000)
        daemon = subprocess.Popen([*cli, "run", "--config", str(config), "--input", str(tmp / "s.wav"), "--realtime",
                                   "--output", str(tmp / "o.wav")], cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(base + "/health", timeout=1).json()["state"] != "starting":
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                time.sleep(0.2)
            for text in SAYS:
                httpx.post(base + "/say", json={"text": text}, timeout=10)
                time.sleep(4)
            for size, (width, height) in SIZES.items():
                driver = browser(width, height)
                try:
                    for view in VIEWS:
                        driver.get(f"{base}/#{view}")
                        time.sleep(2.5)
                        driver.save_screenshot(str(out / f"{view}-{size}.png"))
                finally:
                    driver.quit()
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
