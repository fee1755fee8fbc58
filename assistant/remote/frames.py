"""Wyoming frames read within bounds. ``wyoming.event``'s readers take any
length a peer names; these refuse a header line, a data part or a payload past
their limits (``BadFrame``), so a peer that sends garbage or too much is
dropped, not served. One header check, for the asyncio reader and the blocking
one (a worker thread's socket)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

from wyoming.event import Event, write_event

MAX_LINE = 64 * 1024  # a frame's JSON header line
MAX_DATA = 64 * 1024  # its data part (and its payload, where no audio is expected)
MAX_AUDIO = 1024 * 1024  # an audio chunk's payload
MAX_INFO = 4 * 1024 * 1024  # an info's data: wyoming-piper's lists every voice it knows (about 300 KiB)


class BadFrame(ValueError):
    """What a peer sent is no Wyoming frame we take: the connection is dropped."""


def _header(line: bytes, max_payload: int, max_data: int) -> tuple[str, dict[str, Any], int, int]:
    """(type, data, data length, payload length) of a header line, checked."""
    try:
        header = json.loads(line)
    except (ValueError, RecursionError):
        raise BadFrame(f"not JSON: {line[:40]!r}") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise BadFrame("a frame without a type")
    data = header.get("data") or {}
    data_length, payload_length = header.get("data_length") or 0, header.get("payload_length") or 0
    if not isinstance(data, dict) or not all(isinstance(n, int) and n >= 0 for n in (data_length, payload_length)):
        raise BadFrame(f"{header['type']}: a malformed header")
    if data_length > max_data or payload_length > max_payload:
        raise BadFrame(f"{header['type']}: data or payload beyond {max(max_data, max_payload)} bytes")
    return header["type"], data, data_length, payload_length


def _event(kind: str, data: dict[str, Any], more: bytes, payload: bytes | None) -> Event:
    if more:
        try:
            extra = json.loads(more)
        except (ValueError, RecursionError):
            raise BadFrame(f"{kind}: its data is not JSON") from None
        if not isinstance(extra, dict):
            raise BadFrame(f"{kind}: its data is no object")
        data = {**data, **extra}
    return Event(type=kind, data=data, payload=payload)


async def read_event(reader: asyncio.StreamReader, max_payload: int = MAX_DATA,
                     max_data: int = MAX_DATA) -> Event | None:
    """The next frame from ``reader`` (made with ``limit=MAX_LINE``); None at the
    end of the stream."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as err:
        if err.partial.strip():
            raise BadFrame("a frame cut short") from None
        return None
    except asyncio.LimitOverrunError:
        raise BadFrame(f"a header line over {MAX_LINE} bytes") from None
    kind, data, data_length, payload_length = _header(line, max_payload, max_data)
    try:
        more = await reader.readexactly(data_length) if data_length else b""
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError:
        raise BadFrame("a frame cut short") from None
    return _event(kind, data, more, payload)


class Blocking:
    """A Wyoming connection for a worker thread: every read and write ends by
    ``deadline`` (time.monotonic()), or raises TimeoutError."""

    def __init__(self, host: str, port: int, deadline: float):
        self.deadline = deadline
        self.sock = socket.create_connection((host, port), timeout=self._left())
        self.file = self.sock.makefile("rwb")

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("past the deadline")
        return left

    def write(self, event: Event) -> None:
        self.sock.settimeout(self._left())
        write_event(event, self.file)  # type: ignore[arg-type]  # a binary file, as it takes

    def read(self, max_payload: int = MAX_DATA) -> Event | None:
        self.sock.settimeout(self._left())
        line = self.file.readline(MAX_LINE + 1)
        if not line:
            return None
        if not line.endswith(b"\n"):
            raise BadFrame(f"a header line over {MAX_LINE} bytes" if len(line) > MAX_LINE else "a frame cut short")
        kind, data, data_length, payload_length = _header(line, max_payload, MAX_DATA)
        more = self._exactly(data_length)
        return _event(kind, data, more, self._exactly(payload_length) or None)

    def _exactly(self, size: int) -> bytes:
        got = self.file.read(size) if size else b""
        if len(got) < size:
            raise BadFrame("a frame cut short")
        return got

    def close(self) -> None:
        self.file.close()
        self.sock.close()
