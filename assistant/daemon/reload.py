"""What a SIGHUP may change in a running daemon. What is loaded or bound at
start (the models, the history, what listens or dials on the network, the turn
model) stays as it runs until a restart, and the log says so on every reload
that asks for it; a new config that does not hold with those (barge-in while a
satellite is still the room) is refused whole."""

from __future__ import annotations

import logging
from dataclasses import replace

from assistant.core.config import Settings
from assistant.core.errors import ConfigError
from assistant.core.schema import Invalid

logger = logging.getLogger(__name__)

AT_START = ("stt", "tts", "memory", "satellites", "wyoming", "status_api", "history")


def applicable(running: Settings, new: Settings) -> Settings:
    """``new`` with what only a restart changes kept as ``running`` has it.
    Raises ConfigError when the two do not hold together."""
    kept = {key: getattr(running, key) for key in AT_START if getattr(new, key) != getattr(running, key)}
    named = list(kept)
    if new.llm.embedded != running.llm.embedded:
        kept["llm"], named = replace(new.llm, embedded=running.llm.embedded), [*named, "llm.embedded"]
    vad = running.vad
    if (new.vad.turn, new.vad.turn_model) != (vad.turn, vad.turn_model):
        # The turn model is loaded at start, or not at all: an endpointer judging
        # turns without it would wait max_silence_ms at every pause.
        kept["vad"] = replace(new.vad, turn=vad.turn, turn_model=vad.turn_model)
        named.append("vad.turn and vad.turn_model")
    if not kept:
        return new
    logger.warning("config: %s changes take effect after a restart", ", ".join(named))
    try:
        return replace(new, **kept)
    except Invalid as err:
        raise ConfigError(f"{err.key}: {err} (with what runs until a restart)") from err
