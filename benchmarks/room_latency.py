"""Latency as a person hears it: from the last voiced sample of a question going
into the microphone to the first voiced sample of the answer coming out of the
speaker, on the PulseAudio rig.

The rig's "air" (what the daemon's microphone hears) and "speaker" (what the
daemon plays) are the left and right channels of one stereo null sink, so one
recording of its monitor holds both edges on one clock (``--calibrate`` checks
the analysis on known gaps between the two channels). Each question is
played into the air, the answer awaited, then the next. Per turn it prints the
room gap, the daemon's own figure (SPEECH_DETECTED.speech_ended_at to
SPEAKING_STARTED), their difference (slack outside the daemon's own clock), split
into the microphone's side (the question's end in the room to the daemon's
speech_ended_at, by the recording's wall-clock start) and the speaker's
(SPEAKING_STARTED to the answer in the room), how many turns a question became
(more than one: a part was claimed, then taken back and joined to the rest,
whose answer the figures are for), the silence the endpointer waited before it
judged the turn over (SPEECH_DETECTED.silence_ms) and whether any answer (one
taken back) was heard before the question ended; then p50 and p95. ``--silence`` adds a run with the fixed
end-of-speech silence (vad.turn: silence) to compare; ``--slow`` a run against a
loopback Ollama server that waits 3 s before its first token, where the first
audio heard is the thinking cue (``cue`` column: THINKING_CUE's own figure);
``--chatty`` a run of longer, chattier questions said by Piper and two
espeak-ng voices, some of which the knowledge base does not answer.

Before the runs it measures the machine's own speed: whisper's short window on
a 2.2 s question and Piper on a nine-word clause, in this process with
nothing else running. Each run's summary gives the transcript and first-sound
stages in those units too, so a slow machine (or a slow hour) shows up as such,
not as a regression.

    .venv/bin/python benchmarks/room_latency.py [--openai] [--silence] [--slow] [--chatty] [--satellite]
        [--questions N] [--calibrate] [--cold]

The knowledge base's first pieces are first voiced ahead into the rig's cache,
as a user's daemon keeps them (``speech.ahead``); ``--cold``: not.

``--satellite`` adds a run through the real wyoming-satellite (.venv/satellite)
on loopback, its microphone and speaker the rig's: the same room, the same
questions, the daemon as the satellite's brain.
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

from audio_rig import Daemon, Recorder, Rig, returning_user, voice_ahead  # noqa: E402
from helpers import as_int16, espoken_16k, speech_file, spoken_16k  # noqa: E402

RATE = 16_000
WINDOW = RATE // 100  # 10 ms
VOICE_DB = -45.0  # a 10 ms window louder than this is voice
QUESTIONS = [
    "How should I warm up before a run?",
    "What is a good stretch for tight hamstrings?",
    "How long should I rest between sets of squats?",
    "Is it okay to train when my legs are sore?",
    "What should I eat after a hard workout?",
    "How do I breathe during a plank?",
    "How can I run faster?",
    "Should I stretch before or after lifting?",
    "What is a good pace for an easy run?",
    "How much water should I drink while training?",
]
# Longer and chattier, in other voices: (question, voice), voice "piper" or an espeak-ng voice.
CHATTY = [
    ("Hey coach, I have been doing a lot of squats lately and my knees feel a bit achy, should I worry?", "en-us"),
    ("So I am thinking about running a half marathon next spring, how should I start training for it?", "piper"),
    ("What do you think about doing cardio and weights on the same day, is that a bad idea?", "en-gb+f3"),
    ("I only have about twenty minutes in the morning, what kind of workout would you suggest?", "en-us"),
    ("My friend told me I should stretch before every single run, is that actually true?", "piper"),
    ("How many days a week should a beginner like me lift weights?", "en-gb+f3"),
]
EMBEDDED = "llm:\n  endpoints: []\n  options: {max_tokens: 60, temperature: 0.2, seed: 11}\n"


def voiced(channel: np.ndarray) -> np.ndarray:
    """Per 10 ms window: louder than ``VOICE_DB``."""
    audio = channel[: len(channel) // WINDOW * WINDOW].astype(np.float32).reshape(-1, WINDOW)
    rms = np.sqrt(np.mean(audio * audio, axis=1)) + 1e-9
    return 20 * np.log10(rms / 32768.0) > VOICE_DB


def stretches(flags: np.ndarray, gap_s: float) -> list[tuple[float, float]]:
    """(start s, end s) of voiced runs, runs closer than ``gap_s`` merged."""
    out: list[tuple[float, float]] = []
    for index in np.flatnonzero(flags):
        t = index * WINDOW / RATE
        if out and t - out[-1][1] <= gap_s:
            out[-1] = (out[-1][0], t + WINDOW / RATE)
        else:
            out.append((t, t + WINDOW / RATE))
    return out


@dataclass
class Turn:
    question: str
    asked: tuple[float, float]  # the question's voice in the recording (s)
    answer_at: float | None  # the answer's first voiced sample (s)
    own_ms: float | None  # the daemon's figure
    turns: int  # SPEECH_DETECTED for this question
    silence_ms: int | None = None  # the silence waited before the turn was judged over
    cue_ms: float | None = None  # the thinking cue, by the daemon's own figure
    in_ms: float | None = None  # the question's end in the room to the daemon's speech_ended_at
    out_ms: float | None = None  # SPEAKING_STARTED to the answer in the room
    heard_ms: float | None = None  # the daemon's speech_ended_at to its SPEECH_DETECTED (the transcript)
    token_ms: float | None = None  # RESPONSE_GENERATED.first_token_ms (from the start of generation)
    early: bool = False  # some of an answer was heard before the question ended (a reply then taken back)

    @property
    def gap_ms(self) -> float | None:
        return None if self.answer_at is None else (self.answer_at - self.asked[1]) * 1000

    @property
    def sound_ms(self) -> float | None:
        """The first token to the first sound, by the daemon's own clock."""
        if self.own_ms is None or self.heard_ms is None or self.token_ms is None:
            return None
        return self.own_ms - self.heard_ms - self.token_ms


KNOWN_GAPS_MS = (100, 300, 500, 800)


def calibrate(rig: Rig) -> list[float]:
    """Known gaps: one stereo stream into the room, a burst on the microphone's side
    and, a known time later, one on the speaker's; the analysis must find those
    gaps. Returns the errors in ms."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "gaps.wav"
        t = np.arange(int(0.1 * RATE)) / RATE
        burst = (8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
        parts = [np.zeros((int(0.5 * RATE), 2), np.int16)]
        for gap in KNOWN_GAPS_MS:
            block = np.zeros((int((0.1 + gap / 1000 + 0.1 + 1.0) * RATE), 2), np.int16)
            block[: len(burst), 0] = burst
            at = len(burst) + int(gap / 1000 * RATE)  # from the end of the left burst to the start of the right one
            block[at: at + len(burst), 1] = burst
            parts.append(block)
        soundfile.write(str(wav), np.concatenate(parts), RATE, subtype="PCM_16")
        recorder = Recorder(rig, "room.monitor", channels=2)
        time.sleep(0.5)
        subprocess.run(["paplay", "--device=room", str(wav)], env=rig.env, check=True, timeout=30)
        time.sleep(0.5)
        room = recorder.stop()
    left, right = (stretches(voiced(room[:, c]), 0.05) for c in (0, 1))
    found = [(r[0] - m[1]) * 1000 for m, r in zip(left, right, strict=False)]
    errors = [f - g for f, g in zip(found, KNOWN_GAPS_MS, strict=False)]
    print("calibration, known gaps " + ", ".join(f"{g} ms" for g in KNOWN_GAPS_MS) + ": found "
          + ", ".join(f"{f:.0f} ms" for f in found) + f" ({len(left)} and {len(right)} bursts)")
    return errors


def said(path: Path, question: str, voice: str) -> Path:
    """``question`` as a WAV, by Piper or an espeak-ng ``voice``, with 0.2 s before and 0.3 s after."""
    if voice == "piper":
        return speech_file(path, [question], gap_s=0.3, lead_s=0.2)
    audio = np.concatenate([np.zeros(RATE // 5), espoken_16k(question, voice), np.zeros(RATE * 3 // 10)])
    soundfile.write(str(path), as_int16(audio), RATE, subtype="PCM_16")
    return path


@dataclass(frozen=True)
class Speed:
    """The machine's own speed, measured in this process before the runs."""

    whisper_ms: float  # tiny.en's short window on a 2.2 s question
    piper_ms: float  # Piper on a nine-word clause

    @classmethod
    def measure(cls) -> Speed:
        from assistant.core.config import SttConfig, TtsConfig
        from assistant.speech.tts import PiperSynthesizer
        from assistant.speech.whisper import WhisperTranscriber

        def median_ms(work) -> float:
            work()
            times = []
            for _ in range(5):
                start = time.perf_counter()
                work()
                times.append((time.perf_counter() - start) * 1000)
            return statistics.median(times)

        question = as_int16(spoken_16k("How much water should I drink while training?"))
        transcriber, synthesizer = WhisperTranscriber(SttConfig()), PiperSynthesizer(TtsConfig())
        speed = cls(median_ms(lambda: transcriber.transcribe_sync(question, short=True)),
                    median_ms(lambda: synthesizer.synthesize("Keep most of your running at an easy pace,", True)))
        print(f"this machine now: whisper's short window on a {len(question) / RATE:.1f} s question "
              f"{speed.whisper_ms:.0f} ms, Piper on a nine-word clause {speed.piper_ms:.0f} ms")
        return speed


def answered(daemon: Daemon, since: float, timeout: float = 120.0) -> None:
    """Wait until the last utterance heard after ``since`` has been answered in
    full and the room has been quiet for 1.5 s since (a question split at a comma
    is taken back and answered whole: its first part never is)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = [e for e in daemon.events() if e["time"] >= since]
        heard = [e for e in events if e["event"] == "SPEECH_DETECTED"]
        done = heard and any(e["event"] == "SPEAKING_FINISHED" and not e["data"]["interrupted"]
                             and e["data"]["turn_id"] == heard[-1]["data"]["utterance_id"] for e in events)
        if done and time.time() - events[-1]["time"] > 1.5:
            return
        time.sleep(0.1)
    raise AssertionError(f"no whole answer within {timeout} s of {since}")


SATELLITE = [str(ROOT / ".venv" / "satellite" / "bin" / "python"), "-m", "wyoming_satellite"]


def satellite(rig: Rig, folder: Path, port: int) -> subprocess.Popen:
    """The real wyoming-satellite (.venv/satellite) with the rig's microphone and
    speaker, as tests/test_satellite.py runs it."""
    log = (folder / "satellite.log").open("wb")
    return subprocess.Popen(
        [*SATELLITE, "--name", "room", "--uri", f"tcp://127.0.0.1:{port}",
         "--mic-command", "parec --device=air.monitor --raw --format=s16le --rate=16000 --channels=1 "
                          "--latency-msec=20",
         "--snd-command", "pacat --device=speaker --raw --format=s16le --rate=22050 --channels=1 --latency-msec=20",
         "--snd-command-rate", "22050"], env=rig.env, stdout=log, stderr=subprocess.STDOUT)


def run(rig: Rig, folder: Path, config: str, questions: list[tuple[str, str]],
        through_satellite: bool = False) -> list[Turn]:
    wavs = [said(folder / f"q{i}.wav", q, voice) for i, (q, voice) in enumerate(questions)]
    returning_user(rig)
    remote = None
    if through_satellite:
        from servers import free_port

        port = free_port()
        remote = satellite(rig, folder, port)
        config += f"satellites:\n  room: tcp://127.0.0.1:{port}\n"
    daemon = Daemon(rig, folder, config)
    daemon.wait_for("LISTENING" if remote else "SYSTEM_STARTED", timeout=180)
    time.sleep(3.0)  # the streams open, the model warms up
    recorder = Recorder(rig, "room.monitor", channels=2)
    time.sleep(0.5)
    marks = []  # wall-clock time each question was played
    try:
        for wav in wavs:
            marks.append(time.time())
            subprocess.run(["paplay", "--device=air", str(wav)], env=rig.env, check=True, timeout=60)
            answered(daemon, marks[-1])
        marks.append(time.time())
    finally:
        room = recorder.stop()
        events = daemon.events()
        daemon.stop()
        if remote is not None:
            remote.kill()
            remote.wait(timeout=10)
    asked = stretches(voiced(room[:, 0]), 1.5)
    answers = stretches(voiced(room[:, 1]), 0.05)
    heard = [e for e in events if e["event"] == "SPEECH_DETECTED"]
    started = {e["data"]["turn_id"]: e["time"] + e["data"].get("latency_s", 0.0)  # when the daemon says it is heard
               for e in events if e["event"] == "SPEAKING_STARTED"}
    turns = []
    start = recorder.start
    for index, (question, _voice) in enumerate(questions):
        span = asked[index] if index < len(asked) else (0.0, 0.0)
        after = [a[0] for a in answers if a[0] >= span[1] - WINDOW / RATE]
        mine = [h for h in heard if marks[index] <= h["time"] < marks[index + 1]]
        turn = Turn(question, span, after[0] if after else None, None, len(mine),
                    early=any(span[0] < a[0] < span[1] - WINDOW / RATE for a in answers))
        if mine:  # the last: a question taken back and joined to what followed is answered whole there
            final = mine[-1]["data"]
            turn.silence_ms = final.get("silence_ms")
            cues = [e["data"]["after_ms"] for e in events if e["event"] == "THINKING_CUE"
                    and e["data"]["turn_id"] == final["utterance_id"]]
            turn.cue_ms = cues[0] if cues else None
            turn.heard_ms = (mine[-1]["time"] - final["speech_ended_at"]) * 1000
            tokens = [e["data"]["first_token_ms"] for e in events if e["event"] == "RESPONSE_GENERATED"
                      and e["data"]["turn_id"] == final["utterance_id"]]
            turn.token_ms = tokens[0] if tokens else None
            if final["utterance_id"] in started:
                ended, spoke = final["speech_ended_at"], started[final["utterance_id"]]
                turn.own_ms = (spoke - ended) * 1000
                turn.in_ms = (ended - (start + span[1])) * 1000
                turn.out_ms = (start + turn.answer_at - spoke) * 1000 if turn.answer_at is not None else None
        turns.append(turn)
    return turns


def report(label: str, turns: list[Turn], speed: Speed) -> None:
    print(f"\n{label}\n\n| # | question | room gap | daemon's own (transcript + first token + first sound) "
          "| slack (in + out) | silence waited | cue | turns | early |\n| --- | --- | --- | --- | --- | --- | --- "
          "| --- | --- |")
    for i, t in enumerate(turns, 1):
        gap = f"{t.gap_ms:.0f} ms" if t.gap_ms is not None else "-"
        own = f"{t.own_ms:.0f} ms" if t.own_ms is not None else "-"
        if t.sound_ms is not None:
            own += f" ({t.heard_ms:.0f} + {t.token_ms:.0f} + {t.sound_ms:.0f})"
        slack = "-"
        if t.gap_ms is not None and t.own_ms is not None:
            slack = f"{t.gap_ms - t.own_ms:.0f} ms ({t.in_ms:.0f} + {t.out_ms:.0f})"
        early = "yes" if t.early else ""
        waited = f"{t.silence_ms} ms" if t.silence_ms is not None else "-"
        cue = f"{t.cue_ms:.0f} ms" if t.cue_ms is not None else ""
        print(f"| {i} | {t.question} | {gap} | {own} | {slack} | {waited} | {cue} | {t.turns} | {early} |")
    gaps = sorted(t.gap_ms for t in turns if t.gap_ms is not None)
    slacks = [t.gap_ms - t.own_ms for t in turns if t.gap_ms is not None and t.own_ms is not None]
    if gaps:
        p95 = gaps[min(len(gaps) - 1, round(0.95 * (len(gaps) - 1)))]
        print(f"\nroom gap: median {statistics.median(gaps):.0f} ms, p95 {p95:.0f} ms, "
              f"min {gaps[0]:.0f}, max {gaps[-1]:.0f} ({len(gaps)} of {len(turns)} answered); "
              f"slack median {statistics.median(slacks):.0f} ms; questions split into more than one turn: "
              f"{sum(t.turns > 1 for t in turns)}; answers begun before the question ended: "
              f"{sum(t.early for t in turns)}; judged over at a short pause: "
              f"{sum(t.silence_ms is not None and t.silence_ms < 300 for t in turns)} of {len(turns)}")
    sounds = [t.sound_ms for t in turns if t.sound_ms is not None]
    if sounds:
        heard = statistics.median(t.heard_ms for t in turns if t.sound_ms is not None and t.heard_ms is not None)
        sound = statistics.median(sounds)
        print(f"in the machine's own units: transcript median {heard:.0f} ms = {heard / speed.whisper_ms:.1f} x "
              f"whisper's short window; first sound after the first token median {sound:.0f} ms = "
              f"{sound / speed.piper_ms:.1f} x Piper's clause; first sound within 200 ms of the first token in "
              f"{sum(s <= 200 for s in sounds)} of {len(sounds)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--openai", action="store_true", help="also through llama-cpp-python's OpenAI server")
    parser.add_argument("--questions", type=int, default=len(QUESTIONS), help="of the ten (0: none)")
    parser.add_argument("--cold", action="store_true",
                        help="the knowledge base's first pieces not voiced ahead (a daemon's first half minute)")
    parser.add_argument("--calibrate", action="store_true", help="only check that both channels share a clock")
    parser.add_argument("--silence", action="store_true", help="also with the fixed end-of-speech silence")
    parser.add_argument("--slow", action="store_true", help="also against a server 3 s to its first token")
    parser.add_argument("--chatty", action="store_true", help="also longer questions in other voices")
    parser.add_argument("--satellite", action="store_true",
                        help="also through wyoming-satellite (its microphone and speaker the rig's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rig = Rig(folder, room=True).start()
        try:
            calibrate(rig)
            if args.calibrate:
                return
            speed = Speed.measure()
            if not args.cold:
                print(voice_ahead(rig))
            plain = [(q, "piper") for q in QUESTIONS[: args.questions]]
            runs = [("embedded model (SmolLM2-135M, in process), vad.turn: model", EMBEDDED, plain)] if plain else []
            if args.chatty:
                runs.append(("embedded model, longer questions in three voices", EMBEDDED, CHATTY))
            if args.silence:
                runs.append(("embedded model, vad.turn: silence (600 ms)", EMBEDDED + "vad:\n  turn: silence\n", plain))
            if args.satellite:
                runs.append(("embedded model, through wyoming-satellite on loopback", EMBEDDED, plain, True))
            servers = []
            if args.openai:
                from servers import openai_server

                servers.append(openai_server(folder))
                url = servers[-1].__enter__().url
                runs.append(("OpenAI server (llama-cpp-python, SmolLM2-135M)",
                             f"llm:\n  endpoints: [{{url: '{url}', api: openai, models: [smollm2]}}]\n"
                             "  embedded: {enabled: false}\n  options: {max_tokens: 60, temperature: 0.2, seed: 11}\n",
                             plain))
            if args.slow:
                from servers import ollama

                servers.append(ollama("--first-token-delay", "3", canned="Rest two minutes between sets.",
                                      names=("coach",)))
                url = servers[-1].__enter__().url
                runs.append(("a server 3 s to its first token (loopback Ollama): the first audio is the thinking cue",
                             f"llm:\n  endpoints: [{{url: '{url}', models: [coach]}}]\n", plain))
            try:
                for index, (label, config, questions, *through) in enumerate(runs):
                    sub = folder / f"run{index}"
                    sub.mkdir()
                    report(label, run(rig, sub, config, questions, *through), speed)
            finally:
                for server in servers:
                    server.__exit__(None, None, None)
        finally:
            rig.stop()
    cores = Path("/proc/cpuinfo").read_text().count("processor")
    print(f"\nmeasured {time.strftime('%Y-%m-%d %H:%M')} on {cores} cores")


if __name__ == "__main__":
    main()
