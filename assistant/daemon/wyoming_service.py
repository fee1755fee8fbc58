"""The coach as a Wyoming ``handle`` service: a conversation agent for Home
Assistant (or any Wyoming client). ``describe`` is answered with the program it
offers; a ``transcript`` becomes an addressed turn (SPEECH_DETECTED, reason
"remote": the skills and the model answer it, and nothing is spoken in this
room), and its RESPONSE_GENERATED goes back as ``handled``. ``ping`` gets
``pong``.

The protocol has no authentication: only the peers in ``wyoming.allow`` are
served (loopback by default), a refused peer is logged once; every frame is
bounded (a header line, its data and payload), and so are the connections and
the questions waiting. A peer that sends garbage or too much is dropped, and the
others go on.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from wyoming.asr import Transcript
from wyoming.event import Event, async_write_event
from wyoming.handle import Handled, NotHandled
from wyoming.info import Attribution, Describe, HandleModel, HandleProgram, Info
from wyoming.ping import Ping, Pong

from assistant import __version__
from assistant.core.bus import Bus
from assistant.core.config import WyomingConfig
from assistant.core.errors import ConfigError
from assistant.core.events import EventName, ResponseGenerated, SpeechDetected
from assistant.core.net_config import address
from assistant.remote.frames import MAX_LINE, BadFrame, read_event  # a handle service takes no audio

logger = logging.getLogger(__name__)

MAX_PEERS = 8  # connections at once
MAX_REFUSED_LOGGED = 64  # peers whose refusal is logged (once each)
WRITE_S = 10.0  # a reply the peer has not taken in this long: the peer is closed
IDLE_S = 120.0  # a peer that sends nothing this long is closed (it would hold a place)
REPLY_TIMEOUT_S = 180.0  # a turn not answered by then is "not handled" (the model's own timeouts are shorter)
PROGRAM = "coach"
SERVICE_TYPE = "_wyoming._tcp.local."  # what Home Assistant browses for


def _address(peername: object) -> str:
    """The peer's IP address in its one written form (``FE80::0001`` is fe80::1),
    without a scope; an IPv4-mapped one (::ffff:192.0.2.1) is its IPv4 address."""
    host = str(peername[0]) if isinstance(peername, tuple) and peername else "?"
    try:
        address = ipaddress.ip_address(host.split("%")[0])  # fe80::1%eth0: the address without its scope
    except ValueError:
        return host
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return str(mapped or address)


def lan_address() -> str:
    """This machine's address on the network mDNS goes out on (as wyoming's own
    zeroconf helper finds it: the source address of a route to the mDNS group)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("224.0.0.251", 5353))
        return str(probe.getsockname()[0])


def info() -> Info:
    attribution = Attribution(name="assistant", url="https://github.com/")
    return Info(handle=[HandleProgram(
        name=PROGRAM, attribution=attribution, installed=True, version=__version__,
        description="A hands-free training coach: timers, the workout log, the plan, and a language model",
        models=[HandleModel(name=PROGRAM, attribution=attribution, installed=True, version=__version__,
                            description="The coach's skills, then its language model", languages=["en"])])])


class WyomingService:
    """``start`` binds the port (a taken one is one ConfigError); the connections
    are served on the loop until ``close``. ``accepts``: room for another question."""

    def __init__(self, cfg: WyomingConfig, bus: Bus):
        where = address(cfg.listen or "")
        if where is None:
            raise ConfigError(f"wyoming.listen: not a tcp://HOST:PORT address: {cfg.listen!r}")
        self.host, self.port = where
        self.allow = frozenset(str(ipaddress.ip_address(peer)) for peer in cfg.allow)  # as _address writes them
        self.zeroconf = cfg.zeroconf
        self.bus = bus
        self.accepts: Callable[[], bool] = lambda: True
        self.ready = False  # the coach is loaded (the port is bound before the models load)
        self._server: asyncio.Server | None = None
        self._replies: dict[int, asyncio.Future[ResponseGenerated]] = {}
        self._peers: set[asyncio.Task[None]] = set()
        self._refused: set[str] = set()
        self._advertised: Any = None  # zeroconf.asyncio.AsyncZeroconf, while the service is advertised
        bus.on(EventName.RESPONSE_GENERATED, self._on_generated)
        bus.on(EventName.SYSTEM_STOPPED, self._on_stopped)

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_LINE)
        except OSError as err:
            raise ConfigError(f"wyoming.listen: cannot listen on {self.host}:{self.port}: {err.strerror or err}") \
                from None
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("wyoming: the handle service listens on %s:%d (peers: %s)", self.host, self.port,
                    ", ".join(sorted(self.allow)))
        if self.zeroconf:
            await self._advertise()

    async def _advertise(self) -> None:
        """The service over mDNS as ``coach-HOSTNAME._wyoming._tcp.local.``, at the
        address Home Assistant reaches it by (the LAN's, when listening on all of
        them). A network without multicast is a warning: the service still serves."""
        from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

        advertised = None
        try:  # any failure (no route for multicast, a host name to listen on, a socket refused) is a warning
            host = self.host if self.host not in ("0.0.0.0", "::") else lan_address()
            name = f"coach-{socket.gethostname().split('.')[0]}"
            info = AsyncServiceInfo(SERVICE_TYPE, f"{name}.{SERVICE_TYPE}", port=self.port,
                                    addresses=[ipaddress.ip_address(host).packed], server=f"{name}.local.")
            advertised = AsyncZeroconf()
            await advertised.async_register_service(info)
        except Exception as err:  # zeroconf raises its own kinds, OSError and ValueError: the service goes on
            if advertised is not None:
                await advertised.async_close()
            logger.warning("wyoming.zeroconf: cannot advertise the service: %s: %s", type(err).__name__, err)
            return
        self._advertised = advertised
        logger.info("wyoming: advertised as %s at %s:%d", info.name, host, self.port)

    async def close(self) -> None:
        advertised, self._advertised = self._advertised, None
        if advertised is not None:
            try:
                await advertised.async_unregister_all_services()
                await advertised.async_close()
            except Exception as err:  # the goodbye is a courtesy: the port closes below all the same
                logger.warning("wyoming.zeroconf: the service was not withdrawn: %s: %s", type(err).__name__, err)
        if self._server is not None:
            self._server.close()
        for task in list(self._peers):
            task.cancel()
        for waiting in self._replies.values():
            if not waiting.done():
                waiting.cancel()

    def _on_stopped(self, event: object) -> None:
        """The coach is going: a transcript now is not handled (nothing would answer it)."""
        self.ready = False

    def _on_generated(self, event: ResponseGenerated) -> None:
        reply = self._replies.pop(event.turn_id, None)
        if reply is not None and not reply.done():
            reply.set_result(event)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _address(writer.get_extra_info("peername"))
        task = asyncio.current_task()
        try:
            if peer not in self.allow:
                if peer not in self._refused and len(self._refused) < MAX_REFUSED_LOGGED:
                    self._refused.add(peer)
                    logger.warning("wyoming: %s is not in wyoming.allow: refused (said once)", peer)
                return
            if len(self._peers) >= MAX_PEERS:
                logger.warning("wyoming: %d peers already connected: %s refused", MAX_PEERS, peer)
                return
            if task is not None:
                self._peers.add(task)
            while True:
                async with asyncio.timeout(IDLE_S):
                    event = await read_event(reader)
                if event is None:
                    break
                await self._handle(event, writer)
        except BadFrame as err:
            logger.warning("wyoming: %s dropped: %s", peer, err)
        except TimeoutError:
            logger.info("wyoming: %s closed: nothing sent in %.0f s, or a reply not read in %.0f s", peer, IDLE_S,
                        WRITE_S)
        except (ConnectionError, OSError) as err:
            logger.info("wyoming: %s gone: %s", peer, err)
        except asyncio.CancelledError:  # the daemon stops: the connection goes with it
            pass
        except Exception as err:  # a bug of ours, or what no check foresaw: this peer only
            logger.warning("wyoming: %s dropped: %s: %s", peer, type(err).__name__, err)
        finally:
            if task is not None:
                self._peers.discard(task)
            writer.transport.abort()  # never waits on a peer that does not read

    async def _handle(self, event: Event, writer: asyncio.StreamWriter) -> None:
        if Describe.is_type(event.type):
            reply = info().event()
        elif Ping.is_type(event.type):
            reply = Pong(text=event.data.get("text")).event()
        elif Transcript.is_type(event.type):
            text = event.data.get("text")
            if not isinstance(text, str):
                raise BadFrame("transcript: no text")
            reply = await self._answer(text.strip()[:2000])
        else:  # anything else (audio, a program selected, ...) is not this service's: passed over
            return
        async with asyncio.timeout(WRITE_S):  # a peer that does not read holds no place for long
            await async_write_event(reply, writer)

    async def _answer(self, text: str) -> Event:
        if not text:
            return NotHandled(text="I heard nothing to answer.").event()
        if not self.ready:
            return NotHandled(text="The coach is still starting; ask again in a moment.").event()
        if not self.accepts():
            return NotHandled(text="Too many questions are waiting; ask again in a moment.").event()
        turn_id = self.bus.new_turn_id()
        reply = self._replies[turn_id] = asyncio.get_running_loop().create_future()
        self.bus.emit(SpeechDetected(turn_id, text, "remote", 0.0, time.time(), 0.0))
        try:
            async with asyncio.timeout(REPLY_TIMEOUT_S):
                answered = await reply
        except TimeoutError:
            return NotHandled(text="The coach did not answer in time.").event()
        finally:
            self._replies.pop(turn_id, None)
        if answered.interrupted and not answered.text:
            return NotHandled(text="The coach's answer was cut short.").event()
        return Handled(text=answered.text).event()
