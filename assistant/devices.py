"""Sound devices through sounddevice (PortAudio): lookup, listing, errors."""

from __future__ import annotations

import logging
from typing import Any

from .errors import AudioError

logger = logging.getLogger(__name__)


def _sd() -> Any:
    try:
        import sounddevice
    except OSError as err:  # libportaudio2 missing
        raise AudioError(f"PortAudio is not available ({err}); install libportaudio2") from None
    return sounddevice


def find(device: str | int | None, kind: str, key: str) -> dict[str, Any]:
    """The device (``kind`` "input" or "output") for a config value; AudioError naming ``key`` if none."""
    sd = _sd()
    try:
        info = sd.query_devices(device, kind)
    except (ValueError, sd.PortAudioError) as err:
        wanted = "the default device" if device is None else repr(device)
        raise AudioError(f"{key}: no {kind} device matching {wanted} ({err})") from None
    return dict(info)


def listing() -> list[dict[str, Any]]:
    sd = _sd()
    try:
        devices = sd.query_devices()
    except sd.PortAudioError as err:
        raise AudioError(f"cannot list sound devices: {err}") from None
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


def refresh() -> None:
    """Let PortAudio look for devices again (only while no stream is open)."""
    sd = _sd()
    try:
        sd._terminate()
        sd._initialize()
    except sd.PortAudioError as err:
        logger.warning("cannot re-initialize PortAudio: %s", err)
