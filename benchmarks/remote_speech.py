"""Remote speech services against the local models, same run, same recording.

Starts the real ``wyoming-faster-whisper`` and ``wyoming-piper`` servers on
loopback (the bundled tiny.en and en_US-joe-medium, as in the tests), then
plays one recording of commands (answered by the timer skill) and questions
(answered from the knowledge base) through the daemon on the wall clock, as
live: once with the local models, once with ``stt.uri`` and ``tts.uri`` set,
in alternating rounds. Prints per turn and in medians the time from the last
voiced frame to the transcript and to the first audio. On loopback the extra
time is the protocol's and the servers' own (tiny.en on a 30 s window, the
server's Piper); across a LAN add its round trips.

    .venv/bin/python benchmarks/remote_speech.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from latency import COMMANDS, KNOWN, Turn, make_questions, skills  # noqa: E402
from wyoming_servers import piper_server, whisper_server  # noqa: E402

from assistant.audio.capture import FileSource  # noqa: E402
from assistant.core.config import load_settings  # noqa: E402
from assistant.daemon.parts import Models  # noqa: E402
from assistant.remote.speech import remote_parts  # noqa: E402


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    settings = load_settings(None)
    state = tempfile.mkdtemp(prefix="remote-speech-")
    settings = replace(settings, log_level="WARNING", llm=replace(settings.llm, endpoints=(), knowledge=True),
                       history=replace(settings.history, path=f"{state}/history.sqlite3"))
    local = await Models.load(settings)
    faults: list[str] = []
    results: dict[str, list[tuple[str, str, Turn]]] = {"local": [], "remote": []}
    with tempfile.TemporaryDirectory() as tmp, whisper_server(Path(tmp)) as stt, piper_server(Path(tmp)) as tts:
        logging.getLogger("wyoming").setLevel(logging.WARNING)
        recording = Path(tmp) / "turns.wav"
        make_questions(recording, local, COMMANDS + KNOWN, gap_s=8)
        ears, voice = await remote_parts(stt.uri, 3.0, tts.uri, 3.0, "en", local.transcriber, local.synthesizer,
                                         lambda source, message: faults.append(f"{source}: {message}"))
        remote = replace(local, transcriber=ears, synthesizer=voice)
        for round_ in range(args.rounds):
            for name, models in (("local", local), ("remote", remote))[:: 1 if round_ % 2 == 0 else -1]:
                fresh = replace(settings, history=replace(settings.history, path=f"{state}/{name}{round_}.sqlite3"))
                turns = await skills(fresh, models, FileSource(recording, 30, realtime=True),
                                     Path(tmp) / f"{name}{round_}.wav")
                results[name] += turns
                print(f"round {round_ + 1}, {name}: {len(turns)} turns", flush=True)
        served = stt.logged().count("dispatch_handler"), tts.logged().count("synthesize: raw_text")

    print(f"\n{'turn':<52} | {'local: transcript':>17} {'1st audio':>9} | {'remote: transcript':>18} {'1st audio':>9}")
    for i, said in enumerate(COMMANDS + KNOWN):
        here = [t for _, _, t in results["local"][i::len(COMMANDS + KNOWN)]]
        there = [t for _, _, t in results["remote"][i::len(COMMANDS + KNOWN)]]
        if not here or not there:
            continue
        print(f"{said:<52} | {statistics.median(t.transcript_ms for t in here):>14.0f} ms "
              f"{statistics.median(t.first_audio_ms for t in here):>6.0f} ms | "
              f"{statistics.median(t.transcript_ms for t in there):>15.0f} ms "
              f"{statistics.median(t.first_audio_ms for t in there):>6.0f} ms")
    print()
    for name in ("local", "remote"):
        turns = [t for _, _, t in results[name]]
        print(f"{name:>6}: {len(turns)} turns, "
              f"median transcript {statistics.median(t.transcript_ms for t in turns):.0f} ms,"
              f" median first audio {statistics.median(t.first_audio_ms for t in turns):.0f} ms,"
              f" max first audio {max(t.first_audio_ms for t in turns):.0f} ms (from the last voiced frame)")
    print(f"the servers' logs: {served[0]} transcripts, {served[1]} sentences voiced; faults: {faults or 'none'}")


if __name__ == "__main__":
    asyncio.run(main())
