"""The real Wyoming speech servers on loopback, on the bundled models:
``wyoming-faster-whisper`` (tiny.en) and ``wyoming-piper`` (en_US-joe-medium).
Each logs to a file the test can read: the faster-whisper server logs every
transcript, the Piper one (``--debug``) every text it is asked to speak. And
``Peer``, a Wyoming peer in process that behaves as a test tells it."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from servers import free_port
from wyoming.event import read_event, write_event
from wyoming.info import Describe

from assistant.core import models
from assistant.remote.frames import MAX_LINE


@dataclass
class WyomingServer:
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def uri(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def logged(self) -> str:
        return self.log.read_text(errors="replace")


def _describes(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock, sock.makefile("rwb") as stream:
            write_event(Describe().event(), stream)
            event = read_event(stream)
            return event is not None and event.type == "info"
    except OSError:
        return False


@contextmanager
def _server(argv_for: Callable[[int], list[str]], log: Path, seconds: float = 120) -> Iterator[WyomingServer]:
    """Up when it answers ``describe``; a port taken meanwhile by another process
    (free_port's race) is tried again with another."""
    for _attempt in range(3):
        port = free_port()
        with log.open("ab") as out:
            proc = subprocess.Popen(argv_for(port), stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + seconds
        while proc.poll() is None and time.monotonic() < deadline and not _describes(port):
            time.sleep(0.2)
        if proc.poll() is None and time.monotonic() < deadline:
            break
        proc.kill()
        proc.wait(timeout=10)
        if "address already in use" not in log.read_text(errors="replace").lower():
            raise RuntimeError(f"{argv_for(port)[2]} did not come up: {log.read_text(errors='replace')[-2000:]}")
    else:
        raise RuntimeError(f"no free port for {argv_for(0)[2]}")
    try:
        yield WyomingServer(proc, port, log)
    finally:
        proc.kill()
        proc.wait(timeout=10)


def whisper_server(tmp: Path) -> AbstractContextManager[WyomingServer]:
    """wyoming-faster-whisper on the bundled tiny.en, with no download."""
    def argv(port: int) -> list[str]:
        return [sys.executable, "-m", "wyoming_faster_whisper", "--uri", f"tcp://127.0.0.1:{port}",
                "--model", models.whisper_model("tiny.en"), "--data-dir", str(tmp), "--language", "en",
                "--local-files-only", "--cpu-threads", "1"]

    return _server(argv, tmp / "whisper.log")


def piper_server(tmp: Path, *flags: str) -> AbstractContextManager[WyomingServer]:
    """wyoming-piper with the bundled voice as its default."""
    found = models.piper_voice("en_US-joe-medium")
    assert found is not None

    def argv(port: int) -> list[str]:
        return [sys.executable, "-m", "wyoming_piper", "--uri", f"tcp://127.0.0.1:{port}", "--voice",
                "en_US-joe-medium", "--data-dir", str(found[0].parent), "--download-dir", str(tmp), "--debug",
                *flags]

    return _server(argv, tmp / "piper.log")


class Peer:
    """A Wyoming peer on loopback (a service or a satellite) that behaves as
    ``behave(reader, writer)`` says, for each connection; ``connections``
    counts them."""

    def __init__(self, behave):
        self.behave = behave
        self.connections = 0

    async def __aenter__(self) -> Peer:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.behave(reader, writer)
            except (ConnectionError, OSError):
                pass
            finally:
                writer.transport.abort()

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0, limit=MAX_LINE)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
