"""The ``assistant`` command. Bad input ends in one line on stderr and exit 2."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

from assistant import __version__
from assistant.cli import records
from assistant.cli.run import check_writable, run, warn_about_keys
from assistant.core.config import Settings, default_config_path, load_settings, replace_first_endpoint
from assistant.core.errors import AssistantError, ConfigError, InputError

logger = logging.getLogger("assistant")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage plus a line
        raise ConfigError(f"{self.prog}: {message}")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path,
                        help="config.yaml to use (default: ./config.yaml, then ~/.config/assistant/config.yaml)")


def _llm_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--llm-url", help="replace the first endpoint's URL")
    parser.add_argument("--llm-api", choices=["auto", "ollama-chat", "ollama-generate", "openai"])
    parser.add_argument("--llm-model", action="append", help="model name; repeat: primary, then fallbacks")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="assistant", description="A local, hands-free voice coach.")
    parser.add_argument("--version", action="version", version=f"assistant {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the coach")
    onboard = sub.add_parser("onboard", help="the coach-creator interview (by voice, then the coach runs on)")
    onboard.add_argument("--text", action="store_true", help="type the answers instead (one per line on stdin)")
    for command in (run, onboard):
        _common(command)
        _llm_overrides(command)
        command.add_argument("--input", type=Path, help="audio file (WAV, FLAC, OGG) instead of the microphone")
        command.add_argument("--output", type=Path, help="write the coach's speech to this WAV instead of the speaker")
        command.add_argument("--events", type=Path, help="write every bus event to this JSON-lines file")
        command.add_argument("--realtime", action="store_true", help="feed --input at the pace of real time")

    ask = sub.add_parser("ask", help="ask the language model once; the reply streams to stdout")
    _common(ask)
    _llm_overrides(ask)
    ask.add_argument("text")
    ask.add_argument("--events", type=Path, help="write every bus event to this JSON-lines file")

    history = sub.add_parser("history", help="print the stored conversation")
    _common(history)
    history.add_argument("--last", type=int, default=20, metavar="N", help="the last N turns (default 20)")
    history.add_argument("--json", action="store_true")

    timers = sub.add_parser("timers", help="list the active timers and interval sessions")
    _common(timers)
    timers.add_argument("--json", action="store_true")

    log = sub.add_parser("log", help="print the workout log")
    _common(log)
    log.add_argument("--since", metavar="DATE", help="entries from this day on: YYYY-MM-DD, today or yesterday")
    formats = log.add_mutually_exclusive_group()
    formats.add_argument("--json", dest="format", action="store_const", const="json")
    formats.add_argument("--csv", dest="format", action="store_const", const="csv",
                         help="Strong's CSV, one row per set (kilograms, kilometres): the workout apps import it")
    formats.add_argument("--import", dest="source", type=Path, metavar="FILE",
                         help="add the sets of a workout app's CSV export (Strong's columns) to the log")
    log.add_argument("--units", choices=("metric", "imperial"), default="metric",
                     help="--csv and --import: kilograms and kilometres, or pounds and miles (as the app is set)")

    memory = sub.add_parser("memory", help="what the coach remembers; 'memory forget ID' removes a fact")
    _common(memory)
    memory.add_argument("action", nargs="*", metavar="forget ID")
    memory.add_argument("--json", action="store_true")

    profile = sub.add_parser("profile", help="the profile from the coach-creator interview")
    _common(profile)
    profile.add_argument("--json", action="store_true")

    plan = sub.add_parser("plan", help="the week of training the coach made ('make me a plan')")
    _common(plan)
    plan.add_argument("--json", action="store_true")

    diagnose = sub.add_parser("diagnose", help="check everything the daemon needs; exit 1 if anything fails")
    _common(diagnose)
    _llm_overrides(diagnose)
    diagnose.add_argument("--json", action="store_true")

    service = sub.add_parser("service", help="the systemd user service")
    _common(service)
    service.add_argument("action", choices=["install", "uninstall", "status"])

    devices = sub.add_parser("devices", help="list sound devices with their default rates")
    _common(devices)

    transcribe = sub.add_parser("transcribe", help="print the transcript of each utterance in a file")
    _common(transcribe)
    transcribe.add_argument("file", type=Path)

    understand = sub.add_parser("understand", help="what the coach makes of TEXT: a skill's command, or the model")
    _common(understand)
    understand.add_argument("text")
    understand.add_argument("--json", action="store_true", help="one JSON object: skill, intent, slots")
    return parser


def load(args: argparse.Namespace) -> Settings:
    path = args.config if args.config is not None else default_config_path()
    settings = load_settings(path)
    if hasattr(args, "llm_url"):
        settings = replace_first_endpoint(settings, args.llm_url, args.llm_api, args.llm_model)
    return settings


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in ("httpx", "httpcore", "faster_whisper"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


async def _transcribe(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.audio.capture import SAMPLE_RATE, read_audio_file, split_frames
    from assistant.listen.utterances import Segment
    from assistant.listen.vad import Endpointer
    from assistant.speech.whisper import WhisperTranscriber

    pcm = read_audio_file(args.file)
    transcriber = await asyncio.to_thread(WhisperTranscriber, settings.stt)
    endpointer = Endpointer(settings.vad)
    segments: list[Segment] = []
    for samples in split_frames(pcm, settings.vad.frame_ms):
        segments += [s for s in endpointer.process(samples, 0.0) if isinstance(s, Segment)]
    segments += endpointer.flush()
    for segment in segments:
        transcript = await transcriber.transcribe(segment.audio)
        if transcript.text:
            start = segment.start_s
            print(f"[{start:7.2f}s - {start + len(segment.audio) / SAMPLE_RATE:7.2f}s] {transcript.text}", flush=True)
    return 0


async def _understand(args: argparse.Namespace, settings: Settings) -> int:
    """``skill: Intent slot=value ...`` or ``model``, and why (which template or
    grammar): what the daemon would do with the words."""
    import dataclasses
    import json

    from assistant.skills.understanding import explain, skill

    command, why = explain(args.text)
    if command is None:
        print(json.dumps({"skill": "model", "why": why}) if args.json else f"model\n  why: {why}")
        return 0
    slots = dataclasses.asdict(command)
    if args.json:
        print(json.dumps({"skill": skill(command), "intent": type(command).__name__, "slots": slots, "why": why}))
    else:
        said = " ".join(f"{k}={v!r}" for k, v in slots.items())
        print(f"{skill(command)}: {type(command).__name__} {said}".rstrip() + f"\n  why: {why}")
    return 0


async def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.core.bus import Bus
    from assistant.core.events import ResponseChunk, ResponseGenerated
    from assistant.daemon.reports import EventLog, open_event_log
    from assistant.llm.grounding import knowledge
    from assistant.llm.ledger import APOLOGY_API
    from assistant.llm.service import LLMService
    from assistant.skills.coaching import Coaching
    from assistant.skills.notebook import Notebook

    if args.events is not None:
        check_writable(args.events, "--events")
    if not args.text.strip():
        raise InputError("ask: the question is empty")
    bus = Bus()
    events = open_event_log(args.events)
    if events is not None:
        bus.observe(EventLog(events))
    bus.observe(lambda at, e: print(e.text, end="", flush=True) if isinstance(e, ResponseChunk) else None)
    generated: list[ResponseGenerated] = []
    bus.observe(lambda at, e: generated.append(e) if isinstance(e, ResponseGenerated) else None)
    warn_about_keys(settings)
    llm = LLMService(config=settings.llm, bus=bus, persona=settings.persona)
    notebook = Notebook(settings.history.path)  # what the coach knows of the user, as in the daemon
    coaching = Coaching(bus, notebook)
    coaching.inform(llm.prompter)
    llm.prompter.knowledge = knowledge() if settings.llm.knowledge else None
    try:
        await llm.generate_async(args.text, turn_id=1)
        await bus.wait_for_complete()
    finally:
        print(flush=True)
        notebook.close()
        await llm.aclose()
        if events is not None:
            events.close()
    return 1 if generated and generated[-1].api == APOLOGY_API else 0


async def _devices(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.audio import devices

    found = devices.listing()
    if not found:
        print("no sound devices found")
        return 1
    print(f"{'index':>5}  {'in':>3}  {'out':>3}  {'rate':>7}  name")
    for d in found:
        print(f"{d['index']:>5}  {d['inputs']:>3}  {d['outputs']:>3}  {d['default_rate']:>7.0f}  {d['name']}")
    return 0


async def _history(args: argparse.Namespace, settings: Settings) -> int:
    return records.history(args.last, args.json, settings)


async def _timers(args: argparse.Namespace, settings: Settings) -> int:
    return records.timers(args.json, settings)


async def _log(args: argparse.Namespace, settings: Settings) -> int:
    imperial = args.units == "imperial"
    if args.source is not None:
        return records.import_log(args.source, imperial, settings)
    return records.log(args.since, args.format or "text", imperial, settings)


async def _memory(args: argparse.Namespace, settings: Settings) -> int:
    return records.memory(args.action, args.json, settings)


async def _profile(args: argparse.Namespace, settings: Settings) -> int:
    return records.profile(args.json, settings)


async def _plan(args: argparse.Namespace, settings: Settings) -> int:
    return records.plan(args.json, settings)


async def _onboard(args: argparse.Namespace, settings: Settings) -> int:
    if args.text:
        return records.onboard_text(settings)
    return await run(args, settings, interview=True)


async def _diagnose(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.cli.diagnose import run_checks, show

    checks = await run_checks(settings, getattr(args, "config_error", None), args.config or default_config_path())
    show(checks, as_json=args.json)
    return 1 if any(c.status == "fail" for c in checks) else 0


async def _service(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.cli import service

    config = (args.config or default_config_path() or Path("config.yaml")).resolve()
    return service.command(args.action, config)


COMMANDS = {
    "run": run,
    "ask": _ask,
    "diagnose": _diagnose,
    "history": _history,
    "timers": _timers,
    "log": _log,
    "memory": _memory,
    "profile": _profile,
    "plan": _plan,
    "onboard": _onboard,
    "service": _service,
    "devices": _devices,
    "transcribe": _transcribe,
    "understand": _understand,
}


class _Stopped(BaseException):
    """SIGTERM before the event loop took over the signals: a clean stop all the same."""


def _stop_early(signum: int, frame: object) -> None:
    raise _Stopped(signal.Signals(signum).name)


M_ARENA_MAX = -8  # glibc's mallopt parameter
MALLOC_ARENAS = 2


def _few_malloc_arenas() -> None:
    """glibc gives each thread that allocates its own malloc arena; Piper, whisper
    and llama.cpp run in several worker threads, and their arenas fragment and
    grow for thousands of turns. With two arenas benchmarks/soak.py measured the
    RSS slope fall from 2.27 to 1.28 MiB per 1,000 turns (1.02 with the history's
    small page cache) and 16 MiB less resident. No-op off glibc."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return  # the user's choice
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, MALLOC_ARENAS)
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    _few_malloc_arenas()  # before any thread allocates
    previous = signal.signal(signal.SIGTERM, _stop_early)
    command = ""
    try:
        args = build_parser().parse_args(argv)
        command = args.command
        try:
            settings = load(args)
        except ConfigError as err:
            if args.command != "diagnose":
                raise
            args.config_error = str(err)  # diagnose reports it, and checks the rest with the defaults
            settings = replace_first_endpoint(Settings(), args.llm_url, args.llm_api, args.llm_model)
        _setup_logging(settings.log_level)
        return asyncio.run(COMMANDS[args.command](args, settings))
    except (ConfigError, InputError) as err:
        print(f"assistant: error: {err}", file=sys.stderr)
        return 2
    except AssistantError as err:
        print(f"assistant: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except _Stopped:
        return 0
    except BrokenPipeError:  # "assistant log | head": the reader has what it wanted
        if command == "run":  # the daemon's pipes are sockets: not a reader gone from standard output
            raise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141
    finally:
        signal.signal(signal.SIGTERM, previous)

