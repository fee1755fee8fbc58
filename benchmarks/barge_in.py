"""Barge-in with the coach's own voice in the microphone (issue 13), on the
PulseAudio rig: the speaker is looped into the air at unity gain, so the
microphone hears every reply as loud as the coach says it.

Trials, each on a reply of the embedded model (up to 100 tokens):
- echo alone: nothing is said over the reply; counted: SPEECH_STARTED while the
  coach speaks, and replies paused or cut;
- a question said over the reply 2 s into it, at the echo's level (0 dB) and
  6 dB under it: from the user's onset in the room to SPEAKING_PAUSED (the
  coach goes quiet) and to SPEAKING_FINISHED(interrupted) (the reply is cut),
  and the question's WER as transcribed;
- "Mm-hmm." and "Okay." (Piper) and "mm hmm" (espeak-ng, a second voice) said
  over the reply at the echo's level: the reply must go on (SPEAKING_RESUMED,
  never cut) and no turn come of it.

The rig's "air" and "speaker" are the two channels of one recording, so the
user's onset is found in what the microphone heard (by cross-correlation with
the file played, through the echo) on the events' clock. The interjections are
scaled to the echo's level over the echo-alone replies (RMS of the voiced 10 ms
windows, as the microphone heard them). The level column is each trial's: the
interjection against the echo the microphone heard in the second before it
(the reply pauses within a few hundred ms of the onset, so there is little echo
under the interjection itself).

    .venv/bin/python benchmarks/barge_in.py [--trials 5] [--echo-trials 5] [--kinds all] [--no-cancel]

``--kinds``: ``questions``, ``backchannels`` or ``all``; ``--trials`` of each.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from audio_rig import Daemon, Recorder, Rig, returning_user  # noqa: E402
from helpers import espoken_16k, spoken_16k, wer  # noqa: E402

from assistant.audio.echo import estimate_delay  # noqa: E402
from assistant.audio.levels import window_db  # noqa: E402

RATE = 16_000
VOICE_DB = -45.0
PROMPTS = [
    "Tell me how to plan a week of running.",
    "Explain how to warm up before lifting weights.",
    "Tell me how to get better at push ups.",
    "Explain how to stretch after a long run.",
    "Tell me how to eat well on training days.",
]
QUESTION = "How long should I rest between sets?"
BACKCHANNELS = [("Mm-hmm.", "Mm-hmm.", spoken_16k), ("Okay.", "Okay.", spoken_16k),
                ("mm hmm (espeak-ng)", "mm hmm", espoken_16k)]  # (kind, text, voice)
QUESTIONS = [("question 0 dB", QUESTION, spoken_16k, 0.0), ("question -6 dB", QUESTION, spoken_16k, -6.0)]
CONFIG = """
llm:
  endpoints: []
  options: {max_tokens: 100, temperature: 0.2, seed: 11}
audio:
  barge_in: true
  echo_cancellation: %s
"""


@dataclass
class Trial:
    kind: str  # "echo", "question 0 dB", "question -6 dB", "Mm-hmm.", "Okay."
    onsets: int = 0  # SPEECH_STARTED while the coach spoke, the interjection's own excepted
    paused_ms: float | None = None  # the user's onset in the room to SPEAKING_PAUSED
    cut_ms: float | None = None  # ... to SPEAKING_FINISHED(interrupted)
    resumed: bool = False
    heard: str = ""  # what the daemon transcribed of the interjection
    turns: int = 0  # SPEECH_DETECTED that came of the interjection
    level_db: float | None = None  # the interjection's level over the echo's, measured in the room


def voiced_rms(samples: np.ndarray) -> float:
    """RMS over the 10 ms windows louder than ``VOICE_DB``."""
    levels = window_db(samples, RATE // 100)
    windows = samples[: len(levels) * (RATE // 100)].astype(np.float64).reshape(len(levels), -1)[levels > VOICE_DB]
    return float(np.sqrt(np.mean(windows**2))) if len(windows) else 0.0


def db(ratio: float) -> float:
    return 20 * np.log10(max(ratio, 1e-9))


def wav(path: Path, samples: np.ndarray, gain: float = 1.0) -> Path:
    lead = np.zeros(RATE // 10)
    soundfile.write(str(path), np.clip(np.concatenate([lead, samples * gain, lead]), -32768, 32767).astype(np.int16),
                    RATE, subtype="PCM_16")
    return path


def ask(rig: Rig, daemon: Daemon, prompt: Path, after: float) -> dict:
    """Play a prompt; its SPEAKING_STARTED."""
    subprocess.run(["paplay", "--device=air", str(prompt)], env=rig.env, check=True, timeout=60)
    return daemon.wait_for("SPEAKING_STARTED", timeout=120, where=lambda e: e["time"] > after)[0]


def settle(daemon: Daemon, after: float) -> None:
    """Until the coach has finished what it says (a reply heard to its end) and is quiet."""
    daemon.wait_for("SPEAKING_FINISHED", timeout=180, where=lambda e: e["time"] > after
                    and not e["data"]["interrupted"])
    time.sleep(2.0)


def run(trials: int, echo_trials: int, kinds: str, cancel: bool, log: Path | None) -> list[Trial]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rig = Rig(folder, room=True).start()
        try:
            rig.loop_speaker_into_air()
            returning_user(rig)
            daemon = Daemon(rig, folder, CONFIG % str(cancel).lower() + ("log_level: DEBUG\n" if log else ""))
            daemon.wait_for("SYSTEM_STARTED", timeout=180)
            time.sleep(3.0)
            recorder = Recorder(rig, "room.monitor", channels=2)
            time.sleep(0.5)
            try:
                return trials_on(rig, daemon, recorder, folder, trials, echo_trials, kinds)
            finally:
                recorder.stop()
                daemon.stop()
                if log is not None:
                    log.write_text(Path(daemon.log.name).read_text())  # closed by stop()
        finally:
            rig.stop()


def trials_on(rig: Rig, daemon: Daemon, recorder: Recorder, folder: Path, count: int, echo_count: int,
              kinds: str) -> list[Trial]:
    prompts = [wav(folder / f"p{i}.wav", spoken_16k(p)) for i, p in enumerate(PROMPTS)]
    done: list[Trial] = []
    echoes = []
    for i in range(echo_count):  # echo alone
        start = time.time()
        spoke = ask(rig, daemon, prompts[i % len(prompts)], start)
        settle(daemon, start)
        events = [e for e in daemon.events() if e["time"] > spoke["time"]]
        trial = Trial("echo", onsets=sum(e["event"] == "SPEECH_STARTED" for e in events))
        trial.resumed = any(e["event"] == "SPEAKING_RESUMED" for e in events)
        trial.cut_ms = 0.0 if any(e["event"] == "SPEAKING_FINISHED" and e["data"]["interrupted"] for e in events) \
            else None
        done.append(trial)
        room = recorder.samples()
        echoes.append(room[int((spoke["time"] - recorder.start) * RATE):, 0])
    echo_rms = voiced_rms(np.concatenate(echoes))
    chosen = (QUESTIONS if kinds in ("questions", "all") else []) + \
        ([(kind, text, voice, 0.0) for kind, text, voice in BACKCHANNELS] if kinds in ("backchannels", "all") else [])
    for kind, text, speak, level in chosen:
        voice = speak(text)
        said = wav(folder / f"{kind}.wav", voice, echo_rms * 10 ** (level / 20) / voiced_rms(voice))
        for i in range(count):
            start = time.time()
            spoke = ask(rig, daemon, prompts[i % len(prompts)], start)
            time.sleep(max(0.0, spoke["time"] + 2.0 - time.time()))
            played = time.time()
            subprocess.run(["paplay", "--device=air", str(said)], env=rig.env, check=True, timeout=60)
            settle(daemon, played)
            done.append(measure(kind, text, daemon, recorder, said, spoke, played))
    return done


def measure(kind: str, text: str, daemon: Daemon, recorder: Recorder, said: Path, spoke: dict,
            played: float) -> Trial:
    room = recorder.samples()
    voice = soundfile.read(str(said), dtype="int16")[0]
    begin = int((played - recorder.start) * RATE)
    heard = room[begin: begin + len(voice) + RATE, 0].astype(np.float64)
    lag = estimate_delay(heard, voice.astype(np.float64), max_ms=1000)
    first = int(np.argmax(window_db(voice, RATE // 100) > VOICE_DB)) * (RATE // 100)
    onset = recorder.start + (begin + lag + first) / RATE
    events = [e for e in daemon.events() if e["time"] > spoke["time"]]
    trial = Trial(kind)
    trial.onsets = sum(e["event"] == "SPEECH_STARTED" and e["time"] < played for e in events)
    paused = [e for e in events if e["event"] == "SPEAKING_PAUSED" and e["time"] >= played]
    cut = [e for e in events if e["event"] == "SPEAKING_FINISHED" and e["data"]["interrupted"]]
    trial.paused_ms = (paused[0]["time"] - onset) * 1000 if paused else None
    trial.cut_ms = (cut[0]["time"] - onset) * 1000 if cut else None
    trial.resumed = any(e["event"] == "SPEAKING_RESUMED" for e in events)
    detected = [e for e in events if e["event"] in ("SPEECH_DETECTED", "AMBIENT_SPEECH_DETECTED")
                and e["time"] >= played]
    trial.heard = detected[0]["data"]["text"] if detected else ""
    trial.turns = sum(e["event"] == "SPEECH_DETECTED" for e in detected)
    start = begin + lag + first
    trial.level_db = db(voiced_rms(voice) / max(voiced_rms(room[start - RATE: start, 0]), 1.0))
    return trial


def report(trials: list[Trial], cancel: bool) -> None:
    print(f"\nechocancellation {'on' if cancel else 'off'}\n")
    print("| trial | level over echo | SPEECH_STARTED in the reply | paused after onset | cut after onset "
          "| resumed | turns | heard |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
    for t in trials:
        ms = lambda v: "-" if v is None else f"{v:.0f} ms"  # noqa: E731
        level = "-" if t.level_db is None else f"{t.level_db:+.1f} dB"
        cut = ("yes" if t.cut_ms is not None else "no") if t.kind == "echo" else ms(t.cut_ms)
        print(f"| {t.kind} | {level} | {t.onsets} | {ms(t.paused_ms)} | {cut} | {'yes' if t.resumed else 'no'} "
              f"| {t.turns} | {t.heard} |")
    print()
    for kind in dict.fromkeys(t.kind for t in trials):
        mine = [t for t in trials if t.kind == kind]
        if kind == "echo":
            print(f"- echo alone: {sum(t.onsets for t in mine)} SPEECH_STARTED, "
                  f"{sum(t.cut_ms is not None or t.resumed for t in mine)} of {len(mine)} replies paused or cut")
        elif kind.startswith("question"):
            cut = [t.cut_ms for t in mine if t.cut_ms is not None]
            paused = [t.paused_ms for t in mine if t.paused_ms is not None]
            good = sum(t.cut_ms is not None and wer(QUESTION, t.heard) <= 0.25 for t in mine)
            print(f"- {kind}: paused in {len(paused)} of {len(mine)} (median {statistics.median(paused or [0]):.0f}"
                  f" ms after onset), cut in {len(cut)} (median {statistics.median(cut or [0]):.0f} ms), "
                  f"cut and transcribed within 25 % WER in {good} of {len(mine)}")
        else:
            kept = sum(t.cut_ms is None and t.turns == 0 for t in mine)
            print(f"- {kind}: the reply went on, no turn, in {kept} of {len(mine)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5, help="of each kind said over a reply")
    parser.add_argument("--echo-trials", type=int, default=5, help="replies with nothing said over them")
    parser.add_argument("--log", type=Path, help="keep the daemon's log, at DEBUG, in this file")
    parser.add_argument("--kinds", choices=["questions", "backchannels", "all"], default="all")
    parser.add_argument("--no-cancel", action="store_true", help="echo_cancellation: false (the level gate alone)")
    args = parser.parse_args()
    trials = run(args.trials, args.echo_trials, args.kinds, not args.no_cancel, args.log)
    report(trials, not args.no_cancel)


if __name__ == "__main__":
    main()
