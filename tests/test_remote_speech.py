"""Remote speech services (``stt.uri``, ``tts.uri``) against the real
``wyoming-faster-whisper`` and ``wyoming-piper`` servers on loopback, on the
bundled models: a turn through the daemon transcribed and voiced by them; a
server stopped (slow past the timeout) or killed in the middle of a request,
and the turn answered by the local model, said once; services that send
garbage, a 10 MB frame, audio the coach cannot play or an error, and the
local model answers; audio at another rate and channel count converted; a bad
address one line at load."""

import asyncio
import os
import signal
import socket
import threading
import time

import numpy as np
import pytest
from helpers import QUICK_REPLIES, ROOT, normalize, run_cli, spoken_16k, synthesizer, write_config
from servers import free_port
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import async_write_event
from wyoming_servers import Peer, piper_server, whisper_server

from assistant.core.config import parse_settings
from assistant.core.errors import ConfigError
from assistant.remote.frames import read_event
from assistant.remote.speech import Link, RemoteSynthesizer, RemoteTranscriber

QUESTION = "How long should I rest between sets of squats?"


def link(source: str, port: int, timeout_s: float, reports: list[str]) -> Link:
    return Link(source, f"tcp://127.0.0.1:{port}", timeout_s, lambda _source, message: reports.append(message))


def test_a_turn_transcribed_and_voiced_by_the_servers(tmp_path):
    """Both services up: the question is transcribed by the whisper server, the
    answer voiced by the Piper server (its log has each sentence), no fault."""
    with whisper_server(tmp_path) as stt, piper_server(tmp_path) as tts:
        config = write_config(tmp_path / "c.yaml", QUICK_REPLIES.replace("knowledge: false", "knowledge: true")
                              + f"stt:\n  uri: {stt.uri}\ntts:\n  uri: {tts.uri}\n")
        result = run_cli("run", "--config", config, "--input", ROOT / "samples/question.wav", "--output",
                         tmp_path / "out.wav", events=tmp_path / "e.jsonl", state=tmp_path / "state")
        heard, logged = stt.logged(), tts.logged()
    assert result.code == 0, result.stderr
    assert [e for e in result.named("ERROR_OCCURRED") if e["data"]["source"] in ("stt", "tts")] == []
    [speech] = result.named("SPEECH_DETECTED")
    assert normalize(speech["data"]["text"]) == normalize(QUESTION)
    assert QUESTION.rstrip("?") in heard  # the server's own log of what it transcribed
    [reply] = result.named("RESPONSE_GENERATED")
    first = reply["data"]["text"].split(". ")[0]
    assert first[:40] in logged, (first, logged[-2000:])  # the Piper server was asked to speak it
    assert result.named("SPEAKING_FINISHED")[0]["data"]["audio_s"] > 2


def test_services_down_the_turn_is_answered_locally_said_once(tmp_path):
    """Nothing listens at either address: the turn is heard and spoken by the
    bundled models, and each service's outage is one ERROR_OCCURRED naming it."""
    stt_port, tts_port = free_port(), free_port()
    config = write_config(tmp_path / "c.yaml", QUICK_REPLIES.replace("knowledge: false", "knowledge: true")
                          + f"stt:\n  uri: tcp://127.0.0.1:{stt_port}\ntts:\n  uri: tcp://127.0.0.1:{tts_port}\n")
    result = run_cli("run", "--config", config, "--input", ROOT / "samples/question.wav", "--output",
                     tmp_path / "out.wav", events=tmp_path / "e.jsonl", state=tmp_path / "state")
    assert result.code == 0, result.stderr
    [speech] = result.named("SPEECH_DETECTED")
    assert normalize(speech["data"]["text"]) == normalize(QUESTION)
    assert len(result.named("RESPONSE_GENERATED")) == 1
    assert result.named("SPEAKING_FINISHED")[0]["data"]["audio_s"] > 2
    faults = [e for e in result.named("ERROR_OCCURRED") if e["data"]["source"] in ("stt", "tts")]
    assert sorted(e["data"]["source"] for e in faults) == ["stt", "tts"], faults
    messages = " ".join(e["data"]["message"] for e in faults)
    assert f"stt.uri tcp://127.0.0.1:{stt_port}: connection refused" in messages
    assert "Traceback" not in result.stderr


def stopped_then(proc, action: str, after_s: float) -> threading.Timer:
    """The server frozen now (it accepts no more than the kernel's backlog), and
    ``action`` ("kill" or "continue") done to it ``after_s`` later."""
    os.kill(proc.pid, signal.SIGSTOP)
    timer = threading.Timer(after_s, os.kill, (proc.pid, signal.SIGKILL if action == "kill" else signal.SIGCONT))
    timer.start()
    return timer


async def test_transcriber_falls_back_when_the_server_is_slow_or_killed(tmp_path, transcriber):
    audio = spoken_16k(QUESTION)
    with whisper_server(tmp_path) as server:
        reports: list[str] = []
        remote = RemoteTranscriber(link("stt", server.port, 1.5, reports), transcriber, "en")
        assert normalize((await remote.transcribe(audio)).text) == normalize(QUESTION)
        assert reports == [] and QUESTION.rstrip("?") in server.logged()

        # Frozen past the timeout: the local model's transcript, after the timeout.
        timer = stopped_then(server.proc, "continue", 3.0)
        started = time.monotonic()
        heard = await remote.transcribe(audio)
        assert 1.5 <= time.monotonic() - started < 6.0  # the timeout, then the local model
        assert normalize(heard.text) == normalize(QUESTION)
        assert len(reports) == 1 and "no answer within 1.5 s" in reports[0]
        timer.join()

        # Down: passed over (the server, running again, is not asked), with no second report, until RETRY_S.
        await asyncio.sleep(2.0)  # the server, resumed, finishes the request it held (and logs its transcript)
        asked = server.logged().count(QUESTION.rstrip("?"))
        assert normalize((await remote.transcribe(audio)).text) == normalize(QUESTION)
        await asyncio.sleep(1.0)  # whatever the server would log, it has
        assert server.logged().count(QUESTION.rstrip("?")) == asked and len(reports) == 1

        # Killed in the middle of a request: the local transcript at once, not at the timeout.
        remote.link._retry_at = 0.0
        remote.link.timeout_s = 30.0
        timer = stopped_then(server.proc, "kill", 0.5)
        started = time.monotonic()
        heard = await remote.transcribe(audio)
        assert time.monotonic() - started < 10.0
        assert normalize(heard.text) == normalize(QUESTION)
        assert len(reports) == 1  # the same outage: said once
        timer.join()


def test_synthesizer_falls_back_when_the_server_is_killed_mid_sentence(tmp_path):
    local = synthesizer()
    with piper_server(tmp_path) as server:
        reports: list[str] = []
        remote = RemoteSynthesizer(link("tts", server.port, 30.0, reports), local)
        voiced = remote.synthesize("Three more reps.")
        assert remote.sample_rate == local.sample_rate and 0.6 < len(voiced) / local.sample_rate < 3
        assert "Three more reps." in server.logged() and reports == []

        timer = stopped_then(server.proc, "kill", 0.5)
        started = time.monotonic()
        voiced = remote.synthesize("Rest for a minute.")
        assert time.monotonic() - started < 10.0  # the kill, not the 30 s timeout
        assert 0.6 < len(voiced) / local.sample_rate < 3
        assert len(reports) == 1 and f"tts.uri tcp://127.0.0.1:{server.port}" in reports[0]
        timer.join()


async def after_request(reader) -> None:
    """Reads what the coach sends up to its audio-stop (a transcription) or its
    synthesize (a sentence to speak)."""
    while (event := await read_event(reader, 1 << 20)) is not None:
        if event.type in ("audio-stop", "synthesize"):
            return


async def garbage(reader, writer):
    await after_request(reader)
    writer.write(b"this is no frame\n")


async def ten_megabytes(reader, writer):
    await after_request(reader)
    writer.write(b'{"type": "audio-chunk", "payload_length": 10485760}\n' + b"\0" * 65536)
    await writer.drain()


async def eight_bit(reader, writer):
    await after_request(reader)
    await async_write_event(AudioStart(rate=22050, width=1, channels=1).event(), writer)
    await async_write_event(AudioChunk(rate=22050, width=1, channels=1, audio=b"\x80" * 2205).event(), writer)
    await async_write_event(AudioStop().event(), writer)


async def an_error(reader, writer):
    await after_request(reader)
    await async_write_event(Error(text="model not loaded").event(), writer)


async def hangs_up(reader, writer):
    await after_request(reader)


async def wrong_shape(reader, writer):
    """Well-formed JSON, but no event of its kind: an audio-start without a rate, a transcript of a number."""
    await after_request(reader)
    writer.write(b'{"type": "audio-start", "data": {"width": 2, "channels": 1}}\n')
    writer.write(b'{"type": "transcript", "data": {"text": 5}}\n')
    await writer.drain()


@pytest.mark.parametrize(("answer", "said"), [
    (garbage, "not JSON"), (ten_megabytes, "beyond"), (eight_bit, "cannot play"),
    (an_error, "model not loaded"), (hangs_up, "closed before"), (wrong_shape, ""),
])
async def test_a_service_that_misbehaves_is_passed_over(answer, said, transcriber):
    reports: list[str] = []
    async with Peer(answer) as peer:
        voice = RemoteSynthesizer(link("tts", peer.port, 5.0, reports), synthesizer())
        voiced = await asyncio.to_thread(voice.synthesize, "Three more reps.")
        assert 0.6 < len(voiced) / voice.sample_rate < 3  # the local voice's
        ears = RemoteTranscriber(link("stt", peer.port, 5.0, reports), transcriber, "en")
        heard = await ears.transcribe(spoken_16k(QUESTION))
        assert normalize(heard.text) == normalize(QUESTION)
    if answer is wrong_shape:  # the voice meets the audio-start, the transcriber the transcript
        assert len(reports) == 2 and "audio-start: malformed" in reports[0] and "without text" in reports[1], reports
    elif answer is not eight_bit:  # eight-bit audio is a voice's fault only
        assert len(reports) == 2 and all(said in r for r in reports), reports
    else:
        assert len(reports) == 2 and said in reports[0], reports


async def test_audio_at_another_rate_and_in_stereo_is_converted():
    """A 16 kHz stereo voice: mono at the local voice's rate, as long as it was."""
    second = np.sin(np.linspace(0, 440 * 2 * np.pi, 16_000, endpoint=False)) * 8000

    async def stereo(reader, writer):
        await after_request(reader)
        pcm = np.repeat(second.astype("<i2"), 2).tobytes()
        await async_write_event(AudioStart(rate=16_000, width=2, channels=2).event(), writer)
        for at in range(0, len(pcm), 4096):
            await async_write_event(AudioChunk(rate=16_000, width=2, channels=2, audio=pcm[at:at + 4096]).event(),
                                    writer)
        await async_write_event(AudioStop().event(), writer)

    reports: list[str] = []
    async with Peer(stereo) as peer:
        voice = RemoteSynthesizer(link("tts", peer.port, 5.0, reports), synthesizer())
        voiced = await asyncio.to_thread(voice.synthesize, "A tone.")
    assert reports == []
    assert voiced.dtype == np.int16 and abs(len(voiced) - voice.sample_rate) < voice.sample_rate * 0.01
    assert 5000 < np.abs(voiced.astype(np.int32)).max() <= 8001


def test_a_malformed_service_address_is_one_line_at_load():
    for key in ("stt", "tts"):
        with pytest.raises(ConfigError, match=rf"^{key}\.uri: not a tcp://HOST:PORT address: 'http://box:10300'$"):
            parse_settings({key: {"uri": "http://box:10300"}})
        with pytest.raises(ConfigError, match=rf"^{key}\.timeout_s: must be between"):
            parse_settings({key: {"uri": "tcp://box:10300", "timeout_s": 0}})


def test_frames_that_name_too_much_are_refused_before_reading_it():
    """The blocking reader (the voice's worker thread) refuses a 10 MB payload
    from its header, having read no more than the header."""
    from assistant.remote.frames import BadFrame, Blocking

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    connection = Blocking("127.0.0.1", listener.getsockname()[1], time.monotonic() + 5)
    peer, _ = listener.accept()
    peer.sendall(b'{"type": "audio-chunk", "payload_length": 10485760}\n')
    with pytest.raises(BadFrame, match="beyond"):
        connection.read(1 << 20)
    connection.close()
    peer.close()
    listener.close()


async def test_diagnose_names_each_service_and_a_fix_for_each_failure(tmp_path):
    """A real Piper server passes with its program and round trip; nothing on the
    port, a service of the wrong kind: each fails with a fix."""
    from wyoming.info import AsrModel, AsrProgram, Attribution, Info

    from assistant.cli.diagnose_remote import check_remote_services

    async def only_asr(reader, writer):
        await read_event(reader)
        who = Attribution(name="x", url="")
        program = AsrProgram(name="whisper", attribution=who, installed=True, description="", version="1",
                             models=[AsrModel(name="tiny", attribution=who, installed=True, description="",
                                              version="1", languages=["en"])])
        await async_write_event(Info(asr=[program]).event(), writer)

    dead = free_port()
    async with Peer(only_asr) as asr:
        settings = parse_settings({"stt": {"uri": f"tcp://127.0.0.1:{dead}"},
                                   "tts": {"uri": f"tcp://127.0.0.1:{asr.port}"}})
        refused, wrong = await check_remote_services(settings)
    assert (refused.name, refused.status) == ("stt.uri", "fail") and "connection refused" in refused.detail
    assert "wyoming-faster-whisper --uri tcp://0.0.0.0:" in refused.fix
    assert (wrong.name, wrong.status) == ("tts.uri", "fail")
    assert "offers no text-to-speech (it offers: asr)" in wrong.detail
    assert wrong.fix == "point tts.uri at the text-to-speech service"

    with piper_server(tmp_path) as server:
        [passed] = await check_remote_services(parse_settings({"tts": {"uri": server.uri}}))
    assert passed.status == "pass" and "piper (" in passed.detail and passed.ms > 0, passed


def test_a_name_with_two_addresses_is_reached_at_the_one_that_answers(monkeypatch):
    """localhost is ::1 and 127.0.0.1 on most machines: the voice's connection
    tries each, as socket.create_connection does (a server on IPv4 only is reached)."""
    from assistant.remote.frames import Blocking

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *args, **kwargs:
                        real("::1", *args, **kwargs) + real("127.0.0.1", *args, **kwargs))
    connection = Blocking("localhost", port, time.monotonic() + 5)
    assert connection.sock.getpeername()[:2] == ("127.0.0.1", port)
    connection.close()
    listener.close()
