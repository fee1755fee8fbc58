"""``assistant run`` (and ``onboard``): the daemon on the microphone or a file,
until a signal or the file's end; and the checks of its inputs, which fail in
one line before anything slow starts."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from assistant.core.config import Settings, default_config_path
from assistant.core.errors import ConfigError, InputError
from assistant.core.notify import notify

logger = logging.getLogger("assistant")


async def run(args: argparse.Namespace, settings: Settings, interview: bool = False) -> int:
    from assistant.core.bus import Bus
    from assistant.core.events import EventName, SystemStopped
    from assistant.daemon.app import Assistant
    from assistant.daemon.parts import Models, open_sink, open_source
    from assistant.daemon.reports import EventLog, TurnReport, open_event_log

    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()
    assistant: Assistant | None = None
    stopped_by: list[str] = []

    def stop(name: str) -> None:
        stopped_by.append(name)
        if assistant is not None:
            assistant.stop_reason = name
        main.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):  # from here on a signal stops cleanly, even while loading
        loop.add_signal_handler(sig, stop, sig.name)
    live = args.input is None
    bus = Bus()
    satellites = []
    if live and settings.satellites:  # their microphones and speakers are the coach's, a room each
        from assistant.remote.satellite import Satellite

        for name, uri in settings.satellites.items():
            satellites.append(Satellite(name, uri, settings.vad.frame_ms, bus.error))
            bus.on(EventName.SPEECH_DETECTED, satellites[-1].heard)
            for event in (EventName.TIMER_STARTED, EventName.TIMER_UPDATED, EventName.TIMER_FINISHED,
                          EventName.TIMER_CANCELLED):
                bus.on(event, satellites[-1].timer)
    elif live:
        need_device(settings.audio.input_device, "input", "audio.input_device")
    satellite = satellites[0] if satellites else None  # home: typed questions are answered there
    if satellite is not None:
        satellite.home = True
    source = open_source(settings, bus.error, args.input, args.realtime, satellite)
    if args.output is not None:
        check_writable(args.output, "--output")
    elif satellite is None:
        need_device(settings.audio.output_device, "output", "audio.output_device")
    if args.events is not None:
        check_writable(args.events, "--events")
    warn_about_keys(settings)
    events = open_event_log(args.events)
    if events is not None:
        bus.observe(EventLog(events))
    status_api = wyoming = None
    try:
        if settings.status_api.enabled:
            from assistant.daemon.pairing import pairing_path
            from assistant.daemon.status import StatusApi

            status_api = StatusApi(settings.status_api, bus, pairing=pairing_path(settings))
            await status_api.start()  # a taken port fails now, in one line
        if settings.wyoming.listen is not None:
            from assistant.daemon.wyoming_service import WyomingService

            wyoming = WyomingService(settings.wyoming, bus)
            await wyoming.start()  # so does this one
        notify("STATUS=loading models")
        models = await Models.load(settings, bus.error)
        sink = open_sink(settings, models.synthesizer.sample_rate, bus.error, args.output, live=live,
                         satellite=satellite)
        config_path = args.config if args.config is not None else default_config_path()
        assistant = Assistant(settings, models, sink, live=live, bus=bus, config_path=config_path,
                              status_api=status_api, wall_clock=live or args.realtime, interview=interview,
                              room=satellite.name if satellite is not None else "", satellite=satellite)
        others = []
        for other in satellites[1:]:
            assistant.add_room(other.name, open_sink(settings, models.synthesizer.sample_rate, bus.error, live=live,
                                                     satellite=other), other)
            others.append(open_source(settings, bus.error, satellite=other))
        if status_api is not None:
            status_api.accepts = assistant.llm.accepts
            status_api.page.coach = assistant
        if wyoming is not None:
            wyoming.accepts, wyoming.ready = assistant.llm.accepts, True
        bus.observe(TurnReport())
        loop.add_signal_handler(signal.SIGHUP, assistant.request, "reload")
        await assistant.run(source, until_source_ends=not live, others=others)
    except asyncio.CancelledError:
        if not stopped_by:
            raise
        main.uncancel()
        if assistant is None:  # stopped while loading: nothing ran, but say so
            bus.emit(SystemStopped(stopped_by[0]))
        logger.info("stopped by %s", stopped_by[0])
    finally:
        if status_api is not None:
            await status_api.close()
        if wyoming is not None:
            await wyoming.close()
        if events is not None:
            events.close()
    return 0


def warn_about_keys(settings: Settings) -> None:
    from assistant.llm.servers import key_problem

    for index, endpoint in enumerate(settings.llm.endpoints):
        problem = key_problem(endpoint)
        if problem:
            logger.warning("llm.endpoints[%d]: %s: requests go without a key", index, problem)


def need_device(device: str | int | None, kind: str, key: str) -> None:
    from assistant.audio import devices
    from assistant.core.errors import AudioError

    try:
        devices.find(device, kind, key)
    except AudioError as err:  # a device the config names, or the default, is not there: bad input
        flag = "--input FILE" if kind == "input" else "--output FILE.wav"
        raise ConfigError(f"{err}; run 'assistant diagnose' to check the sound setup, or use {flag}") from err


def check_writable(path: Path, flag: str) -> None:
    if path.is_dir():
        raise InputError(f"{flag} {path}: is a directory")
    if not path.parent.resolve().is_dir():
        raise InputError(f"{flag} {path}: folder {path.parent} does not exist")
