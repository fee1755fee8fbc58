"""Nobody cut off: sentences with a pause in the middle of a clause, said by
several voices, through the daemon's own listening chain (``Assistant`` on a
file, on the stream clock, so every run hears the same), and counted as one
turn only when one SPEECH_DETECTED holds both halves.

Ten sentences, each paused where no sentence ends ("after my long run I always
feel ... sore in my calves"), at 0.7, 1.0 and 1.3 s, said by Piper
(en_US-joe-medium), espeak-ng en-us and espeak-ng en-gb with a female variant.
From a file no turn is withdrawn when the voice comes back (that is live only,
``LLMService.retract``): a fragment claimed at the pause counts as cut, so this
measures the judgement at the pause itself. Prints a table per voice and pause,
and the fragments that were cut.

    .venv/bin/python benchmarks/mid_clause.py [--pauses 0.7 1.0 1.3] [--voices piper espeak espeak-f]
        [--sentences benchmarks/mid_clause_heldout.yaml]

``--sentences FILE``: other sentences (``halves:`` a list of [first, second]);
``mid_clause_heldout.yaml`` holds twenty written blind to the rules of
``assistant/listen/turn.py`` and to these ten, which those rules were mended against.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers import as_int16, espoken_16k, spoken_16k, wer  # noqa: E402

from assistant.audio.capture import SAMPLE_RATE, FileSource  # noqa: E402
from assistant.audio.playback import WavSink  # noqa: E402
from assistant.core.config import load_settings  # noqa: E402
from assistant.core.events import SpeechDetected  # noqa: E402
from assistant.daemon.app import Assistant  # noqa: E402
from assistant.daemon.parts import Models  # noqa: E402

# Written for this benchmark, not taken from the tests: each pause falls after a word no sentence ends on
# (a preposition, an article, "feel", "my", "and") or where the words so far could pass for a sentence.
HALVES = [
    ("After my long run I always feel", "sore in my calves for two days."),
    ("Can you tell me how to get better at", "pull-ups without a bar at home?"),
    ("I want to lose some weight but I also want to", "keep my strength for climbing."),
    ("What should I eat the night before", "a half marathon?"),
    ("My left shoulder clicks when I", "press the dumbbells overhead."),
    ("I have been running three times a week and", "my pace has not changed at all."),
    ("Is it better to stretch before or", "after a hard leg session?"),
    ("Coach, I would like to improve my", "balance and my posture."),
    ("How many minutes of rest do I need between", "two hard interval sessions?"),
    ("I only have twenty minutes today so", "what is the best thing to do?"),
]
GAP_S = 4.0  # silence after each sentence: the turn ends, the next starts afresh


def piper(text: str) -> np.ndarray:
    return as_int16(spoken_16k(text))


def espeak(voice: str):
    return lambda text: as_int16(espoken_16k(text, voice))


VOICES = {"piper": ("Piper (en_US-joe-medium)", piper), "espeak": ("espeak-ng en-us", espeak("en-us")),
          "espeak-f": ("espeak-ng en-gb+f3", espeak("en-gb+f3"))}


def voiced(samples: np.ndarray) -> np.ndarray:
    """``samples`` without the silence a synthesizer puts before and after the
    words (espeak-ng's is about 0.2 s): the pause is then the one said."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 100)  # -50 dBFS
    return samples[loud[0]:loud[-1] + 1] if len(loud) else samples


def recording(path: Path, say, pause_s: float, halves: list[tuple[str, str]]) -> list[tuple[float, float, float]]:
    """The sentences in one file; each one's (start, second half's start, end), in seconds."""
    silence = lambda s: np.zeros(int(SAMPLE_RATE * s), np.int16)  # noqa: E731
    parts, spans, at = [silence(0.5)], [], 0.5
    for first, second in halves:
        a, b = voiced(say(first)), voiced(say(second))
        spans.append((at, at + (len(a) / SAMPLE_RATE) + pause_s, at + (len(a) + len(b)) / SAMPLE_RATE + pause_s))
        parts += [a, silence(pause_s), b, silence(GAP_S)]
        at = spans[-1][2] + GAP_S
    soundfile.write(str(path), np.concatenate(parts), SAMPLE_RATE, subtype="PCM_16")
    return spans


async def heard(settings, models: Models, path: Path, out: Path) -> list[SpeechDetected]:
    assistant = Assistant(settings, models, WavSink(out, models.synthesizer.sample_rate), live=False)
    detected: list[SpeechDetected] = []
    assistant.bus.observe(lambda at, e: detected.append(e) if isinstance(e, SpeechDetected) else None)
    await assistant.run(FileSource(path, 30), until_source_ends=True)
    return detected


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pauses", type=float, nargs="+", default=[0.7, 1.0, 1.3])
    parser.add_argument("--voices", nargs="+", default=list(VOICES), choices=list(VOICES))
    parser.add_argument("--sentences", type=Path, help="a YAML file of halves: [[first, second], ...]")
    args = parser.parse_args()
    halves = HALVES
    if args.sentences:
        import yaml

        halves = [(str(a), str(b)) for a, b in yaml.safe_load(args.sentences.read_text())["halves"]]
    settings = load_settings(None)
    state = tempfile.mkdtemp(prefix="mid-clause-")
    settings = replace(settings, log_level="WARNING",
                       llm=replace(settings.llm, endpoints=(), knowledge=False,
                                   options=replace(settings.llm.options, max_tokens=4)),
                       history=replace(settings.history, path=f"{state}/history.sqlite3"))
    models = await Models.load(settings)
    rows, cuts = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for key in args.voices:
            label, say = VOICES[key]
            for pause_s in args.pauses:
                path = Path(tmp) / f"{key}-{pause_s}.wav"
                spans = recording(path, say, pause_s, halves)
                detected = await heard(settings, models, path, Path(tmp) / "out.wav")
                whole = 0
                for (first, second), (start, resumed, end) in zip(halves, spans, strict=True):
                    mine = [d for d in detected if start <= d.end_s <= end + 0.5]
                    if len(mine) == 1 and mine[0].end_s >= resumed:
                        whole += 1
                        if wer(f"{first} {second}", mine[0].text) > 0.3:
                            cuts.append((label, pause_s, "whole, misheard", mine[0].text))
                    else:
                        cuts.append((label, pause_s, f"{len(mine)} turns", " | ".join(
                            f"{d.text} ({d.silence_ms} ms)" for d in mine)))
                rows.append((label, pause_s, whole))
                print(f"{label}, {pause_s} s: {whole} of {len(halves)} whole", flush=True)
    print("\n| voice | pause | one turn, answered whole |\n| --- | --- | --- |")
    for label, pause_s, whole in rows:
        print(f"| {label} | {pause_s} s | {whole} of {len(halves)} |")
    total = sum(w for *_, w in rows)
    print(f"\nall: {total} of {len(rows) * len(halves)} ({100 * total / (len(rows) * len(halves)):.0f} %)")
    for label, pause_s, what, text in cuts:
        print(f"  {label}, {pause_s} s: {what}: {text}")


if __name__ == "__main__":
    asyncio.run(main())
