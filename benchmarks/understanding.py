"""How well the coach understands people, on a corpus kept apart from the unit
tests (``benchmarks/understanding_corpus.yaml``: commands in many voices and
questions and remarks that must reach the model). Each line goes through
``understanding.understand``, the chain ``Assistant._skill`` uses, and counts as
understood only with the intent and every slot the corpus expects. Prints per
group: understood, questions or remarks stolen by a skill, commands left to the
model, commands taken for another command, commands asked back for what they
lack; and how long understanding took.

``--speech``: every line is also said by Piper and by espeak-ng and transcribed
by tiny.en as the daemon hears it (the short window at a pause; when that is
no command, the 30 s window at the end of the turn; when that is no command and
no question, heard again prompted with commands and the likeliest of the
readings whisper weighed that is a command taken, ``stt.commands_again``), then
understood. ``--once``: without hearing it again.

``--opinion URL MODEL``: a line no template took that looks like a command is
read by that server's model (``opinion``, the daemon's second opinion), and
the table counts what it made of them; ``--opinion bundled gemma3`` starts
llama.cpp's OpenAI server on the bundled models for it.

    .venv/bin/python benchmarks/understanding.py [--speech] [--once] [--misses] [--corpus FILE]
        [--opinion URL MODEL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from assistant.skills import (  # noqa: E402
    led_session,
    opinion,
    understanding,
    workouts,
)
from assistant.skills.understanding import Command  # noqa: E402

IN_SESSION = "in_session"  # a group said while a session is led: ``led_session.heard`` hears it first


@dataclass(frozen=True)
class SessionStep:
    """What ``led_session.heard`` makes of a line, as the corpus names it."""

    step: str
    reps: int | None
    effort: str


def understood(group: str, text: str) -> Command | SessionStep | None:
    """What the daemon's chain makes of ``text`` (``Assistant._skill``): during a
    led session, the session's words first."""
    if group == IN_SESSION and (step := led_session.heard(text)) is not None:
        return SessionStep(*step)
    return understanding.understand(text)

CORPUS = Path(__file__).with_name("understanding_corpus.yaml")
Outcome = str  # understood, stolen, missed, wrong (a command taken for another), model (a question left alone),
# asked (a command asked back for what it lacks)


@dataclass(frozen=True)
class Line:
    group: str
    text: str
    expect: str | dict


def load(path: Path) -> list[Line]:
    data = yaml.safe_load(path.read_text())
    return [Line(group, item["text"], item["expect"]) for group, items in data["groups"].items() for item in items]


def _same_number(want: object, got: object) -> bool:
    return got is not None and abs(float(want) - float(got)) < 0.01  # type: ignore[arg-type]


def _has(words: list[str], text: str) -> bool:
    return all(word.lower() in text.lower() for word in words)


def slots_of(command: Command) -> dict:
    """The command's slots as the corpus names them."""
    if isinstance(command, workouts.LogEntry):
        entry = command.entry
        return {k: getattr(entry, k) for k in entry.__dataclass_fields__}
    return {k: getattr(command, k) for k in getattr(command, "__dataclass_fields__", {})}


def mismatch(expect: dict, command: Command) -> str:
    """Why ``command`` is not what ``expect`` says ("" when it is)."""
    if type(command).__name__ != expect["intent"]:
        return f"intent {type(command).__name__}"
    got = slots_of(command)
    for key, want in expect.items():
        if key == "intent":
            continue
        if key == "fact_has":
            ok = _has(want, got["fact"])
        elif key == "what_has":
            ok = _has(want, got["what"])
        elif key == "exercise":
            ok = bool(got.get("exercise")) and workouts.exercise_key(got["exercise"]) == workouts.exercise_key(want)
        elif key in ("label", "reminder"):
            ok = _has(str(want).split(), str(got.get(key, "")))
        elif isinstance(want, int | float) and not isinstance(want, bool):
            ok = _same_number(want, got.get(key))
        else:
            ok = got.get(key) == want
        if not ok:
            return f"{key}={got.get(key)!r}, not {want!r}"
    return ""


def judge(line: Line, command: Command | None) -> tuple[Outcome, str]:
    if line.expect == "model":
        return ("model", "") if command is None else ("stolen", type(command).__name__)
    if command is None:
        return "missed", "model"
    if isinstance(command, understanding.AskBack) and line.expect["intent"] != "AskBack":  # type: ignore[index]
        return "asked", command.question
    why = mismatch(line.expect, command)  # type: ignore[arg-type]
    return ("understood", "") if not why else ("wrong", why)


Second = Callable[[str], tuple[Command | None, str]]  # a second opinion: the command, and why


def table(title: str, lines: list[Line], heard: Callable[[Line], str], second: Second | None = None) -> list[str]:
    """One row per group and a total; misses for ``--misses``. With ``second``, a
    line no template took is read by the model too."""
    counts: dict[str, Counter] = {}
    misses: list[str] = []
    opinions: Counter = Counter()
    for line in lines:
        text = heard(line)
        command = understood(line.group, text)
        if command is None and second is not None:
            command, because = second(text)
            if because:
                opinions["asked"] += 1
                outcome, _ = judge(line, command)
                opinions[outcome if command is not None else "refused"] += 1
                misses.append(f"  second opinion on {text!r}: {outcome if command else 'refused'}: {because}")
        outcome, why = judge(line, command)
        counts.setdefault(line.group, Counter())[outcome] += 1
        if outcome not in ("understood", "model", "asked"):
            misses.append(f"  {line.group}: {line.text!r}" + (f" heard {text!r}" if text != line.text else "")
                          + f" -> {outcome} ({why})")
    print(f"\n### {title}\n\n| group | lines | understood as meant | stolen from the model | commands left to the model"
          " | taken for another command | asked back |\n| --- | --- | --- | --- | --- | --- | --- |")
    total: Counter = Counter()
    for group, count in counts.items():
        total.update(count)
        print(_row(group, count))
    print(_row("**all**", total))
    taken = [line.text for line in lines if line.expect == "model" and led_session.heard(heard(line)) is not None]
    print(f"\nquestions and remarks of every group a led session would take for its own: {len(taken)}"
          + (f" ({'; '.join(taken)})" if taken else ""))
    commands = sum(total.values()) - total["model"] - total["stolen"]
    print(f"\ncommands understood: {total['understood']} of {commands} ({100 * total['understood'] / commands:.1f} %);"
          f" questions and remarks stolen: {total['stolen']} of {total['model'] + total['stolen']}")
    if second is not None:
        print(f"second opinions: {opinions['asked']} asked; {opinions['refused']} refused or not supported by the"
              f" words; taken: {opinions['understood']} right, {opinions['wrong']} another command,"
              f" {opinions['stolen']} a question or remark")
    return misses


def _row(group: str, count: Counter) -> str:
    n = sum(count.values())
    meant = count["understood"] + count["model"]
    return (f"| {group} | {n} | {meant} ({100 * meant / n:.0f} %) | {count['stolen']} | {count['missed']}"
            f" | {count['wrong']} | {count['asked']} |")


def timing(lines: list[Line]) -> None:
    understanding.warm()  # as the daemon does when it starts
    times = []
    for line in lines:
        start = time.perf_counter()
        understanding.understand(line.text)
        times.append((time.perf_counter() - start) * 1000)
    print(f"\nunderstanding one utterance: median {statistics.median(times):.3f} ms, max {max(times):.3f} ms"
          f" ({len(times)} utterances)")


def speech(lines: list[Line], again: bool) -> dict[str, Callable[[Line], str]]:
    """For each voice, what tiny.en hears as the daemon hears it (``again``: a
    transcript that may be a command misheard is heard again prompted with commands)."""
    import numpy as np
    from helpers import as_int16, espoken_16k, spoken_16k

    from assistant.core.config import SttConfig
    from assistant.listen.transcription import a_command
    from assistant.speech.whisper import COMMAND_PROMPT, COMMAND_READINGS, WhisperTranscriber

    transcriber = WhisperTranscriber(SttConfig())

    def hearing(say: Callable[[str], np.ndarray]) -> Callable[[Line], str]:
        cache: dict[str, str] = {}

        def heard(line: Line) -> str:
            if line.text not in cache:
                audio = say(line.text)
                text = transcriber.transcribe_sync(audio, short=True).text
                if understanding.understand(text) is None:  # no command at the pause: the turn's end
                    text = transcriber.transcribe_sync(audio).text
                if again and understanding.missed(text):  # TranscriptionService._as_command
                    reheard = transcriber.transcribe_sync(audio, short=True, prompt=COMMAND_PROMPT,
                                                          readings=COMMAND_READINGS)
                    text = a_command(reheard, lambda said: understanding.understand(said) is not None) or text
                cache[line.text] = text
            return cache[line.text]

        return heard

    return {
        "Piper (en_US-joe-medium)": hearing(lambda text: as_int16(spoken_16k(text))),
        "espeak-ng (en-us)": hearing(lambda text: as_int16(espoken_16k(text))),
    }


@contextlib.contextmanager
def second_opinion(url: str, model: str) -> Iterator[Second]:
    """The daemon's second opinion (``opinion.ask``) from ``model`` at ``url``
    ("bundled": llama.cpp's OpenAI server on the bundled models, started here)."""
    from servers import openai_server

    from assistant.core.config import EmbeddedConfig, EndpointConfig, LlmConfig
    from assistant.llm.service import LLMService

    with contextlib.ExitStack() as stack:
        if url == "bundled":
            url = stack.enter_context(openai_server(Path(stack.enter_context(tempfile.TemporaryDirectory())))).url
        cfg = LlmConfig(endpoints=(EndpointConfig(url=url, models=(model,)),), embedded=EmbeddedConfig(enabled=False),
                        second_opinion_s=30.0)
        llm = LLMService(config=cfg)
        loop = stack.enter_context(contextlib.closing(asyncio.new_event_loop()))
        yield lambda text: loop.run_until_complete(opinion.ask(llm, text))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--speech", action="store_true", help="also from speech: Piper and espeak-ng, then tiny.en")
    parser.add_argument("--once", action="store_true", help="from speech, without hearing a missed command again")
    parser.add_argument("--misses", action="store_true", help="list every line not understood as meant")
    parser.add_argument("--opinion", nargs=2, metavar=("URL", "MODEL"), help="a server model's second opinion")
    args = parser.parse_args()
    lines = load(args.corpus)
    with contextlib.ExitStack() as stack:
        second = stack.enter_context(second_opinion(*args.opinion)) if args.opinion else None
        misses = table(f"written ({args.corpus.name})", lines, lambda line: line.text, second)
        timing(lines)
        if args.speech:
            for voice, heard in speech(lines, not args.once).items():
                misses += table(f"spoken by {voice}, heard by tiny.en", lines, heard, second)
    if args.misses:
        print("\nnot understood as meant:\n" + "\n".join(misses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
