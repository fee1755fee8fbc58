"""`assistant diagnose` for what is on the network: each remote speech service
(``stt.uri``, ``tts.uri``) and each satellite (``satellites``) asked to
describe itself: reachable or not, its programs and models, the round trip;
every failure with its fix. A describe takes nothing from a satellite the
daemon is serving (wyoming-satellite answers it from any peer)."""

from __future__ import annotations

import asyncio
import socket
import time

from assistant.cli.diagnose import Check
from assistant.core.config import Settings
from assistant.remote.frames import BadFrame, RemoteError, why
from assistant.remote.speech import Link, offered

SERVERS = {"stt": ("speech-to-text", "wyoming-faster-whisper --uri tcp://0.0.0.0:{port} --model tiny.en "
                                     "--data-dir ~/.local/share/wyoming"),
           "tts": ("text-to-speech", "wyoming-piper --uri tcp://0.0.0.0:{port} --voice en_US-joe-medium "
                                     "--data-dir ~/.local/share/wyoming")}


SATELLITE_S = 5.0  # as the daemon waits for one to describe itself
SATELLITE_SERVER = ("python -m wyoming_satellite --name {name} --uri tcp://0.0.0.0:{port} "
                    "--mic-command 'arecord -r 16000 -c 1 -f S16_LE -t raw' "
                    "--snd-command 'aplay -r 22050 -c 1 -f S16_LE -t raw'")


async def check_remote_services(settings: Settings) -> list[Check]:
    links = [Link(source, uri, cfg.timeout_s) for source, cfg in (("stt", settings.stt), ("tts", settings.tts))
             if (uri := cfg.uri) is not None]
    satellites = [satellite(name, Link("satellite", uri, SATELLITE_S)) for name, uri in settings.satellites.items()]
    return list(await asyncio.gather(*(describe(link) for link in links), *satellites))


async def satellite(name: str, link: Link) -> Check:
    key = f"satellites.{name}"
    started = time.perf_counter()
    try:
        info = await link.describe()
    except ConnectionRefusedError:
        return Check(key, "fail", f"{link.uri}: connection refused: no satellite listens on port {link.port}",
                     f"start it there, e.g. {SATELLITE_SERVER.format(name=name, port=link.port)}; or fix {key}")
    except socket.gaierror:
        return Check(key, "fail", f"{link.uri}: the name {link.host!r} is not known here",
                     f"use the satellite's IP address in {key}")
    except (OSError, BadFrame, RemoteError) as err:  # TimeoutError is an OSError
        return Check(key, "fail", f"{link.uri}: {why(err, link.timeout_s)}",
                     f"is {link.host} on, and is wyoming-satellite what listens on port {link.port}?")
    ms = round((time.perf_counter() - started) * 1000, 1)
    found = info.satellite
    if found is None:
        return Check(key, "fail", f"{link.uri}: answers, but is no satellite", f"point {key} at a wyoming-satellite",
                     ms)
    where = f" in {found.area}" if found.area else ""
    return Check(key, "pass", f"{link.uri}: satellite {found.name!r}{where}, answered in {ms:.0f} ms", "", ms)


async def describe(link: Link) -> Check:
    name = f"{link.source}.uri"
    what, server = SERVERS[link.source]
    started = time.perf_counter()
    try:
        info = await link.describe()
    except socket.gaierror:
        return Check(name, "fail", f"{link.uri}: the name {link.host!r} is not known here",
                     f"use the box's IP address in {name}, or make its name resolve (mDNS: {link.host}.local)")
    except ConnectionRefusedError:
        return Check(name, "fail", f"{link.uri}: connection refused: nothing listens on port {link.port}",
                     f"start the service there, e.g. {server.format(port=link.port)}; or fix {name}")
    except TimeoutError:
        return Check(name, "fail", f"{link.uri}: {why(TimeoutError(), link.timeout_s)}",
                     f"is {link.host} on and on this network? Open port {link.port} in its firewall")
    except (OSError, BadFrame, RemoteError) as err:
        return Check(name, "fail", f"{link.uri}: {why(err, link.timeout_s)}",
                     f"is a Wyoming service on that port? {name} must name one ({server.format(port=link.port)})")
    ms = round((time.perf_counter() - started) * 1000, 1)
    programs = info.asr if link.source == "stt" else info.tts
    if not programs:
        others = [kind for kind in ("asr", "tts", "handle", "wake", "satellite") if getattr(info, kind, None)]
        return Check(name, "fail", f"{link.uri}: offers no {what} (it offers: {', '.join(others) or 'nothing'})",
                     f"point {name} at the {what} service", ms)
    detail = f"{link.uri}: {'; '.join(offered(p) for p in programs)}, answered in {ms:.0f} ms"
    if ms > link.timeout_s * 500:  # half the turn's budget gone on a describe
        return Check(name, "warn", detail, f"slow for {link.source}.timeout_s {link.timeout_s:g} s: a turn may "
                     "fall back to the local model; raise it, or check the network", ms)
    return Check(name, "pass", detail, "", ms)
