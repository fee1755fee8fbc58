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

``--live``: the same sentences played one by one into the PulseAudio rig's air
for ``assistant run`` (the shipped half-duplex defaults, the embedded model),
as a person would say them: a fragment claimed at the pause and taken back when
the voice comes back counts as one turn when the whole sentence is then answered
as one. Counted as whole: exactly one reply heard to its end since the
sentence began, to a SPEECH_DETECTED holding at least half the words of each
half, every other reply withdrawn; "heard" counts the sentences answered whole
after a withdrawn reply some of which came out of the speaker. One whole
question comes first, unpaused: the echo gate learns the room from its reply,
as in a daemon that has answered once (its first reply's coupling cannot be
learnt while the user may be speaking over it).

    .venv/bin/python benchmarks/mid_clause.py [--pauses 0.7 1.0 1.3] [--voices piper espeak espeak-f]
        [--sentences benchmarks/mid_clause_heldout.yaml] [--live]

``--sentences FILE``: other sentences (``halves:`` a list of [first, second]);
``mid_clause_heldout.yaml`` holds twenty written blind to the rules of
``assistant/listen/turn.py`` and to these ten, which those rules were mended against.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers import as_int16, espoken_16k, normalize, spoken_16k, wer  # noqa: E402

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


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(SAMPLE_RATE * seconds), np.int16)


def recording(path: Path, say, pause_s: float, halves: list[tuple[str, str]]) -> list[tuple[float, float, float]]:
    """The sentences in one file; each one's (start, second half's start, end), in seconds."""
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


LIVE_CONFIG = """
llm:
  endpoints: []
  options: {max_tokens: 12, temperature: 0.2, seed: 11}
  knowledge: false
"""  # short replies: the benchmark waits for each to be said
WARM_UP = "How long should I rest between sets?"
QUIET_S = 3.0  # nothing from the daemon this long after the last reply: the sentence is over (a held turn, 1.5 s)
VOICE_QUIET_S = 6.0  # ... and this long since a voice began (held 1.5 s, and its end held 1.5 s more)


def holds(text: str, half: str) -> bool:
    """At least half the words of ``half`` are in ``text`` (a word misheard is no cut)."""
    words, heard_words = normalize(half).split(), set(normalize(text).split())
    return sum(w in heard_words for w in words) * 2 >= len(words)


def said_live(rig, daemon, path: Path) -> list[dict]:
    """Play ``path`` into the room; the daemon's events from then until every reply
    has been said and it has been quiet for ``QUIET_S``."""
    import time

    mark = len(daemon.events())
    rig.play(path).wait(timeout=60)
    settled = time.monotonic() + 45
    while time.monotonic() < settled:
        new = daemon.events()[mark:]
        count = Counter(e["event"] for e in new)
        voice = [e["time"] for e in new if e["event"] == "SPEECH_STARTED"]  # a held turn is quiet meanwhile
        if new and count["SPEAKING_FINISHED"] >= max(1, count["SPEAKING_STARTED"]) \
                and count["RESPONSE_GENERATED"] >= count["SPEECH_DETECTED"] \
                and time.time() - new[-1]["time"] > QUIET_S and time.time() - max(voice, default=0.0) > VOICE_QUIET_S:
            break
        time.sleep(0.1)
    return daemon.events()[mark:]


def one_turn(new: list[dict], first: str, second: str) -> tuple[bool, bool, str]:
    """(answered whole, a withdrawn reply heard first, what was detected). Whole: one
    reply heard to its end, to an utterance holding both halves; any other reply
    was withdrawn (stopped, or never heard)."""
    full: dict[int, bool] = {}  # turn -> its reply heard to its end
    for e in new:
        if e["event"] == "SPEAKING_FINISHED":
            full[e["data"]["turn_id"]] = full.get(e["data"]["turn_id"], True) and not e["data"]["interrupted"]
    detected = [e["data"] for e in new if e["event"] == "SPEECH_DETECTED"]
    mine = [d for d in detected if full.get(d["utterance_id"]) and holds(d["text"], first) and holds(d["text"], second)]
    whole = len(mine) == 1 and sum(full.values()) == 1
    stopped = [e["data"] for e in new if e["event"] == "SPEAKING_FINISHED" and e["data"]["interrupted"]]
    heard = " | ".join(f"{d['text']} ({d['silence_ms']} ms, {'heard' if full.get(d['utterance_id']) else 'withdrawn'})"
                       for d in detected)
    return whole, whole and any(e["audio_s"] > 0 for e in stopped), f"{len(mine)} whole: {heard}"


def live(halves: list[tuple[str, str]], voices: list[str], pauses: list[float], keep: Path | None) -> None:
    """Each sentence played into the rig's air for the running daemon; see the docstring."""
    from audio_rig import Rig, start_daemon

    rows, cuts = [], []
    with tempfile.TemporaryDirectory() as tmp:
        rig = Rig(Path(tmp), room=False).start()
        try:
            daemon = start_daemon(rig, Path(tmp) / "daemon", LIVE_CONFIG + ("log_level: DEBUG\n" if keep else ""))
            try:
                warm = Path(tmp) / "warm.wav"  # one question first: the echo gate learns the room from its reply
                soundfile.write(str(warm), np.concatenate([silence(0.3), piper(WARM_UP), silence(0.3)]), SAMPLE_RATE)
                said_live(rig, daemon, warm)
                for key in voices:
                    label, say = VOICES[key]
                    for pause_s in pauses:
                        whole = early = 0
                        for n, (first, second) in enumerate(halves):
                            path = Path(tmp) / f"{key}-{pause_s}-{n}.wav"
                            soundfile.write(str(path), np.concatenate(
                                [silence(0.3), voiced(say(first)), silence(pause_s), voiced(say(second)),
                                 silence(0.3)]), SAMPLE_RATE, subtype="PCM_16")
                            one, heard_early, what = one_turn(said_live(rig, daemon, path), first, second)
                            whole, early = whole + one, early + heard_early
                            if not one:
                                cuts.append((label, pause_s, what))
                        rows.append((label, pause_s, whole, early))
                        print(f"{label}, {pause_s} s: {whole} of {len(halves)} whole, "
                              f"a withdrawn reply heard in {early}", flush=True)
            finally:
                daemon.stop()
                if keep:
                    keep.mkdir(parents=True, exist_ok=True)
                    for name in ("daemon.log", "events.jsonl"):
                        (keep / name).write_bytes((Path(tmp) / "daemon" / name).read_bytes())
        finally:
            rig.stop()
    print("\n| voice | pause | one turn, answered whole | of them, a withdrawn reply heard first |"
          "\n| --- | --- | --- | --- |")
    for label, pause_s, whole, early in rows:
        print(f"| {label} | {pause_s} s | {whole} of {len(halves)} | {early} |")
    total = sum(row[2] for row in rows)
    print(f"\nall: {total} of {len(rows) * len(halves)} ({100 * total / (len(rows) * len(halves)):.0f} %)")
    for label, pause_s, what in cuts:
        print(f"  {label}, {pause_s} s: {what}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pauses", type=float, nargs="+", default=[0.7, 1.0, 1.3])
    parser.add_argument("--voices", nargs="+", default=list(VOICES), choices=list(VOICES))
    parser.add_argument("--sentences", type=Path, help="a YAML file of halves: [[first, second], ...]")
    parser.add_argument("--live", action="store_true", help="played into the rig for `assistant run`")
    parser.add_argument("--keep", type=Path, help="--live: the daemon's debug log and events into this folder")
    args = parser.parse_args()
    halves = HALVES
    if args.sentences:
        import yaml

        halves = [(str(a), str(b)) for a, b in yaml.safe_load(args.sentences.read_text())["halves"]]
    if args.live:
        live(halves, args.voices, args.pauses, args.keep)
        return
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
