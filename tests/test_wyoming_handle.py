"""The coach as a Wyoming handle service (``wyoming.listen``), through the real
daemon and the ``wyoming`` package's own client: ``describe``, a command and a
question as ``transcript`` answered with ``handled`` (a skill's reply and the
model's), nothing spoken in the room, a peer outside ``wyoming.allow``
refused and said once, garbage and a 10 MB frame dropped with the others
served, and a bad address one line at load."""

import asyncio
import json
import subprocess
import time

import numpy as np
import pytest
import soundfile
from helpers import QUICK_REPLIES, ROOT, cli_argv, faked_env, run_cli, write_config
from servers import free_port
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.event import async_read_event, async_write_event
from wyoming.handle import Handled, NotHandled
from wyoming.info import Describe, Info

from assistant.core.config import parse_settings
from assistant.core.errors import ConfigError


def start(tmp_path, allow: str = "['127.0.0.1']", seconds: int = 60):
    """The daemon on a silent file fed in real time, its handle service on a free port."""
    port = free_port()
    config = write_config(tmp_path / "c.yaml", QUICK_REPLIES + f"wyoming:\n  listen: tcp://127.0.0.1:{port}\n"
                                                               f"  allow: {allow}\n")
    soundfile.write(str(tmp_path / "silence.wav"), np.zeros(16_000 * seconds, np.int16), 16_000)
    events = tmp_path / "e.jsonl"
    proc = subprocess.Popen(cli_argv("run", "--input", tmp_path / "silence.wav", "--realtime", "--output",
                                     tmp_path / "out.wav", "--config", config, "--events", events),
                            cwd=ROOT, env=faked_env(tmp_path / "state"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    return proc, port, events


async def ask(port: int, *events) -> list:
    """Each event sent in turn on one connection, and the reply each gets."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        replies = []
        for event in events:
            await client.write_event(event.event())
            replies.append(await asyncio.wait_for(client.read_event(), 120))
        return replies


async def handled(port: int, text: str):
    """``text`` as a transcript, asked again while the coach is still loading."""
    for _ in range(240):
        [reply] = await ask(port, Transcript(text=text))
        if not (NotHandled.is_type(reply.type) and "starting" in reply.data.get("text", "")):
            return reply
        await asyncio.sleep(0.5)
    raise TimeoutError("the coach never finished starting")


async def connected(port: int) -> None:
    for _ in range(200):
        try:
            async with AsyncTcpClient("127.0.0.1", port):
                return
        except OSError:
            await asyncio.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


def test_a_command_and_a_question_are_handled_and_nothing_is_said_in_the_room(tmp_path):
    proc, port, events = start(tmp_path)

    async def session():
        await connected(port)
        [info] = await ask(port, Describe())
        timer = await handled(port, "Coach, set a timer for ten seconds.")
        # garbage, then a frame that says 10 MB follow: each dropped; the service goes on
        for junk in (b"not json at all\n", json.dumps({"type": "transcript", "data_length": 10_000_000}).encode()
                     + b"\n" + b"x" * 1000):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(junk)
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the service
            writer.close()
        question = await handled(port, "How should I warm up before squats?")
        return info, timer, question

    try:
        info, timer, question = asyncio.run(session())
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=60)
    program = Info.from_event(info).handle[0]
    assert program.name == "coach" and program.installed and program.models[0].languages == ["en"]
    assert Handled.is_type(timer.type) and "10 seconds" in timer.data["text"], timer
    assert Handled.is_type(question.type) and question.data["text"], question
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    asked = [e["data"] for e in lines if e["event"] == "SPEECH_DETECTED"]
    assert [(e["text"], e["reason"]) for e in asked] == [("Coach, set a timer for ten seconds.", "remote"),
                                                        ("How should I warm up before squats?", "remote")]
    answers = {e["data"]["turn_id"]: e["data"] for e in lines if e["event"] == "RESPONSE_GENERATED"}
    assert [answers[e["utterance_id"]]["text"] for e in asked] == [timer.data["text"], question.data["text"]]
    assert answers[asked[0]["utterance_id"]]["api"] == "skill"
    assert answers[asked[1]["utterance_id"]]["api"] not in ("skill", "apology")
    spoken = {e["data"]["turn_id"] for e in lines if e["event"] == "SPEAKING_STARTED"}
    assert not spoken & set(answers), "a remote turn was spoken in the room"
    assert [e["data"]["label"] for e in lines if e["event"] == "TIMER_STARTED"] == [""]
    assert stderr.count("dropped: not JSON") == 1 and stderr.count("dropped: transcript: data or payload") == 1
    assert "Traceback" not in stderr


def test_a_peer_outside_the_allow_list_is_refused_and_said_once(tmp_path):
    proc, port, _ = start(tmp_path, allow="['192.0.2.10']", seconds=30)

    async def refused() -> list:
        await connected(port)
        closed = []
        for _ in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                await async_write_event(Describe().event(), writer)
                closed.append(await asyncio.wait_for(async_read_event(reader), 10))
            except ConnectionError:  # closed before the describe was read: reset
                closed.append(None)
            writer.close()
        return closed

    try:
        assert asyncio.run(refused()) == [None, None, None]  # no info: the connection is closed
        time.sleep(0.5)
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=60)
    assert stderr.count("wyoming: 127.0.0.1 is not in wyoming.allow: refused") == 1, stderr


@pytest.mark.parametrize(("listen", "culprit"), [
    ("garage:10800", "wyoming.listen: not a tcp://HOST:PORT address: 'garage:10800'"),
    ("tcp://0.0.0.0", "wyoming.listen: not a tcp://HOST:PORT address: 'tcp://0.0.0.0'"),
    ("http://127.0.0.1:10800", "wyoming.listen: not a tcp://HOST:PORT address"),
])
def test_a_bad_address_is_one_line_naming_the_key(listen, culprit):
    with pytest.raises(ConfigError, match=culprit.replace("?", r"\?")):
        parse_settings({"wyoming": {"listen": listen}})


def test_a_bad_peer_address_and_a_bad_listen_stop_the_daemon_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match="wyoming.allow: not an IP address: 'kitchen.lan'"):
        parse_settings({"wyoming": {"listen": "tcp://127.0.0.1:10800", "allow": ["kitchen.lan"]}})
    config = write_config(tmp_path / "c.yaml", "wyoming:\n  listen: garage-pi:10700\n")
    soundfile.write(str(tmp_path / "s.wav"), np.zeros(16_000, np.int16), 16_000)
    result = run_cli("run", "--input", tmp_path / "s.wav", "--output", tmp_path / "o.wav", "--config", config)
    assert result.code == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "wyoming.listen: not a tcp://HOST:PORT address: 'garage-pi:10700'" in result.stderr


def test_a_peer_that_sends_nothing_is_closed_and_a_mapped_address_is_its_ipv4(monkeypatch):
    from assistant.core.bus import Bus
    from assistant.core.config import WyomingConfig
    from assistant.daemon import wyoming_service

    assert wyoming_service._address(("::ffff:192.0.2.1", 10700, 0, 0)) == "192.0.2.1"
    assert wyoming_service._address(("::1", 10700, 0, 0)) == "::1"
    monkeypatch.setattr(wyoming_service, "IDLE_S", 0.3)

    async def idle() -> bytes:
        service = wyoming_service.WyomingService(WyomingConfig(listen="tcp://127.0.0.1:0"), Bus())
        await service.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
        closed = await asyncio.wait_for(reader.read(), 5)  # never sending: closed after IDLE_S
        writer.close()
        await service.close()
        return closed

    assert asyncio.run(idle()) == b""


def test_the_rooms_questions_and_barge_in_never_cut_a_peers_turn():
    """Live (a new question cuts the older ones): a Wyoming peer's turn is none of
    the room's to cut. Each turn still ends once."""
    from servers import ollama

    from assistant.core.bus import Bus
    from assistant.core.config import EmbeddedConfig, EndpointConfig, LlmConfig
    from assistant.core.events import SpeechDetected
    from assistant.llm.service import LLMService

    async def turns(url: str):
        llm = LLMService(config=LlmConfig(endpoints=(EndpointConfig(url=url, api="ollama-chat", models=("coach",)),),
                                          embedded=EmbeddedConfig(enabled=False)), bus=Bus(), interrupt=True)
        seen: list = []
        llm.bus.observe(lambda at, e: seen.append(e))
        llm.initialize()
        worker = asyncio.create_task(llm.run())
        llm.bus.emit(SpeechDetected(1, "How should I warm up?", "remote", 1.0, 0.0, 1.0))
        await asyncio.sleep(0.3)  # the peer's answer is being written
        llm.bus.emit(SpeechDetected(2, "What about stretching?", "always", 1.0, 0.0, 1.0))  # the room asks
        llm.cut()  # and talks over the coach
        await llm.join()
        worker.cancel()
        await llm.aclose()
        return [e for e in seen if e.name == "RESPONSE_GENERATED"], llm

    with ollama("--delay", "0.2", canned="Start easy and build up over ten minutes.", names=("coach",)) as server:
        generated, llm = asyncio.run(turns(server.url))  # 8 words 0.2 s apart: in flight when the room speaks
    assert sorted((e.turn_id, e.interrupted) for e in generated) == [(1, False), (2, True)]
    assert [e.text for e in generated if e.turn_id == 1] == ["Start easy and build up over ten minutes."]
    assert llm.rooms.turns == {}


def test_advertised_over_zeroconf_where_home_assistant_browses_and_withdrawn_at_close():
    """wyoming.zeroconf: the service is found as _wyoming._tcp.local. at this
    machine's LAN address and the port it listens on; after close, it is gone."""
    import socket as sockets

    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

    from assistant.core.bus import Bus
    from assistant.core.config import WyomingConfig
    from assistant.daemon import wyoming_service

    name = f"coach-{sockets.gethostname().split('.')[0]}._wyoming._tcp.local."

    async def found() -> tuple:
        service = wyoming_service.WyomingService(WyomingConfig(listen="tcp://0.0.0.0:0", zeroconf=True), Bus())
        await service.start()
        browser = AsyncZeroconf()
        try:
            seen = AsyncServiceInfo("_wyoming._tcp.local.", name)
            assert await seen.async_request(browser.zeroconf, 5000)
            await service.close()
            await asyncio.sleep(0.5)  # the goodbye packets
            later = AsyncZeroconf()  # a fresh cache: asks the network again
            try:
                still = await AsyncServiceInfo("_wyoming._tcp.local.", name).async_request(later.zeroconf, 1500)
            finally:
                await later.async_close()
            return service.port, seen.port, seen.parsed_addresses(), still
        finally:
            await browser.async_close()

    port, advertised_port, addresses, still = asyncio.run(found())
    assert advertised_port == port and addresses == [wyoming_service.lan_address()]
    assert not still


def test_zeroconf_on_a_loopback_address_is_one_line_naming_the_key():
    with pytest.raises(ConfigError, match=r"^wyoming.zeroconf: advertises the service to other machines: .*"
                                          r"\(127.0.0.1 is loopback\)$"):
        parse_settings({"wyoming": {"listen": "tcp://127.0.0.1:10800", "zeroconf": True}})
    with pytest.raises(ConfigError, match=r"wyoming.listen is not set"):
        parse_settings({"wyoming": {"zeroconf": True}})
