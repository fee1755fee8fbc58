"""Words said over a paused reply (barge-in), on the real whisper: is a hum let
go as a backchannel, and are short words kept as a turn? The decision of
``TranscriptionService._heard`` as the daemon makes it, without the rig.

Each interjection is said by five voices (Piper, four espeak-ng ones) over the
coach's echo as the rig leaves it (test_asides.py: 180 ms of the coach's voice,
27 dB under the user, in the pre-roll), at three levels; the first words are
whisper's short window (deterministic).
The hums: the share let go. The words (commands, questions, refusals and other
short words): the share kept as a turn. An utterance whisper heard no words in
lets the reply go on: right for a hum, a word lost; the last column counts them.

    .venv/bin/python benchmarks/asides.py [--voices piper espeak ...] [--show]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers import espoken_16k, spoken_16k  # noqa: E402

from assistant.core.bus import Bus  # noqa: E402
from assistant.core.config import SttConfig, WakeConfig  # noqa: E402
from assistant.core.events import EventName  # noqa: E402
from assistant.listen.transcription import TranscriptionService  # noqa: E402
from assistant.listen.utterances import Segment  # noqa: E402
from assistant.skills import understanding  # noqa: E402
from assistant.speech.whisper import WhisperTranscriber  # noqa: E402

LEAD = 2880  # 180 ms of echo before the voice
PEAK = 8000.0
LEVELS_DB = (-6.0, 0.0, 4.0)  # the interjection against PEAK
HUMS = ["Mm-hmm.", "Uh-huh.", "Mmm.", "Hmm.", "Mm-mm.", "Mhm.", "M-hm.", "Mm.", "Hm-hmm."]
# Written for this benchmark: what people say over a coach to stop it, ask, refuse, or just react.
WORDS = {
    "command": ["Stop.", "Wait.", "Pause.", "Skip.", "Next.", "Hold on.", "Hang on.", "Quiet.", "Cancel.",
                "Never mind.", "Okay, stop.", "Coach, stop.", "Uh, stop.", "Hmm, wait.", "One sec.", "Done."],
    "question": ["What?", "Sorry?", "Again?", "How long?", "Um, what?", "Huh? What?", "Am I?", "Really?"],
    "refusal": ["No.", "Nope.", "Nah.", "Not now.", "Mm, no.", "Hmm, no.", "No, the other one."],
    "other": ["Louder.", "Repeat that.", "Enough.", "Shut up.", "Be quiet.", "Stop talking.", "Shh.", "Later.",
              "In a month.", "In a minute.", "My knee hurts.", "Go back.", "Slow down.", "One more.", "Ten.",
              "Morning.", "Mine.", "Man.", "Mom."],
}
VOICES = {"piper": None, "espeak": "en-us", "espeak-f": "en-gb+f3", "espeak-m": "en-us+m3", "klatt": "en+klatt"}


def echo_lead() -> np.ndarray:
    coach = spoken_16k("Keep your back straight and contain the movement.")
    piece = coach[19_200: 19_200 + LEAD]
    return piece / np.sqrt(np.mean(piece**2)) * PEAK * 10 ** (-27 / 20)


def said(voice: str | None, text: str) -> np.ndarray:
    return spoken_16k(text) if voice is None else espoken_16k(text, voice)


class Paused:
    """A transcription service with a reply paused on every utterance; what became of each."""

    def __init__(self, transcriber: WhisperTranscriber):
        self.bus = Bus()
        self.heard: list = []
        for name in (EventName.SPEECH_DETECTED, EventName.AMBIENT_SPEECH_DETECTED):
            self.bus.on(name, self.heard.append)
        from assistant.listen.wake import is_backchannel

        self.service = TranscriptionService(
            self.bus, transcriber, WakeConfig(), held=lambda _: True,
            aside=lambda _, text, hum: not text or hum or is_backchannel(text),
            missed=understanding.missed, understood=lambda text: understanding.understand(text) is not None)
        self.transcriber = transcriber

    async def turn(self, audio: np.ndarray) -> tuple[str, bool]:
        """(the first words, whether a turn came of them)."""
        first = await self.transcriber.transcribe(audio, short=True)
        done = asyncio.get_running_loop().create_future()
        done.set_result(first)
        self.service._early[(7, len(audio))] = done
        self.heard.clear()
        await self.service._transcribe(Segment(7, audio, 0.0, len(audio) / 16_000, time.time(), 0.8, False,
                                               lead=LEAD))
        return first.text, any(e.name == EventName.SPEECH_DETECTED for e in self.heard)


async def run(voices: list[str], show: bool) -> None:
    paused = Paused(WhisperTranscriber(SttConfig()))
    lead = echo_lead()
    rows: dict[tuple[str, str], list[bool]] = {}
    wrong: list[str] = []
    for name in voices:
        for kind, texts in [("hum", HUMS), *WORDS.items()]:
            for text in texts:
                voice = said(VOICES[name], text)
                for level in LEVELS_DB:
                    audio = np.concatenate([lead, voice / np.abs(voice).max() * PEAK * 10 ** (level / 20),
                                            np.zeros(1600)]).astype(np.int16)
                    first, turn = await paused.turn(audio)
                    if not first:  # no words: a hum let go, a word lost
                        rows.setdefault((name, "no words"), []).append(True)
                    right = turn != (kind == "hum")
                    rows.setdefault((name, kind), []).append(right)
                    if not right:
                        wrong.append(f"{name:8} {level:+.0f} dB {kind:8} {text!r} heard {first!r}")
    kinds = ["hum", *WORDS]
    print("\n| voice | " + " | ".join(f"{k}s {'let go' if k == 'hum' else 'kept'}" for k in kinds)
          + " | no words heard |")
    print("| --- |" + " --- |" * (len(kinds) + 1))
    for name in voices + ["all"]:
        cells = []
        for kind in kinds:
            got = [r for (v, k), rs in rows.items() if k == kind and name in (v, "all") for r in rs]
            cells.append(f"{sum(got)}/{len(got)}")
        tried = [rs for (v, k), rs in rows.items() if k != "no words" and name in (v, "all")]
        silent = [rs for (v, k), rs in rows.items() if k == "no words" and name in (v, "all")]
        cells.append(f"{sum(map(len, silent))}/{sum(map(len, tried))}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    if show:
        print("\n" + "\n".join(wrong))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", nargs="+", choices=list(VOICES), default=list(VOICES))
    parser.add_argument("--show", action="store_true", help="list every wrong decision")
    args = parser.parse_args()
    asyncio.run(run(args.voices, args.show))


if __name__ == "__main__":
    main()
