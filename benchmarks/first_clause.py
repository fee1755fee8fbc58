"""The voice starts on a reply's first clause: is it as well said as the whole
first sentence, and how much sooner does it start?

For every knowledge-base answer (the replies the embedded coach speaks most),
the first sentence is cut the way the TTS cuts it (``SentenceSplitter`` with
``quick_start``). Where it is cut, the sentence is synthesized whole and in its
two pieces joined as the TTS joins them (Piper's own silences, no sentence
pause after a piece that ends on a comma), both without Piper's sampling noise, then heard by whisper
(tiny.en, 30 s window). Prints per cut sentence and in sum: the time Piper took
for the first piece against the whole sentence (in this process, nothing else
running), the word error rate of each against the text, and the silence at the
joint against the silence the whole sentence has at the same place (Piper's own
comma or breath), so an odd pause shows.

    .venv/bin/python benchmarks/first_clause.py [--limit N] [--show N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers import wer  # noqa: E402

from assistant.audio.levels import window_db  # noqa: E402
from assistant.core.config import SttConfig, TtsConfig  # noqa: E402
from assistant.llm.grounding import entries  # noqa: E402
from assistant.speech.text import SentenceSplitter, split_sentences  # noqa: E402
from assistant.speech.tts import PiperSynthesizer  # noqa: E402
from assistant.speech.whisper import WhisperTranscriber  # noqa: E402

QUIET_DB = -45.0  # a 5 ms window under this is silence
WINDOW_MS = 5
NEAR_MS = 400  # the whole sentence's pause at the joint is looked for this far either side


def silences_ms(audio: np.ndarray, rate: int) -> list[tuple[float, float]]:
    """(start ms, length ms) of each silence inside ``audio`` (not before or after its sound)."""
    loud = window_db(audio, rate * WINDOW_MS // 1000) > QUIET_DB
    found, run = [], 0
    first = int(np.argmax(loud))
    for i in range(first, len(loud)):
        if loud[i]:
            if run:
                found.append(((i - run) * WINDOW_MS, run * WINDOW_MS))
            run = 0
        else:
            run += 1
    return found


def lead_tail_ms(audio: np.ndarray, rate: int) -> tuple[float, float]:
    loud = np.flatnonzero(window_db(audio, rate * WINDOW_MS // 1000) > QUIET_DB)
    n = len(audio) // (rate * WINDOW_MS // 1000)
    return (loud[0] * WINDOW_MS, (n - 1 - loud[-1]) * WINDOW_MS) if len(loud) else (0.0, 0.0)


def timed(work):
    start = time.perf_counter()
    out = work()
    return out, (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=0, help="only the first N entries (0: all)")
    parser.add_argument("--show", type=int, default=12, help="rows of the table to print")
    args = parser.parse_args()
    voice, ears = PiperSynthesizer(TtsConfig()), WhisperTranscriber(SttConfig())
    rate = voice.sample_rate

    def heard(audio: np.ndarray) -> str:
        pcm = soxr.resample(audio.astype(np.float32), rate, 16_000)
        return ears.transcribe_sync(np.clip(pcm, -32768, 32767).astype(np.int16)).text

    voice.synthesize("Warm up first.", steady=True)
    rows = []
    known = entries()[: args.limit or None]
    for entry in known:
        pieces = SentenceSplitter(quick_start=True).feed(entry.answer + " ")
        if len(pieces) < 2 or not pieces[0].endswith(","):
            continue
        first, rest = pieces[0], pieces[1]
        whole = split_sentences(entry.answer)[0]  # as written, its own comma (or none) at the cut
        whole_audio, whole_ms = timed(lambda w=whole: voice.synthesize(w, steady=True))
        first_audio, first_ms = timed(lambda f=first: voice.synthesize(f, steady=True))
        rest_audio = voice.synthesize(rest, steady=True)
        joined = np.concatenate([first_audio, rest_audio])  # as TtsService joins them: Piper's own silences
        joint = (len(first_audio) - lead_tail_ms(first_audio, rate)[1] * rate / 1000) / rate * 1000
        joint_gap = lead_tail_ms(first_audio, rate)[1] + lead_tail_ms(rest_audio, rate)[0]
        # the whole sentence's longest silence near the place the pieces were joined (Piper's own pause there)
        own_gap = max((g[1] for g in silences_ms(whole_audio, rate) if abs(g[0] - joint) < NEAR_MS), default=0.0)
        rows.append((entry.id, first, first_ms, whole_ms, wer(whole, heard(whole_audio)), wer(whole, heard(joined)),
                     joint_gap, own_gap))
    print(f"{len(rows)} of {len(known)} answers' first sentences were cut\n")
    print("| entry | first piece | Piper: piece / whole sentence | WER whole | WER joined | joint's silence | "
          "the whole's own there |\n| --- | --- | --- | --- | --- | --- | --- |")
    for entry_id, first, first_ms, whole_ms, wer_whole, wer_joined, joint_gap, own_gap in rows[: args.show]:
        print(f"| {entry_id} | {first} | {first_ms:.0f} / {whole_ms:.0f} ms | {wer_whole:.2f} | {wer_joined:.2f} | "
              f"{joint_gap:.0f} ms | {own_gap:.0f} ms |")
    median = statistics.median
    print(f"\nmedians: Piper {median(r[2] for r in rows):.0f} ms for the first piece against "
          f"{median(r[3] for r in rows):.0f} ms for the whole first sentence; WER {median(r[4] for r in rows):.3f} "
          f"whole, {median(r[5] for r in rows):.3f} joined (means {statistics.mean(r[4] for r in rows):.3f} and "
          f"{statistics.mean(r[5] for r in rows):.3f}); the joint's silence {median(r[6] for r in rows):.0f} ms "
          f"(range {min(r[6] for r in rows):.0f}-{max(r[6] for r in rows):.0f}), the whole sentence's longest "
          f"pause within {NEAR_MS} ms of it {median(r[7] for r in rows):.0f} ms "
          f"(range {min(r[7] for r in rows):.0f}-{max(r[7] for r in rows):.0f})")
    worse = [r for r in rows if r[5] > r[4] + 0.1]
    print(f"joined heard worse than whole by more than 0.1 WER: {len(worse)} of {len(rows)}"
          + "".join(f"\n  {r[0]}: {r[4]:.2f} -> {r[5]:.2f} ({r[1]!r})" for r in worse))


if __name__ == "__main__":
    main()
