"""The local status API (aiohttp), loopback only unless configured otherwise.

    GET  /health   JSON: state, uptime, last error, endpoint in use
    GET  /metrics  Prometheus text: turns, errors, fallbacks, time to first
                   token and to first audio as histograms
    GET  /events   server-sent events: every bus event, live
    POST /say      {"text": "..."}: injected as addressed speech
    GET  /         the coach's page, and /api/ for it (``page``)

Requests are refused (JSON error) unless ``Host`` is a loopback name with our
port or listed in ``status_api.allowed_hosts`` (403), any ``Origin`` is this
server's own (403: a page from anywhere else, another port of this machine
too), the bearer token matches when ``status_api.token_env`` is set (401), the
body is at most 16 KiB (413); ``/say`` takes ``application/json`` only (415).
Every response carries the page's security headers (``page.HEADERS``: a strict
Content-Security-Policy, no framing, no sniffing, same-origin resources only).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientConnectionResetError, web

from assistant.audio.devices import DEVICE_SOURCES
from assistant.core.bus import Bus, event_record
from assistant.core.config import StatusApiConfig, is_loopback
from assistant.core.errors import ConfigError
from assistant.core.events import (
    ErrorOccurred,
    Event,
    Listening,
    ResponseChunk,
    ResponseGenerated,
    ResponseGenerating,
    SpeakingFinished,
    SpeakingStarted,
    SpeechDetected,
    SpeechStarted,
    SystemStopped,
    TimerCue,
)
from assistant.daemon.page import HEADERS, Page, json_error
from assistant.daemon.pairing import Pairing, pairing_path

logger = logging.getLogger(__name__)

BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, float("inf"))
CUE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.0, float("inf"))  # cue lateness, seconds
CLIENT_QUEUE = 256  # events buffered per /events client; a slower client misses events
TURNS_TRACKED = 64  # turns whose timings are still awaited


@dataclass
class Histogram:
    bounds: tuple[float, ...] = BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.bounds)

    def observe(self, seconds: float) -> None:
        self.n += 1
        self.total += seconds
        for i, bound in enumerate(self.bounds):
            if seconds <= bound:
                self.counts[i] += 1

    def lines(self, name: str) -> list[str]:
        out = [f"# TYPE {name} histogram"]
        for bound, count in zip(self.bounds, self.counts, strict=True):
            out.append(f'{name}_bucket{{le="{"+Inf" if bound == float("inf") else bound}"}} {count}')
        return out + [f"{name}_sum {self.total:.6f}", f"{name}_count {self.n}"]


class Metrics:
    """A bus observer: what /health and /metrics report."""

    def __init__(self) -> None:
        self.started = time.time()
        self.state = "starting"
        self.turns = 0
        self.spoken = 0  # replies that finished playing
        self.errors = 0
        self.fallbacks = 0
        self.last_error: dict[str, object] | None = None
        self.endpoint: dict[str, str] | None = None
        self.first_token = Histogram()
        self.first_audio = Histogram()
        self.cue_lateness = Histogram(CUE_BUCKETS)  # how late timer cues were heard (early ones count as 0)
        self._ended_at: OrderedDict[int, float] = OrderedDict()  # turns not yet heard, bounded
        self._first_chunk: OrderedDict[int, None] = OrderedDict()

    @staticmethod
    def _bounded(turns: OrderedDict[int, Any], turn_id: int, value: Any) -> None:
        turns[turn_id] = value
        while len(turns) > TURNS_TRACKED:
            turns.popitem(last=False)

    def __call__(self, at: float, event: Event) -> None:
        if isinstance(event, Listening):  # SYSTEM_STARTED comes before the models and the input are ready
            self.state = "listening"
        elif isinstance(event, SpeechStarted):
            self.state = "hearing"
        elif isinstance(event, SpeechDetected):
            self.state = "thinking"
            self._bounded(self._ended_at, event.utterance_id, event.speech_ended_at)
        elif isinstance(event, ResponseGenerating):
            self.endpoint = {"endpoint": event.endpoint, "api": event.api, "model": event.model}
        elif isinstance(event, ResponseChunk) and event.turn_id not in self._first_chunk:
            self._bounded(self._first_chunk, event.turn_id, None)
            if event.turn_id in self._ended_at:
                self.first_token.observe(at - self._ended_at[event.turn_id])
        elif isinstance(event, ResponseGenerated):
            self.turns += 1
            self.fallbacks += len(event.fallbacks)
        elif isinstance(event, SpeakingStarted):
            self.state = "speaking"
            if event.turn_id in self._ended_at:
                self.first_audio.observe(at + event.latency_s - self._ended_at.pop(event.turn_id))
        elif isinstance(event, SpeakingFinished):
            if self.state != "reopening audio":
                self.state = "listening"
            self.spoken += 1
            self._first_chunk.pop(event.turn_id, None)
            self._ended_at.pop(event.turn_id, None)
        elif isinstance(event, ErrorOccurred):
            self.errors += 1
            self.last_error = {"time": at, "source": event.source, "message": event.message}
            if event.source in DEVICE_SOURCES:  # a microphone or speaker lost
                self.state = "reopening audio"  # until LISTENING again
        elif isinstance(event, SystemStopped):
            self.state = "stopped"
        elif isinstance(event, TimerCue):
            self.cue_lateness.observe(max(event.late_ms, 0.0) / 1000)

    def prometheus(self) -> str:
        lines = [
            "# TYPE assistant_turns_total counter", f"assistant_turns_total {self.turns}",
            "# TYPE assistant_errors_total counter", f"assistant_errors_total {self.errors}",
            "# TYPE assistant_fallbacks_total counter", f"assistant_fallbacks_total {self.fallbacks}",
            *self.first_token.lines("assistant_time_to_first_token_seconds"),
            *self.first_audio.lines("assistant_time_to_first_audio_seconds"),
            *self.cue_lateness.lines("assistant_timer_cue_lateness_seconds"),
        ]
        return "\n".join(lines) + "\n"


MAX_BODY = 16 * 1024  # bytes; larger bodies get 413
MAX_SAY_CHARS = 2000  # a spoken question is far shorter
UNPAIRED = ("/pair", "/static/pair.js", "/static/style.css", "/static/icon.svg")  # served to a screen not paired
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def split_host(value: str) -> tuple[str, int | None]:
    """``Host`` or netloc -> (lower-case name without brackets, port or None)."""
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8765
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        name, _, port = value.partition(":")
    else:
        name, port = value, ""
    if port and not port.isdigit():
        return name, -1
    return name, int(port) if port else None


def is_loopback_name(name: str) -> bool:
    return name in LOOPBACK_NAMES or name.endswith(".localhost") or is_loopback(name)


def bearer_token(cfg: StatusApiConfig) -> str | None:
    """The token every request must carry, from ``status_api.token_env``; None when
    no token is configured. A named variable that is unset or empty is a config error."""
    if cfg.token_env is None:
        return None
    token = os.environ.get(cfg.token_env, "").strip()
    if not token:
        raise ConfigError(f"status_api.token_env: the environment variable {cfg.token_env} is not set or empty")
    return token


class StatusApi:
    """The HTTP API. Every request is checked before it reaches a handler: a web
    page in the user's browser must not be able to make the coach speak or read
    what the user says (DNS rebinding, "simple" cross-origin requests)."""

    def __init__(self, cfg: StatusApiConfig, bus: Bus, accepts: Callable[[], bool] | None = None,
                 pairing: Path | None = None):
        """``accepts``: whether another question can be queued now (else 429);
        None while the coach is loading (503: a question then would be lost).
        ``pairing``: where the pairing code is kept, when a browser must pair
        (beyond loopback, or with a token: ``pairing.Pairing``; None: beside the
        default history)."""
        self.cfg = cfg
        self.bus = bus
        self.accepts = accepts
        self.metrics = Metrics()
        self.clients: set[asyncio.Queue[str | None]] = set()
        self.token = bearer_token(cfg)
        self.allowed_hosts = {h.lower().strip("[]") for h in cfg.allowed_hosts}
        bus.observe(self.metrics)
        bus.observe(self._broadcast)
        self.page = Page(bus, secrets.token_urlsafe(24), self.metrics)  # page.coach: set once the coach is loaded
        # a browser cannot send a bearer token: where one is needed (beyond loopback, or token_env), it pairs
        needs = not is_loopback(cfg.host) or self.token is not None
        self.pairing = Pairing(pairing or pairing_path()) if needs else None
        self.port = cfg.port  # the real one once bound (cfg.port may be 0)
        self._runner: web.AppRunner | None = None

    # -- who may ask --------------------------------------------------------------

    def refusal(self, request: web.Request) -> web.Response | None:
        """Why ``request`` is refused, as the response to send; None to let it in."""
        name, port = split_host(request.headers.get("Host", ""))
        ours = port == self.port or (port is None and self.port == 80)
        bound = self.cfg.host.lower().strip("[]")
        if not (name in self.allowed_hosts or (ours and (is_loopback_name(name) or name == bound))):
            return json_error(403, f"Host {request.headers.get('Host', '')!r} is not allowed; "
                                    "add the name to status_api.allowed_hosts if it is yours")
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower() != f"http://{request.headers.get('Host', '')}".lower():
            return json_error(403, f"Origin {origin!r} is not allowed: only the coach's own page")
        if origin is None and request.method == "POST" and request.path.startswith(("/api/", "/pair")):
            return json_error(403, "a change from the page needs its Origin")  # every browser sends one
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        bearer = self.token is not None and hmac.compare_digest(given, f"Bearer {self.token}".encode())
        # a paired screen, or the bearer token
        if self.pairing is not None and not (bearer or self.pairing.paired(request) or request.path in UNPAIRED):
            if request.method == "GET" and request.path == "/":
                return web.Response(status=303, headers={"Location": "/pair"})
            token = f"the bearer token (status_api.token_env: {self.cfg.token_env}), or " if self.token else ""
            return json_error(401, f"send {token}pair this screen first: open /pair and type the code from the "
                                    "coach's log or 'assistant diagnose'")
        if (request.content_length or 0) > MAX_BODY:
            return json_error(413, f"body over {MAX_BODY} bytes")
        return None

    @web.middleware
    async def guard(self, request: web.Request, handler) -> web.StreamResponse:
        try:
            refused = self.refusal(request)
        except Exception as err:  # a header no check expected: refused, never a traceback
            logger.debug("status API: refusal check raised", exc_info=err)
            refused = json_error(400, "malformed request")
        if refused is not None:
            logger.warning("status API: refused %s %s: %s", request.method, request.path, refused.text)
            return _secured(refused)
        try:
            return _secured(await handler(request))
        except web.HTTPException as err:  # aiohttp's own: 404, 405, 413 while reading ...
            if err.status < 400:
                raise
            return _secured(json_error(err.status, err.reason))

    # -- handlers -------------------------------------------------------------------

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
            "endpoint": m.endpoint, "turns": m.turns, "spoken": m.spoken,
        })

    async def prometheus(self, request: web.Request) -> web.Response:
        return web.Response(text=self.metrics.prometheus(), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type": "text/plain; version=0.0.4"})

    async def events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={**HEADERS, "Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=CLIENT_QUEUE)
        self.clients.add(queue)
        try:
            await response.prepare(request)
            await response.write(b": connected\n\n")
            while (line := await queue.get()) is not None:  # None: the daemon is stopping
                await response.write(line.encode())
        except (ConnectionResetError, ClientConnectionResetError):
            logger.debug("status API: an /events client went away")
        finally:
            self.clients.discard(queue)
        return response

    async def say(self, request: web.Request) -> web.Response:
        # JSON only: a browser cannot send it cross-origin without a preflight we never grant.
        if request.content_type != "application/json":
            return json_error(415, 'POST /say takes application/json: {"text": "..."}')
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError, RecursionError):
            return json_error(400, "body is not JSON")
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            return json_error(400, 'give the text to say to the coach as a string: {"text": "..."}')
        text = text.strip()
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return json_error(400, "text is not valid Unicode (a lone surrogate)")
        if len(text) > MAX_SAY_CHARS:
            return json_error(413, f"text over {MAX_SAY_CHARS} characters")
        if self.accepts is None:
            return json_error(503, "the coach is still starting; try again in a moment")
        if not self.accepts():
            return json_error(429, "too many questions are waiting; try again in a moment")
        turn_id = self.bus.new_turn_id()
        self.bus.emit(SpeechDetected(turn_id, text, "typed", 0.0, time.time(), 0.0))
        return web.json_response({"utterance_id": turn_id}, status=202)

    # -- life -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the port (before the models load, so a taken port fails at once)."""
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self.guard])
        app.router.add_get("/health", self.health)
        app.router.add_get("/metrics", self.prometheus)
        app.router.add_get("/events", self.events)
        app.router.add_post("/say", self.say)
        self.page.routes(app)
        if self.pairing is not None:
            self.pairing.routes(app, self.page.text("pair.html"))
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.cfg.host, self.cfg.port)
        try:
            await site.start()
        except OSError as err:
            await self.close()
            raise ConfigError(f"status_api.port: cannot listen on {self.cfg.host}:{self.cfg.port}: "
                              f"{err.strerror or err}") from err
        self.port = self._runner.addresses[0][1]
        logger.info("status API on http://%s:%d", self.cfg.host, self.port)
        if self.pairing is not None:
            logger.warning("status API: to see the coach's page on another screen, open http://<this machine>:%d/pair "
                           "there and type the code %s", self.port, self.pairing.spoken)

    async def serve(self) -> None:
        """Serve until cancelled, then close."""
        try:
            if self._runner is None:
                await self.start()
            await asyncio.Event().wait()
        finally:
            await self.close()

    async def close(self) -> None:
        for queue in list(self.clients):  # end the /events streams, so the server can close
            while queue.full():
                queue.get_nowait()
            queue.put_nowait(None)
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()


def _secured(response: web.StreamResponse) -> web.StreamResponse:
    """The page's security headers on every response not yet sent (an event stream has sent its own)."""
    if not response.prepared:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
    return response
