"""The local status API (aiohttp), loopback only unless configured otherwise.

    GET  /health   JSON: state, uptime, last error, endpoint in use
    GET  /metrics  Prometheus text: turns, errors, fallbacks, time to first
                   token and to first audio as histograms
    GET  /events   server-sent events: every bus event, live
    POST /say      {"text": "..."}: injected as addressed speech
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from .config import StatusApiConfig
from .events import Event, ResponseChunk, SpeechDetected, event_record

if TYPE_CHECKING:
    from .app import Assistant

logger = logging.getLogger(__name__)

BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, float("inf"))
CLIENT_QUEUE = 256  # events buffered per /events client; a slower client misses events


@dataclass
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: float = 0.0
    n: int = 0

    def observe(self, seconds: float) -> None:
        self.n += 1
        self.total += seconds
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.counts[i] += 1

    def lines(self, name: str) -> list[str]:
        out = [f"# TYPE {name} histogram"]
        for bound, count in zip(BUCKETS, self.counts):
            out.append(f'{name}_bucket{{le="{"+Inf" if bound == float("inf") else bound}"}} {count}')
        return out + [f"{name}_sum {self.total:.6f}", f"{name}_count {self.n}"]


class Metrics:
    """A bus observer: what /health and /metrics report."""

    def __init__(self) -> None:
        self.started = time.time()
        self.state = "starting"
        self.turns = 0
        self.errors = 0
        self.fallbacks = 0
        self.last_error: dict | None = None
        self.endpoint: dict | None = None
        self.first_token = Histogram()
        self.first_audio = Histogram()
        self._ended_at: dict[int, float] = {}
        self._first_chunk: set[int] = set()

    def __call__(self, at: float, event: Event) -> None:
        name = event.name.value
        if name == "SYSTEM_STARTED":
            self.state = "listening"
        elif name == "SPEECH_STARTED":
            self.state = "hearing"
        elif isinstance(event, SpeechDetected):
            self.state = "thinking"
            self._ended_at[event.utterance_id] = event.speech_ended_at
        elif name == "RESPONSE_GENERATING":
            self.endpoint = {"endpoint": event.endpoint, "api": event.api, "model": event.model}
        elif isinstance(event, ResponseChunk) and event.turn_id not in self._first_chunk:
            self._first_chunk.add(event.turn_id)
            if event.turn_id in self._ended_at:
                self.first_token.observe(at - self._ended_at[event.turn_id])
        elif name == "RESPONSE_GENERATED":
            self.turns += 1
            self.fallbacks += len(event.fallbacks)
        elif name == "SPEAKING_STARTED":
            self.state = "speaking"
            if event.turn_id in self._ended_at:
                self.first_audio.observe(at - self._ended_at.pop(event.turn_id))
        elif name == "SPEAKING_FINISHED":
            self.state = "listening"
            self._first_chunk.discard(event.turn_id)
        elif name == "ERROR_OCCURRED":
            self.errors += 1
            self.last_error = {"time": at, "source": event.source, "message": event.message}
        elif name == "SYSTEM_STOPPED":
            self.state = "stopped"

    def prometheus(self) -> str:
        lines = [
            "# TYPE assistant_turns_total counter", f"assistant_turns_total {self.turns}",
            "# TYPE assistant_errors_total counter", f"assistant_errors_total {self.errors}",
            "# TYPE assistant_fallbacks_total counter", f"assistant_fallbacks_total {self.fallbacks}",
            *self.first_token.lines("assistant_time_to_first_token_seconds"),
            *self.first_audio.lines("assistant_time_to_first_audio_seconds"),
        ]
        return "\n".join(lines) + "\n"


class StatusApi:
    def __init__(self, cfg: StatusApiConfig, assistant: Assistant):
        self.cfg = cfg
        self.assistant = assistant
        self.metrics = Metrics()
        self.clients: set[asyncio.Queue[str | None]] = set()
        self._say_ids = 1_000_000_000  # injected utterances get ids no microphone reaches
        assistant.bus.observe(self.metrics)
        assistant.bus.observe(self._broadcast)
        self.port = cfg.port  # the real one once bound (cfg.port may be 0)

    def _broadcast(self, at: float, event: Event) -> None:
        if not self.clients:
            return
        line = f"event: {event.name.value}\ndata: {json.dumps(event_record(at, event))}\n\n"
        for queue in list(self.clients):
            try:
                queue.put_nowait(line)
            except asyncio.QueueFull:
                pass  # a client too slow to read misses events rather than slowing the coach

    async def health(self, request: web.Request) -> web.Response:
        m = self.metrics
        return web.json_response({
            "state": m.state, "uptime_s": round(time.time() - m.started, 1), "last_error": m.last_error,
            "endpoint": m.endpoint, "turns": m.turns,
        })

    async def prometheus(self, request: web.Request) -> web.Response:
        return web.Response(text=self.metrics.prometheus(), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type": "text/plain; version=0.0.4"})

    async def events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=CLIENT_QUEUE)
        self.clients.add(queue)
        try:
            await response.write(b": connected\n\n")
            while (line := await queue.get()) is not None:  # None: the daemon is stopping
                await response.write(line.encode())
        finally:
            self.clients.discard(queue)
        return response

    async def say(self, request: web.Request) -> web.Response:
        try:
            body = await request.json() if request.content_type == "application/json" else {"text": await request.text()}
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        text = str(body.get("text", "")).strip() if isinstance(body, dict) else ""
        if not text:
            return web.json_response({"error": "give the text to say to the coach: {\"text\": \"...\"}"}, status=400)
        self._say_ids += 1
        self.assistant.bus.emit(SpeechDetected(self._say_ids, text, "typed", 0.0, time.time(), 0.0))
        return web.json_response({"utterance_id": self._say_ids}, status=202)

    async def serve(self) -> None:
        app = web.Application()
        app.router.add_get("/health", self.health)
        app.router.add_get("/metrics", self.prometheus)
        app.router.add_get("/events", self.events)
        app.router.add_post("/say", self.say)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.cfg.host, self.cfg.port, shutdown_timeout=1.0)
        try:
            await site.start()
            self.port = runner.addresses[0][1]
            logger.info("status API on http://%s:%d", self.cfg.host, self.port)
            await asyncio.Event().wait()  # until cancelled
        finally:
            for queue in list(self.clients):  # end the /events streams, so the server can close
                while queue.full():
                    queue.get_nowait()
                queue.put_nowait(None)
            await runner.cleanup()
