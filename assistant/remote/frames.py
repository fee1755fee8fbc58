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
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from wyoming.event import Event, async_write_event, write_event
from wyoming.info import Describe, Info

T = TypeVar("T")

MAX_LINE = 64 * 1024  # a frame's JSON header line
MAX_DATA = 64 * 1024  # its data part (and its payload, where no audio is expected)
MAX_AUDIO = 1024 * 1024  # an audio chunk's payload
MAX_INFO = 4 * 1024 * 1024  # an info's data: wyoming-piper's lists every voice it knows (about 300 KiB)
MAX_BEFORE_INFO = 10_000  # frames a peer may send before its info, at most


_RESOLVER = ThreadPoolExecutor(2, "wyoming-resolve")  # host names of remote services, for worker threads


class BadFrame(ValueError):
    """What a peer sent is no Wyoming frame we take: the connection is dropped."""


class RemoteError(Exception):
    """The service answered, but with an error or with what is no answer."""


def why(err: BaseException, timeout_s: float | None = None, server: str = "the service") -> str:
    """A failure to reach or hear a peer, in a few words, for the one line that
    reports it. ``timeout_s``: the deadline a TimeoutError means; ``server``: what
    should be listening when the connection is refused."""
    if isinstance(err, TimeoutError):
        return f"no answer within {timeout_s:g} s" if timeout_s is not None else "no answer"
    if isinstance(err, ConnectionRefusedError):
        return f"connection refused (is {server} running?)"
    if isinstance(err, BadFrame | RemoteError):
        return str(err)
    if isinstance(err, OSError):
        return err.strerror or str(err) or type(err).__name__
    return f"{type(err).__name__}: {err}"


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


def parse(kind: type[T], event: Event) -> T:
    """``kind.from_event(event)``: wyoming's parsers raise KeyError, TypeError and
    the like on well-formed JSON of the wrong shape; that is a ``BadFrame`` too."""
    try:
        return kind.from_event(event)  # type: ignore[attr-defined]
    except Exception as err:  # any parser's failure: the peer sent what is no such event
        raise BadFrame(f"{event.type}: malformed ({type(err).__name__}: {err})") from None


async def described(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    max_payload: int = MAX_DATA) -> Info:
    """The peer's own description: ``describe`` sent, its frames read up to its
    ``info`` (those before it pass by, each within ``max_payload``)."""
    await async_write_event(Describe().event(), writer)
    for _ in range(MAX_BEFORE_INFO):
        event = await read_event(reader, max_payload, MAX_INFO)
        if event is None:
            raise BadFrame("closed before describing itself")
        if Info.is_type(event.type):
            return parse(Info, event)
    raise BadFrame("no info among its answers")


class Blocking:
    """A Wyoming connection for a worker thread: every read and write ends by
    ``deadline`` (time.monotonic()), or raises TimeoutError."""

    def __init__(self, host: str, port: int, deadline: float):
        self.deadline = deadline
        # the name looked up beside, so a slow resolver costs the deadline, not the resolver's own timeouts
        lookup = _RESOLVER.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        try:
            found = lookup.result(self._left())
        except TimeoutError:
            lookup.cancel()  # not run later for nobody, if it has not started
            raise
        self.sock = self._connect(found)
        self._buffer = bytearray()

    def _connect(self, found: list[Any]) -> socket.socket:
        """Each address the name has, in turn (localhost is ::1 and 127.0.0.1), as
        ``socket.create_connection`` does; the last failure if none answers."""
        failure: OSError = OSError("the name has no address")
        for family, kind, proto, _, where in found:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self._left())
                sock.connect(where)
                return sock
            except OSError as err:
                sock.close()
                failure = err
        raise failure

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("past the deadline")
        return left

    def write(self, event: Event) -> None:
        self.sock.settimeout(self._left())
        with self.sock.makefile("wb") as out:
            write_event(event, out)

    def _more(self) -> bool:
        """One more receive into the buffer, within the deadline; False at the end."""
        self.sock.settimeout(self._left())  # before every receive: a trickling peer meets the deadline too
        got = self.sock.recv(65536)
        self._buffer += got
        return bool(got)

    def read(self, max_payload: int = MAX_DATA) -> Event | None:
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > MAX_LINE:
                raise BadFrame(f"a header line over {MAX_LINE} bytes")
            if not self._more():
                if self._buffer.strip():
                    raise BadFrame("a frame cut short")
                return None
        line = bytes(self._buffer[:end + 1])
        del self._buffer[:end + 1]
        kind, data, data_length, payload_length = _header(line, max_payload, MAX_DATA)
        more = self._exactly(data_length)
        return _event(kind, data, more, self._exactly(payload_length) or None)

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not self._more():
                raise BadFrame("a frame cut short")
        got = bytes(self._buffer[:size])
        del self._buffer[:size]
        return got

    def close(self) -> None:
        self.sock.close()
