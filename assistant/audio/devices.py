"""Sound devices through sounddevice (PortAudio): lookup, listing, errors."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from assistant.core.errors import AudioError

logger = logging.getLogger(__name__)


def _sd() -> Any:
    try:
        import sounddevice
    except OSError as err:  # libportaudio2 missing
        raise AudioError(f"PortAudio is not available ({err}); install libportaudio2") from err
    return sounddevice


def find(device: str | int | None, kind: str, key: str) -> dict[str, Any]:
    """The device (``kind`` "input" or "output") for a config value; AudioError naming ``key`` if none."""
    sd = _sd()
    try:
        info = sd.query_devices(device, kind)
    except (ValueError, sd.PortAudioError) as err:
        wanted = "the default device" if device is None else repr(device)
        raise AudioError(f"{key}: no {kind} device matching {wanted} ({err})") from err
    return dict(info)


def listing() -> list[dict[str, Any]]:
    sd = _sd()
    try:
        devices = sd.query_devices()
    except sd.PortAudioError as err:
        raise AudioError(f"cannot list sound devices: {err}") from err
    return [
        {
            "index": d["index"],
            "name": d["name"],
            "inputs": d["max_input_channels"],
            "outputs": d["max_output_channels"],
            "default_rate": d["default_samplerate"],
        }
        for d in devices
    ]


RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0
HEALTHY_S = 5.0  # a stream that lived this long starts the backoff over
DEVICE_SOURCES = ("capture", "playback", "satellite")  # ERROR_OCCURRED sources of a lost microphone or speaker


async def keep_open(attempt: Callable[[], Awaitable[None]], on_error: Callable[[str, Exception], None],
                    source: str, what: str) -> None:
    """Run ``attempt`` (open a stream and use it until it fails) forever. Each failure
    is reported through ``on_error`` and retried after 0.5 s, doubling to 10 s; a
    stream that lived ``HEALTHY_S`` starts the backoff over."""
    delay = RETRY_FIRST_S
    while True:
        started = time.monotonic()
        try:
            await attempt()
        except asyncio.CancelledError:
            raise
        except Exception as err:  # PortAudio raises several kinds
            on_error(source, err if isinstance(err, AudioError) else AudioError(f"{what}: {err}"))
        if time.monotonic() - started >= HEALTHY_S:
            delay = RETRY_FIRST_S
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY_MAX_S)
