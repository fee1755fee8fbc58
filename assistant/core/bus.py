"""The bus that carries the events (``events``): pyee's AsyncIOEventEmitter,
typed; observers see every event synchronously, and a handler that raises
becomes an ERROR_OCCURRED."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pyee.asyncio import AsyncIOEventEmitter

from assistant.core.events import ErrorOccurred, Event, EventName

logger = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[None] | None]
Observer = Callable[[float, Event], None]


def event_record(at: float, event: Event) -> dict[str, Any]:
    """The JSON-lines form: {"event": NAME, "time": unix seconds, "data": payload}."""
    return {"event": event.name.value, "time": at, "data": dataclasses.asdict(event)}


@dataclass
class Bus:
    """pyee's AsyncIOEventEmitter, typed: handlers that raise become ERROR_OCCURRED."""

    _emitter: AsyncIOEventEmitter = field(default_factory=AsyncIOEventEmitter)
    _observers: list[Observer] = field(default_factory=list)
    _reporting: bool = False
    _turn_ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def new_turn_id(self) -> int:
        """The one source of utterance and turn ids, whatever the origin (microphone,
        file, POST /say, ``chat``): increasing, so "older than" is a comparison."""
        return next(self._turn_ids)

    def __post_init__(self) -> None:
        self._emitter.on("error", self._on_handler_error)

    def on(self, name: EventName, handler: Handler) -> None:
        self._emitter.on(name.value, handler)

    def observe(self, observer: Observer) -> None:
        """Call ``observer(time, event)`` synchronously for every event emitted."""
        self._observers.append(observer)

    def emit(self, event: Event) -> None:
        at = time.time()
        for observer in self._observers:
            try:
                observer(at, event)
            except Exception:
                logger.exception("event observer failed on %s", event.name.value)
        self._emitter.emit(event.name.value, event)

    def error(self, source: str, err: BaseException | str, turn_id: int | None = None) -> None:
        """Log a survived fault and emit ERROR_OCCURRED for it."""
        message = str(err) or type(err).__name__
        logger.error("%s: %s", source, message)
        self.emit(ErrorOccurred(source=source, message=message, turn_id=turn_id))

    def _on_handler_error(self, err: BaseException) -> None:
        if isinstance(err, asyncio.CancelledError):
            return
        logger.error("event handler raised", exc_info=err)
        if self._reporting:  # an ERROR_OCCURRED handler itself raised: log only
            return
        self._reporting = True
        try:
            self.emit(ErrorOccurred(source="handler", message=f"{type(err).__name__}: {err}"))
        finally:
            self._reporting = False

    async def wait_for_complete(self) -> None:
        """Wait for coroutine handlers still running."""
        await self._emitter.wait_for_complete()
