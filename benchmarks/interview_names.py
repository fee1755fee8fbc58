"""A name said to the interview's first question ("What should I call you?"), on
the real whisper: is the name the coach stores the name that was said?

Each answer ("Call me Sam.", "My name is Sam.", "Sam.") is said by five voices
(Piper, four espeak-ng ones) after 0 or 300 ms of a quiet room. Names among the
given names (``interview.given_name``: Faker's) and names they lack (Raj, Yuki,
Wei) are counted apart: a rule that trusts the list must not cost a name it
lacks. Each way of hearing:

- ``heard``: whisper as the daemon first hears the answer: its 30 s window at
  the utterance's end (``--window whole``), or the short window at a pause
  (``--window short``: vad.turn: model ends most answers there);
- ``then``: that, and when the name heard is no given name, the answer heard
  again prompted with the question, the likeliest of ``ANSWER_READINGS``
  readings with a given name standing (``TranscriptionService._as_answer``).

    .venv/bin/python benchmarks/interview_names.py [--window whole|short] [--voices piper espeak ...] [--show]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers import espoken_16k, spoken_16k  # noqa: E402

from assistant.core.config import SttConfig  # noqa: E402
from assistant.listen.transcription import ANSWER_READINGS  # noqa: E402
from assistant.skills import interview  # noqa: E402
from assistant.speech.whisper import WhisperTranscriber  # noqa: E402

# Written for this benchmark: common English names, names from elsewhere, newer ones.
NAMES = ["Sam", "Alex", "Jordan", "Chris", "Maria", "Anna", "Mike", "Kate", "Emma", "Olivia", "Noah", "Grace",
         "Tom", "Ben", "Max", "Leo", "Nina", "Carlos", "Ahmed", "Fatima", "Priya", "Raj", "Wei", "Yuki", "Sven",
         "Ingrid", "Liam", "Aiden", "Zara", "Kofi", "Siobhan", "Dave"]
FORMS = ["Call me {}.", "My name is {}.", "{}."]
VOICES = {"piper": None, "espeak": "en-us", "espeak-f": "en-gb+f3", "espeak-m": "en-us+m3", "klatt": "en+klatt"}
LEADS_MS = (0, 300)
PEAKS = (8000.0,)


def said(voice: str | None, text: str) -> np.ndarray:
    return spoken_16k(text) if voice is None else espoken_16k(text, voice)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", nargs="+", default=list(VOICES), choices=list(VOICES))
    parser.add_argument("--show", action="store_true", help="print each name that came out wrong")
    parser.add_argument("--window", choices=("whole", "short"), default="whole", help="the first hearing's window")
    args = parser.parse_args()
    transcriber = WhisperTranscriber(SttConfig())
    rows = []
    noise = np.random.default_rng(0)
    for voice in args.voices:
        counts: dict[tuple[str, bool], list[int]] = {}
        started = time.perf_counter()
        for name in NAMES:
            listed = interview.given_name(name)
            for form in FORMS:
                clean = said(VOICES[voice], form.format(name))
                clean = clean / np.abs(clean).max()
                for lead in LEADS_MS:
                    for peak in PEAKS:
                        voiced = np.concatenate([np.zeros(16 * lead, np.float32), clean * peak])
                        audio = (voiced + noise.normal(0.0, 30.0, len(voiced))).astype(np.int16)  # a quiet room
                        first = transcriber.transcribe_sync(audio, short=args.window == "short")
                        heard = interview.heard_name(first.text)
                        then = heard
                        if interview.doubtful_name(first.text):
                            again = transcriber.transcribe_sync(audio, short=True, prompt=interview.QUESTIONS[0].text,
                                                                readings=ANSWER_READINGS)
                            chosen = interview.a_name((again.text, *again.alternatives))
                            then = interview.heard_name(chosen or first.text)
                        for way, got in (("heard", heard), ("then", then)):
                            right = counts.setdefault((way, listed), [0, 0])
                            right[0] += got == name
                            right[1] += 1
                            if args.show and got != name:
                                print(f"  {voice:9} {way:5} {form.format(name)!r:22} +{lead} ms: {got!r}")
        rows.append((voice, counts, time.perf_counter() - started))
    print(f"first heard in the {args.window} window")
    print("| voice | listed names, heard | then | names not listed, heard | then |")
    print("| --- | --- | --- | --- | --- |")
    for voice, counts, _ in rows:
        cells = [f"{counts[(way, listed)][0]}/{counts[(way, listed)][1]}"
                 for listed in (True, False) for way in ("heard", "then") if (way, listed) in counts]
        print(f"| {voice} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
