"""The one loop every queue worker runs: get, handle, let cancellation through,
report anything else, mark the item done."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def queue_worker(
    queue: asyncio.Queue[T], handle: Callable[[T], Awaitable[None]], report: Callable[[T, Exception], None]
) -> None:
    """Handle ``queue``'s items one at a time, forever; a failed item is reported
    (``report(item, error)``) and the worker goes on with the next."""
    while True:
        item = await queue.get()
        try:
            await handle(item)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            report(item, err)
        finally:
            queue.task_done()
