"""Latency benchmark: streaming pipeline against the sequential design.

Feeds a recording paced in real time and prints, per turn, the time from the
last voiced frame to the transcript, to the first token and to the first audio
sample. Then the same turns go through the sequential design (the whole reply
generated without streaming, synthesized whole, then played), in the same run
with the same models, and the ratio of the two times to first audio is shown.
Both are the model's answers (the knowledge base off). Then commands answered
by a skill, and questions the knowledge base answers (the embedded coach as
shipped), on the wall clock as live, with the time to the first audio from the
last voiced frame and from the moment the turn was judged over.

    .venv/bin/python benchmarks/latency.py [--input FILE] [--config config.yaml]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.audio.capture import FileSource, Frame  # noqa: E402
from assistant.audio.playback import WavSink  # noqa: E402
from assistant.core.config import Settings, load_settings  # noqa: E402
from assistant.core.events import ResponseGenerated, SpeechDetected  # noqa: E402
from assistant.daemon.app import Assistant  # noqa: E402
from assistant.daemon.parts import Models  # noqa: E402
from assistant.daemon.reports import TurnReport  # noqa: E402
from assistant.listen.vad import Endpointer  # noqa: E402
from assistant.listen.utterances import Segment
from assistant.speech.text import split_sentences  # noqa: E402

QUESTIONS = [
    "I am about to start a long run. How should I warm up, pace myself and cool down?",
    "Give me three tips to improve my squat form.",
    "What should I eat and drink after a hard workout, and when?",
]
PROMPT = (
    "You are Coach, a voice coach. Your words are spoken aloud. Answer in four to six short, "
    "plain sentences, with no lists and no markdown."
)


@dataclass
class Turn:
    text: str = ""
    ended_at: float = 0.0
    transcript_ms: float = 0.0
    first_token_ms: float = 0.0
    first_audio_ms: float = 0.0
    sentences: int = 0


async def streaming(settings: Settings, models: Models, source: FileSource, out: Path) -> list[Turn]:
    sink = WavSink(out, models.synthesizer.sample_rate)
    assistant = Assistant(settings, models, sink, live=False)
    report = TurnReport(out=io.StringIO())  # the daemon's own per-turn timings
    assistant.bus.observe(report)

    def alone(at: float, event: object) -> None:
        if isinstance(event, ResponseGenerated):
            assistant.llm.history.clear()  # each turn alone, as in the sequential design

    assistant.bus.observe(alone)
    await assistant.run(source, until_source_ends=True)
    return [
        Turn(t.heard, t.speech_ended_at, t.since_speech_ms(t.transcribed_at), t.since_speech_ms(t.first_token_at),
             t.since_speech_ms(t.first_audio_at), len(split_sentences(t.reply)))
        for _, t in sorted(report.finished)
    ]


async def sequential(settings: Settings, models: Models, source: FileSource) -> list[Turn]:
    """The design being replaced: transcribe, generate whole, synthesize whole, play."""
    llama = models.embedded.llama
    options = settings.llm.options
    frames: asyncio.Queue[Frame | None] = asyncio.Queue(maxsize=settings.audio.queue_frames)
    segments: asyncio.Queue[Segment | None] = asyncio.Queue()
    endpointer = Endpointer(settings.vad)
    turns: list[Turn] = []

    async def listen() -> None:
        while (frame := await frames.get()) is not None:
            for item in endpointer.process(frame.samples, frame.at):
                if isinstance(item, Segment):
                    await segments.put(item)
        for item in endpointer.flush():
            await segments.put(item)
        await segments.put(None)

    async def answer() -> None:
        while (segment := await segments.get()) is not None:
            transcript = await models.transcriber.transcribe(segment.audio)
            turn = Turn(transcript.text, segment.ended_at, (time.time() - segment.ended_at) * 1000)
            messages = [{"role": "system", "content": settings.llm.system_prompt},
                        {"role": "user", "content": transcript.text}]
            reply = await asyncio.to_thread(
                llama.create_chat_completion, messages=messages, max_tokens=options.max_tokens,
                temperature=options.temperature, seed=options.seed)
            text = reply["choices"][0]["message"]["content"]
            turn.first_token_ms = (time.time() - segment.ended_at) * 1000  # the whole reply, at once
            sentences = split_sentences(text)
            for sentence in sentences:  # all of it, before anything is played
                await asyncio.to_thread(models.synthesizer.synthesize, sentence)
            turn.first_audio_ms = (time.time() - segment.ended_at) * 1000
            turn.sentences = len(sentences)
            turns.append(turn)

    async with asyncio.TaskGroup() as group:
        group.create_task(source.run(frames))
        group.create_task(listen())
        group.create_task(answer())
    return turns


KNOWN = [  # questions the knowledge base answers
    "How long should I rest between heavy sets of squats?",
    "What should I eat before a morning run?",
    "How much protein do I need a day?",
    "Is it okay to train when my legs are still sore?",
    "How do I warm up before lifting weights?",
    "How much sleep do I need when I train hard?",
]
COMMANDS = [
    "Start a thirty second timer.",
    "How much time is left?",
    "Pause the timer.",
    "Resume.",
    "Set a timer for two minutes.",
    "Stop the timer.",
]


async def skills(settings: Settings, models: Models, source: FileSource, out: Path) -> list[tuple[str, str, Turn]]:
    """Commands, answered by the timer skill without the model, or questions the
    knowledge base answers, as live: on the wall clock, where a turn is claimed at
    a short pause. ``Turn.first_token_ms`` holds the silence the turn was judged
    over after (its first audio, after the judgement: first_audio_ms less it)."""
    sink = WavSink(out, models.synthesizer.sample_rate)
    assistant = Assistant(settings, models, sink, live=False, wall_clock=True)
    report = TurnReport(out=io.StringIO())
    apis: dict[int, str] = {}
    judged: dict[int, int] = {}
    assistant.bus.observe(report)
    assistant.bus.observe(lambda at, e: apis.update({e.turn_id: e.model if e.api == "skill" else e.api})
                          if isinstance(e, ResponseGenerated) else None)
    assistant.bus.observe(lambda at, e: judged.update({e.utterance_id: e.silence_ms})
                          if isinstance(e, SpeechDetected) else None)
    await assistant.run(source, until_source_ends=True)
    return [(t.reply, apis.get(turn_id, ""), Turn(t.heard, t.speech_ended_at, t.since_speech_ms(t.transcribed_at),
                                                   judged.get(turn_id, 0), t.since_speech_ms(t.first_audio_at)))
            for turn_id, t in sorted(report.finished)]


def make_questions(path: Path, models: Models, questions: list[str] = QUESTIONS, gap_s: int = 8) -> None:
    import numpy as np
    import soundfile

    rate = models.synthesizer.sample_rate
    parts = [np.zeros(rate // 2, np.int16)]
    for q in questions:
        parts += [models.synthesizer.synthesize(q), np.zeros(rate * gap_s, np.int16)]  # room for the answer
    soundfile.write(str(path), np.concatenate(parts), rate, subtype="PCM_16")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, help="recording with questions (default: synthesized)")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--max-tokens", type=int, default=160)
    args = parser.parse_args()
    settings = load_settings(args.config)
    endpoints = settings.llm.endpoints if args.config else ()  # by default: the embedded model alone
    shipped_prompt = settings.llm.system_prompt  # the knowledge pass: the coach's own prompt
    llm = replace(settings.llm, system_prompt=PROMPT, endpoints=endpoints, knowledge=False,
                  options=replace(settings.llm.options, max_tokens=args.max_tokens, temperature=0.0, seed=1))
    settings = replace(settings, llm=llm, log_level="WARNING")
    shipped = replace(settings, llm=replace(llm, system_prompt=shipped_prompt, knowledge=True))
    state = tempfile.mkdtemp(prefix="latency-history-")  # a fresh memory: no resumed turns
    settings = replace(settings, history=replace(settings.history, path=f"{state}/history.sqlite3"))
    models = await Models.load(settings)
    with tempfile.TemporaryDirectory() as tmp:
        recording = args.input or Path(tmp) / "questions.wav"
        if args.input is None:
            make_questions(recording, models)
        fast = await streaming(settings, models, FileSource(recording, 30, realtime=True), Path(tmp) / "s.wav")
        slow = await sequential(settings, models, FileSource(recording, 30, realtime=True))
        make_questions(Path(tmp) / "commands.wav", models, COMMANDS, gap_s=4)
        commands = await skills(settings, models, FileSource(Path(tmp) / "commands.wav", 30, realtime=True),
                                Path(tmp) / "c.wav")
        make_questions(Path(tmp) / "known.wav", models, KNOWN, gap_s=12)
        known = await skills(shipped, models, FileSource(Path(tmp) / "known.wav", 30, realtime=True),
                             Path(tmp) / "k.wav")

    print(f"\n{'turn':>4} | {'sentences':>9} {'streaming: transcript':>21} {'1st token':>9} {'1st audio':>9} | "
          f"{'sentences':>9} {'sequential: transcript':>22} {'reply':>7} {'1st audio':>9} | {'ratio':>5}")
    ratios = []
    for i, (s, q) in enumerate(zip(fast, slow), 1):
        ratio = q.first_audio_ms / s.first_audio_ms
        if min(s.sentences, q.sentences) >= 3:  # the claim is about replies of three sentences or more
            ratios.append(ratio)
        print(f"{i:>4} | {s.sentences:>9} {s.transcript_ms:>18.0f} ms {s.first_token_ms:>6.0f} ms {s.first_audio_ms:>6.0f} ms"
              f" | {q.sentences:>9} {q.transcript_ms:>19.0f} ms {q.first_token_ms:>4.0f} ms {q.first_audio_ms:>6.0f} ms"
              f" | {ratio:>4.1f}x")
    print(f"\nmedian first audio: streaming {statistics.median(t.first_audio_ms for t in fast):.0f} ms, "
          f"sequential {statistics.median(t.first_audio_ms for t in slow):.0f} ms, "
          f"median ratio {statistics.median(ratios) if ratios else float('nan'):.1f}x over the {len(ratios)} turns "
          f"where both replies had three sentences or more (all times from the last voiced frame)")

    print(f"\n{'command (skill, no model)':<30} | {'heard':<32} | {'api':<8} | {'transcript':>10} | {'1st audio':>9}"
          f" | answer")
    for command, (reply, api, t) in zip(COMMANDS, commands, strict=False):
        print(f"{command:<30} | {t.text:<32} | {api:<8} | {t.transcript_ms:>7.0f} ms | {t.first_audio_ms:>6.0f} ms"
              f" | {reply}")
    skill = [t.first_audio_ms for _, api, t in commands if api == "timers"]
    if skill:
        print(f"\nskill turns: median first audio {statistics.median(skill):.0f} ms, max {max(skill):.0f} ms "
              f"(from the last voiced frame, {len(skill)} of {len(COMMANDS)} commands answered by the skill)")

    print(f"\n{'question (knowledge base)':<52} | {'answered by':<11} | {'judged at':>9} | {'1st audio':>9}"
          f" | {'after judged':>12}")
    for question, (_reply, api, t) in zip(KNOWN, known, strict=False):
        print(f"{question:<52} | {api:<11} | {t.first_token_ms:>6.0f} ms | {t.first_audio_ms:>6.0f} ms"
              f" | {t.first_audio_ms - t.first_token_ms:>9.0f} ms")
    after = [t.first_audio_ms - t.first_token_ms for _, api, t in known if api == "knowledge"]
    if after:
        print(f"\nknowledge turns: first audio a median {statistics.median(after):.0f} ms (max {max(after):.0f} ms) "
              f"after the turn was judged over, {len(after)} of {len(KNOWN)} answered from the base")


if __name__ == "__main__":
    asyncio.run(main())
