"""Reading ahead: while the coach is quiet, the model that answers reads the
conversation as the next prompt will begin (``Backend.prefill``), so that the
next question costs only its own words."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from assistant.llm.failover import Failover
from assistant.llm.prompt import Prompter

logger = logging.getLogger(__name__)

ROOM = 48  # tokens left for the question to come when the model reads ahead
WAIT_S = 3.0  # a question waits this long at most for a read in flight


class ReadAhead:
    """Each time the coach has finished speaking (``quiet``) and no question is
    answered or waits (``busy``), the backend and model that answered last read
    the conversation as it now stands: the skill turns since its last answer, a
    step of the window when one is due, and for a server the last question
    without the notes it was sent with (the history keeps what was said). What
    was read last is not read again. A question that comes meanwhile waits for
    the read (``done``): it would pay for it whole, and a server with several
    slots would give it a cold one. A hosted endpoint, or one told to unload its
    model at once, is not read ahead (``Backend.reads_ahead``); a read that
    fails is logged, as a warning once for each endpoint."""

    def __init__(self, failover: Failover, prompter: Prompter, busy: Callable[[], bool]):
        self.failover = failover
        self.prompter = prompter
        self.busy = busy
        self._quiet = asyncio.Event()
        self._reading: asyncio.Future[None] | None = None
        self._read: tuple[int, list[dict[str, str]]] | None = None  # (backend, messages) read last
        self._warned: set[str] = set()

    def quiet(self) -> None:
        self._quiet.set()

    async def done(self) -> None:
        """The read in flight, if any, finished (``WAIT_S`` at most)."""
        if self._reading is not None and not self._reading.done():
            await asyncio.wait([self._reading], timeout=WAIT_S)

    async def run(self) -> None:
        while True:
            await self._quiet.wait()
            self._quiet.clear()
            if self.failover.read_by is None:
                continue
            backend, model = self.failover.read_by
            if not backend.reads_ahead or self.busy():
                continue
            try:
                async with asyncio.timeout(self.failover.cfg.timeouts.first_token):
                    messages = (await self.prompter.prompt(backend, "", reserve=ROOM))[:-1]  # not the empty question
                    if self._read == (id(backend), messages):
                        continue
                    self._reading = asyncio.ensure_future(backend.prefill(model, messages))
                    await self._reading
                self._read = (id(backend), messages)
            except Exception as err:  # reading ahead only saves time: it never stops the service
                log = logger.debug if backend.endpoint in self._warned else logger.warning
                self._warned.add(backend.endpoint)
                log("llm: reading ahead on %s failed: %s", backend.endpoint, err or "timed out")
