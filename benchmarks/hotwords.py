"""Does nudging whisper toward the skills' words help commands without hurting
questions? Transcribes the same audio with and without ``stt.hotwords`` and
prints a table: word error rate on the shared recordings, on coaching questions
and on skill commands (said by Piper and by espeak-ng), how many came out word
for word, and how many the skills understood as they understand the written
text (a question understood as meant is one left to the model). Commands go through the short window (how the daemon
hears them at a pause) and the 30 s one.

    .venv/bin/python benchmarks/hotwords.py [--hotwords "log, sets, ..."]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers import DATA, REFERENCES, SHORT_QUESTIONS, espoken_16k, normalize, spoken, wer  # noqa: E402

from assistant.audio.capture import read_audio_file  # noqa: E402
from assistant.core.config import SttConfig  # noqa: E402
from assistant.speech.whisper import WhisperTranscriber  # noqa: E402

QUESTIONS = [*SHORT_QUESTIONS[:9], "My shoulder clicks when I press overhead. What should I do?"]
COMMANDS = [
    "Log three sets of ten squats at sixty kilos.",
    "Coach, log three sets of ten squats at sixty kilos.",
    "I just did twenty push-ups.",
    "Ran five k in twenty seven minutes.",
    "Add a thirty minute bike ride.",
    "Log five sets of five deadlifts at a hundred kilos.",
    "Log a plank for one minute.",
    "Log that.",
    "Undo that.",
    "What did I do today?",
    "How many push-ups this week?",
    "When did I last run?",
    "Remember that my left knee is sore.",
    "Forget that my knee is sore.",
    "What do you know about me?",
    "My goal is a 5k under twenty five minutes.",
    "I'm vegetarian.",
    "Set a timer for two minutes.",
    "Pause.",
    "Resume.",
    "Skip.",
    "Set up my coach.",
]
CANDIDATES = {
    "none": "",
    "skills": "Coach, log, sets, reps, kilos, remember, forget, pause, resume, skip, undo.",
    "longer": "Coach, log, sets, reps, kilos, pounds, push-ups, squats, remember, forget, timer, pause, resume, undo",
    "shorter": "Coach, log, undo, pause, resume",
}
ECHO = "A good warm up starts with five minutes of easy jogging, and then some dynamic stretches for your legs."


def espeak(sentence: str) -> np.ndarray:
    return espoken_16k(sentence).astype(np.int16)


def piper(sentence: str) -> np.ndarray:
    from helpers import synthesizer

    audio = spoken(sentence)
    rate = synthesizer().sample_rate
    with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
        soundfile.write(wav.name, audio, rate, subtype="PCM_16")
        return read_audio_file(wav.name)


def over_echo(question: str) -> list[tuple[np.ndarray, str]]:
    """A barge-in: ``question`` said over the tail of the coach's voice (4 dB under
    it, as on the rig), the echo lasting 0.15-0.6 s into the utterance's start."""
    q, coach = piper(question).astype(np.float32), piper(ECHO).astype(np.float32)
    out = []
    for lead in (0.15, 0.3, 0.45, 0.6):
        for start in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0):
            n = int(lead * 16000)
            mix = np.concatenate([np.zeros(n, np.float32), q])
            tail = coach[int(start * 16000): int(start * 16000) + n + 8000] * 0.63
            mix[: len(tail)] += tail
            out.append((np.clip(mix, -32768, 32767).astype(np.int16), question))
    return out


def recorded() -> list[tuple[np.ndarray, str]]:
    out = [(read_audio_file(DATA / "jfk.flac"), REFERENCES["jfk.flac"]["text"])]
    stereo, rate = soundfile.read(str(DATA / "stereo_diarization.wav"), dtype="int16")
    for index, side in enumerate(("left", "right")):
        with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
            soundfile.write(wav.name, stereo[:, index], rate, subtype="PCM_16")
            out.append((read_audio_file(wav.name), REFERENCES["stereo_diarization.wav"][side]))
    return out


def understood(text: str) -> object:
    """What the skills make of ``text`` (``understanding.understand``, as the daemon
    asks): a command with its slots, or None (the model)."""
    from assistant.skills.understanding import understand

    return understand(text)


def score(transcriber: WhisperTranscriber, items: list[tuple[np.ndarray, str]],
          short: bool) -> tuple[float, int, int, list[str]]:
    """Mean WER, how many came out word for word, how many the skills understood
    as they understand the reference."""
    errors, exact, same, misses = [], 0, 0, []
    for audio, reference in items:
        text = transcriber.transcribe_sync(audio, short=short).text
        errors.append(wer(reference, text))
        exact += normalize(reference) == normalize(text)
        ok = understood(reference) == understood(text)
        same += ok
        if not ok:
            misses.append(f"{reference!r} -> {text!r}")
    return sum(errors) / len(errors), exact, same, misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hotwords", help="a candidate to compare with none")
    args = parser.parse_args()
    candidates = {"none": "", "given": args.hotwords} if args.hotwords else CANDIDATES
    sets = {
        "recorded speech (tests/data)": (recorded(), False),
        "questions (Piper)": ([(piper(q), q) for q in QUESTIONS], False),
        "questions (espeak-ng)": ([(espeak(q), q) for q in QUESTIONS], False),
        "a question over the coach's echo (24 mixes)": (over_echo("What is a good breakfast before a morning run?"),
                                                         False),
        "commands (Piper), short window": ([(piper(c), c) for c in COMMANDS], True),
        "commands (espeak-ng), short window": ([(espeak(c), c) for c in COMMANDS], True),
        "commands (Piper), 30 s window": ([(piper(c), c) for c in COMMANDS], False),
    }
    base = WhisperTranscriber(SttConfig())
    rows = []
    for name, words in candidates.items():
        transcriber = WhisperTranscriber.__new__(WhisperTranscriber)  # one loaded model, another config
        transcriber.__dict__.update(base.__dict__)
        transcriber.cfg = dataclasses.replace(base.cfg, hotwords=words)
        transcriber._tokenizer = None
        for set_name, (items, short) in sets.items():
            mean, exact, same, misses = score(transcriber, items, short)
            rows.append((name, set_name, mean, exact, same, len(items)))
            for miss in misses:
                print(f"  [{name}] {set_name}: {miss}", file=sys.stderr)
    print("\n| hotwords | set | mean WER | word for word | understood as meant |\n| --- | --- | --- | --- | --- |")
    for name, set_name, mean, exact, same, count in rows:
        print(f"| {name} | {set_name} | {mean:.3f} | {exact}/{count} | {same}/{count} |")
    print("\nhotwords: " + "; ".join(f"{k} = {v!r}" for k, v in candidates.items()))


if __name__ == "__main__":
    main()
