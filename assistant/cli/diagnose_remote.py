"""`assistant diagnose` for what is on the network: each remote speech service
(``stt.uri``, ``tts.uri``) asked to describe itself: reachable or not, its
programs and models, the round trip; every failure with its fix."""

from __future__ import annotations

import asyncio
import socket
import time

from assistant.cli.diagnose import Check
from assistant.core.config import Settings
from assistant.remote.frames import BadFrame
from assistant.remote.speech import Link, RemoteError, offered, why

SERVERS = {"stt": ("speech-to-text", "wyoming-faster-whisper --uri tcp://0.0.0.0:{port} --model tiny.en "
                                     "--data-dir ~/.local/share/wyoming"),
           "tts": ("text-to-speech", "wyoming-piper --uri tcp://0.0.0.0:{port} --voice en_US-joe-medium "
                                     "--data-dir ~/.local/share/wyoming")}


async def check_remote_services(settings: Settings) -> list[Check]:
    links = [Link(source, uri, cfg.timeout_s) for source, cfg in (("stt", settings.stt), ("tts", settings.tts))
             if (uri := cfg.uri) is not None]
    return list(await asyncio.gather(*(describe(link) for link in links)))


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
