"""The coach as the brain of the real ``wyoming-satellite`` (1.0.0, in its own
environment, .venv/satellite) on loopback, its microphone and speaker the
PulseAudio rig's: a question said into the satellite's room is answered on its
speaker; a timer set there rings there on time; the satellite killed and
started again is served again without restarting the daemon. And satellites
that send garbage, audio the coach cannot hear, or nothing, are dropped and
dialled again; a bad address is one line at load."""

import asyncio
import os
import signal
import socket
import subprocess
import time

import pytest
from audio_rig import LIVE_CONFIG, start_daemon
from helpers import ROOT, normalize, speech_file
from servers import free_port
from wyoming.audio import AudioChunk
from wyoming.event import Event, async_write_event
from wyoming.info import Attribution, Info
from wyoming.info import Satellite as SatelliteInfo
from wyoming_servers import Peer

from assistant.core.config import parse_settings
from assistant.core.errors import ConfigError
from assistant.remote.frames import read_event
from assistant.remote.satellite import Satellite

# its console script is broken in 1.0.0 (it names a run() its __main__ lacks): run as a module
SATELLITE = [str(ROOT / ".venv" / "satellite" / "bin" / "python"), "-m", "wyoming_satellite"]
QUESTION = "How long should I rest between sets of squats?"
ON_TIME_S = 0.25  # a cue leaves the satellite's speaker this close to its time (its pipe to pacat, pacat's buffer)


def satellite(rig, port: int, log, name: str = "garage", air: str = "air", speaker: str = "speaker"
              ) -> subprocess.Popen:
    """wyoming-satellite on the rig: its microphone hears the room ("air"), its
    sound goes to the speaker."""
    return subprocess.Popen(
        [*SATELLITE, "--name", name, "--uri", f"tcp://127.0.0.1:{port}",
         "--mic-command", f"parec --device={air}.monitor --raw --format=s16le --rate=16000 --channels=1 "
                          "--latency-msec=20",
         "--snd-command", f"pacat --device={speaker} --raw --format=s16le --rate=22050 --channels=1",
         "--snd-command-rate", "22050", "--no-zeroconf", "--debug"],
        env=rig.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def listening(rig, log, name: str = "garage", air: str = "air", speaker: str = "speaker"
              ) -> tuple[subprocess.Popen, int]:
    """The satellite up on a free port: it listens once it describes itself. A
    port another process took meanwhile (free_port's race) is tried again with
    another."""
    for _attempt in range(3):
        port = free_port()
        proc = satellite(rig, port, log, name, air, speaker)
        if up(proc, port, name=name):
            return proc, port
        stop(proc)
    raise RuntimeError("wyoming-satellite did not come up on three ports")


def up(proc: subprocess.Popen, port: int, seconds: float = 30, name: str = "garage") -> bool:
    """Our satellite listens there: it describes itself by ``name`` (not some
    other process that took the port)."""
    from wyoming.event import read_event as read_blocking
    from wyoming.event import write_event
    from wyoming.info import Describe

    deadline = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock, sock.makefile("rwb") as stream:
                write_event(Describe().event(), stream)
                event = read_blocking(stream)
            found = Info.from_event(event).satellite if event is not None and event.type == "info" else None
            return found is not None and found.name == name and proc.poll() is None
        except OSError:
            time.sleep(0.1)
    return False


def stop(proc: subprocess.Popen) -> None:
    """The satellite and its parec and pacat (its own session: one process group)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_a_satellite_room_is_answered_on_its_speaker_its_timer_rings_there_and_it_is_served_again(rig, tmp_path):
    question = speech_file(tmp_path / "question.wav", [QUESTION], gap_s=0.3, lead_s=0.2)
    timer = speech_file(tmp_path / "timer.wav", ["Set a timer for five seconds."], gap_s=0.3, lead_s=0.2)
    log = (tmp_path / "satellite.log").open("wb")
    garage, port = listening(rig, log)
    config = LIVE_CONFIG.replace("knowledge: false", "knowledge: true") + f"satellites:\n  garage: tcp://127.0.0.1:{port}\n"
    daemon = None
    try:
        daemon = start_daemon(rig, tmp_path / "d", config)
        recorder = rig.record_speaker_timed()
        rig.play(question).wait(timeout=30)
        [asked] = daemon.wait_for("SPEECH_DETECTED", timeout=60)
        assert normalize(asked["data"]["text"]) == normalize(QUESTION), asked
        [answer] = daemon.wait_for("RESPONSE_GENERATED", timeout=60)
        [spoken] = daemon.wait_for("SPEAKING_FINISHED", timeout=60)
        recorder.until(time.time() + 0.5)
        heard = [t for t in recorder.onsets() if t > asked["data"]["speech_ended_at"]]
        assert heard, "the answer never reached the satellite's speaker"
        assert spoken["data"]["audio_s"] > 2 and answer["data"]["text"]

        rig.play(timer).wait(timeout=30)
        [started] = daemon.wait_for("TIMER_STARTED", timeout=60)
        due = started["data"]["ends_s"]
        daemon.wait_for("TIMER_FINISHED", timeout=30)
        recorder.until(due + 2.0)
        rang = min(recorder.onsets(), key=lambda t: abs(t - due)) - due
        print(f"the timer's end rang {rang * 1000:+.0f} ms from its time")
        assert -0.05 <= rang <= ON_TIME_S, rang  # on time, on the satellite's speaker

        stop(garage)  # killed: the daemon says so once and dials it again
        daemon.wait_for("ERROR_OCCURRED", where=lambda e: e["data"]["source"] == "satellite", timeout=30)
        garage = satellite(rig, port, log)  # on the same port: the daemon dials it there
        assert up(garage, port)
        daemon.wait_for("LISTENING", count=2, timeout=60)
        rig.play(question).wait(timeout=30)
        again = daemon.wait_for("SPEECH_DETECTED", count=3, timeout=60)[2]
        assert normalize(again["data"]["text"]) == normalize(QUESTION)
        daemon.wait_for("RESPONSE_GENERATED", count=3, timeout=60)
        daemon.wait_for("SPEAKING_FINISHED", count=3, timeout=60)
    finally:
        stop(garage)
        log.close()
        code = daemon.stop() if daemon is not None else 0
        rig.stop()
    assert code == 0
    assert "Traceback" not in (tmp_path / "d" / "daemon.log").read_text()


KITCHEN_QUESTION = "What should I eat before a morning run?"


def loud_s(recorder, start: float, end: float, threshold_db: float = -40.0) -> float:
    """Seconds of sound on ``recorder`` between wall-clock ``start`` and ``end``."""
    import numpy as np

    rate = recorder.RATE
    audio = recorder.samples().astype(np.float32)
    audio = audio[max(0, int((start - recorder.start) * rate)):max(0, int((end - recorder.start) * rate))]
    window = rate // 200  # 5 ms
    blocks = audio[: len(audio) // window * window].reshape(-1, window)
    return float(np.sum(20 * np.log10(np.sqrt(np.mean(blocks**2, axis=1)) / 32768 + 1e-10) > threshold_db)) / 200


def test_two_satellites_each_room_hears_its_own_answer_uncut_and_a_timer_rings_only_where_it_was_set(rig, tmp_path):
    """Two real satellites, each in a room of its own (two pairs of null sinks):
    a question in the kitchen while the garage's answer plays gets its own
    answer in the kitchen, and the garage's answer plays on to its end, in the
    garage alone; a timer set in the kitchen is shown and cued there, and the
    garage hears nothing of it; the garage's satellite killed, the kitchen is
    answered as before."""
    question = speech_file(tmp_path / "question.wav", [QUESTION], gap_s=0.3, lead_s=0.2)
    kitchen_question = speech_file(tmp_path / "kitchen.wav", [KITCHEN_QUESTION], gap_s=0.3, lead_s=0.2)
    timer = speech_file(tmp_path / "timer.wav", ["Set a timer for five seconds."], gap_s=0.3, lead_s=0.2)
    air, speaker = rig.add_room("kitchen")
    log = (tmp_path / "satellite.log").open("wb")
    garage, port = listening(rig, log)
    kitchen = daemon = None
    try:
        kitchen, kitchen_port = listening(rig, log, "kitchen", air, speaker)
        config = LIVE_CONFIG.replace("knowledge: false", "knowledge: true") + (
            f"satellites:\n  garage: tcp://127.0.0.1:{port}\n  kitchen: tcp://127.0.0.1:{kitchen_port}\n")
        daemon = start_daemon(rig, tmp_path / "d", config)
        daemon.wait_for("LISTENING", count=2, timeout=60)  # a room each
        in_garage, in_kitchen = rig.record_speaker_timed(), rig.record_speaker_timed(speaker)

        def said(room: str, count: int = 1) -> dict:
            return daemon.wait_for("SPEECH_DETECTED", count, 60, lambda e: e["data"]["room"] == room)[count - 1]

        def spoken(turn: dict) -> dict:
            [done] = daemon.wait_for("SPEAKING_FINISHED", 1, 60,
                                     lambda e: e["data"]["turn_id"] == turn["data"]["utterance_id"])
            return done

        rig.play(question).wait(timeout=30)
        asked = said("garage")
        assert normalize(asked["data"]["text"]) == normalize(QUESTION), asked
        daemon.wait_for("SPEAKING_STARTED", 1, 60, lambda e: e["data"]["turn_id"] == asked["data"]["utterance_id"])
        rig.play(kitchen_question, air=air).wait(timeout=30)  # while the garage hears its answer
        asked_there = said("kitchen")
        assert normalize(asked_there["data"]["text"]) == normalize(KITCHEN_QUESTION), asked_there
        here, there = spoken(asked), spoken(asked_there)
        assert not here["data"]["interrupted"] and not there["data"]["interrupted"], (here, there)
        answers = {e["data"]["turn_id"]: e["data"] for e in daemon.events("RESPONSE_GENERATED")}
        assert not answers[asked["data"]["utterance_id"]]["interrupted"]
        assert not answers[asked_there["data"]["utterance_id"]]["interrupted"]
        end = max(here["time"], there["time"]) + 1.0
        in_garage.until(end)
        in_kitchen.until(end)
        begin = asked["data"]["speech_ended_at"]
        garage_s, kitchen_s = loud_s(in_garage, begin, end), loud_s(in_kitchen, begin, end)
        print(f"sound: garage {garage_s:.2f} s of a {here['data']['audio_s']:.2f} s answer, "
              f"kitchen {kitchen_s:.2f} s of {there['data']['audio_s']:.2f} s")
        assert 1.0 < garage_s <= here["data"]["audio_s"] + 0.3  # its own answer, and not the kitchen's too
        assert 1.0 < kitchen_s <= there["data"]["audio_s"] + 0.3
        assert loud_s(in_kitchen, begin, asked_there["data"]["speech_ended_at"]) == 0  # the garage's not there

        rig.play(timer, air=air).wait(timeout=30)
        [started] = daemon.wait_for("TIMER_STARTED", timeout=60)
        assert started["data"]["room"] == "kitchen", started
        due = started["data"]["ends_s"]
        daemon.wait_for("TIMER_FINISHED", timeout=30)
        in_kitchen.until(due + 2.0)
        in_garage.until(due + 2.0)
        rang = min(in_kitchen.onsets(), key=lambda t: abs(t - due)) - due
        print(f"the kitchen's timer rang {rang * 1000:+.0f} ms from its time")
        assert -0.05 <= rang <= ON_TIME_S, rang
        assert loud_s(in_garage, end, due + 2.0) == 0  # neither its confirmation nor its cue in the garage

        stop(garage)  # one room's satellite gone: the other is served as before
        daemon.wait_for("ERROR_OCCURRED", where=lambda e: "garage" in e["data"]["message"], timeout=30)
        rig.play(kitchen_question, air=air).wait(timeout=30)
        again = said("kitchen", 3)  # its question, its timer, its question again
        assert normalize(again["data"]["text"]) == normalize(KITCHEN_QUESTION), again
        assert not spoken(again)["data"]["interrupted"]
    finally:
        stop(garage)
        if kitchen is not None:
            stop(kitchen)
        log.close()
        code = daemon.stop() if daemon is not None else 0
        rig.stop()
    assert code == 0
    assert "Traceback" not in (tmp_path / "d" / "daemon.log").read_text()


async def describes(reader, writer) -> None:
    await read_event(reader)  # describe
    who = Attribution(name="x", url="")
    info = Info(satellite=SatelliteInfo(name="garage", attribution=who, installed=True, description="", version="1"))
    await async_write_event(info.event(), writer)
    await read_event(reader)  # run-satellite


def sends(raw: bytes):
    """A satellite that describes itself, then sends ``raw``."""
    async def behave(reader, writer):
        await describes(reader, writer)
        writer.write(raw)
        await writer.drain()
        await asyncio.sleep(5)

    return behave


async def eight_bit(reader, writer):
    await describes(reader, writer)
    await async_write_event(AudioChunk(rate=16000, width=1, channels=1, audio=b"\x80" * 1600).event(), writer)
    await asyncio.sleep(5)


async def no_satellite(reader, writer):
    await read_event(reader)
    await async_write_event(Info().event(), writer)
    await asyncio.sleep(5)


async def says_nothing(reader, writer):
    await asyncio.sleep(10)  # never answers describe


async def stereo_48k(reader, writer):
    await describes(reader, writer)
    import numpy as np

    second = (np.sin(np.linspace(0, 300 * 2 * np.pi, 48_000, endpoint=False)) * 8000).astype("<i2")
    pcm = np.repeat(second, 2).tobytes()
    for at in range(0, len(pcm), 4093):  # chunks that cut samples in two: the bytes carry over
        await async_write_event(AudioChunk(rate=48_000, width=2, channels=2, audio=pcm[at:at + 4093]).event(), writer)
    await asyncio.sleep(5)


@pytest.mark.parametrize(("behave", "said"), [
    pytest.param(sends(b"garbage\n"), "not JSON", id="garbage"),
    pytest.param(eight_bit, "cannot hear: 16000 Hz, 1 bytes", id="eight_bit"),
    pytest.param(sends(b'{"type": "audio-chunk", "payload_length": 10485760}\n' + b"\0" * 65536), "beyond",
                 id="ten_megabytes"),
    pytest.param(no_satellite, "it is no satellite", id="no_satellite"),
    pytest.param(sends(b'{"type": "audio-chunk", "data": {"rate": 16000, "channels": 1}, "payload_length": 2}\n'
                       b"\0\0"), "audio-chunk: malformed", id="wrong_shape"),
    pytest.param(says_nothing, "no answer", id="says_nothing"),
])
async def test_a_satellite_that_misbehaves_is_dropped_and_dialled_again(behave, said):
    errors: list[str] = []
    async with Peer(behave) as peer:
        link = Satellite("garage", f"tcp://127.0.0.1:{peer.port}", 30, lambda source, message: errors.append(message))
        frames: asyncio.Queue = asyncio.Queue(maxsize=256)
        task = asyncio.create_task(link.run(frames))
        deadline = time.monotonic() + 15  # a peer that never answers takes CONNECT_S (5 s) a time
        while peer.connections < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert peer.connections >= 2, "not dialled again"
    assert errors and said in errors[0], errors
    assert frames.empty()


async def test_a_satellites_microphone_at_48_khz_in_stereo_is_heard_as_16_khz_mono_frames():
    async with Peer(stereo_48k) as peer:
        link = Satellite("garage", f"tcp://127.0.0.1:{peer.port}", 30, lambda source, message: None)
        frames: asyncio.Queue = asyncio.Queue(maxsize=256)
        task = asyncio.create_task(link.run(frames))
        deadline = time.monotonic() + 10
        while frames.qsize() < 30 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    got = [frames.get_nowait() for _ in range(frames.qsize())]
    assert 30 <= len(got) <= 34  # one second is 33 frames of 30 ms (the resampler holds a few back)
    assert all(len(f.samples) == 480 and f.samples.dtype.name == "int16" for f in got)
    assert 5000 < max(int(abs(f.samples.astype(int)).max()) for f in got) <= 8001


def test_a_bad_satellite_address_a_shared_one_or_a_nameless_satellite_is_one_line_at_load():
    with pytest.raises(ConfigError, match=r"^satellites\.garage: not a tcp://HOST:PORT address: 'garage-pi:10700'$"):
        parse_settings({"satellites": {"garage": "garage-pi:10700"}})
    with pytest.raises(ConfigError, match=r"^satellites\.kitchen: tcp://a:10700 is satellites\.garage's address too$"):
        parse_settings({"satellites": {"garage": "tcp://a:10700", "kitchen": "tcp://a:10700"}})
    with pytest.raises(ConfigError, match=r"^satellites: ' ' is no name$"):
        parse_settings({"satellites": {" ": "tcp://a:10700"}})
    two = parse_settings({"satellites": {"garage": "tcp://a:10700", "kitchen": "tcp://b:10700"}})
    assert list(two.satellites) == ["garage", "kitchen"]
    with pytest.raises(ConfigError, match=r"^satellites: expected a mapping of names, got list$"):
        parse_settings({"satellites": ["tcp://a:10700"]})


async def test_the_coachs_timers_and_what_it_heard_reach_the_satellite():
    """timer-started (with its hours, minutes and seconds), timer-updated (paused,
    with what is left), timer-finished and timer-cancelled for a satellite that
    shows timers; what was heard in its
    room as a transcript. Another room's timers and words, and a Wyoming
    peer's question, not."""
    from assistant.core.events import SpeechDetected, TimerCancelled, TimerFinished, TimerStarted, TimerUpdated

    got: list = []

    async def records(reader, writer):
        await describes(reader, writer)
        await async_write_event(AudioChunk(rate=16000, width=2, channels=1, audio=bytes(960)).event(), writer)
        while (event := await read_event(reader, 1 << 20)) is not None:
            got.append(event)

    async with Peer(records) as peer:
        link = Satellite("garage", f"tcp://127.0.0.1:{peer.port}", 30, lambda source, message: None)
        task = asyncio.create_task(link.run(asyncio.Queue(maxsize=8)))
        deadline = time.monotonic() + 10
        while not link.connected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await link.timer(TimerStarted(3, "timer", "", 1, 3725.0, 0.0, 3725.0, "wall", 100.0, 3825.0, 1, "garage"))
        await link.timer(TimerStarted(4, "timer", "", 1, 60.0, 0.0, 60.0, "wall", 100.0, 160.0, 2, "garage"))
        await link.timer(TimerStarted(5, "timer", "", 1, 60.0, 0.0, 60.0, "wall", 100.0, 160.0, 5, "kitchen"))
        await link.timer(TimerUpdated(4, False, 41.6, "garage"))
        await link.timer(TimerUpdated(5, False, 30.0, "kitchen"))
        await link.timer(TimerFinished(3, 3825.0, room="garage"))
        await link.timer(TimerCancelled(4, 10.0, "garage"))
        await link.timer(TimerFinished(5, 160.0, room="kitchen"))
        await link.heard(SpeechDetected(1, "Set a timer for an hour.", "always", 1.0, 0.0, 100.0, room="garage"))
        await link.heard(SpeechDetected(2, "How should I warm up?", "remote", 0.0, 0.0, 0.0))
        await link.heard(SpeechDetected(6, "How long is left?", "always", 1.0, 0.0, 100.0, room="kitchen"))
        while len(got) < 6 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # nothing more comes
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [e.type for e in got] == ["timer-started", "timer-started", "timer-updated", "timer-finished",
                                     "timer-cancelled", "transcript"]
    assert got[0].data == {"id": "3", "total_seconds": 3725, "name": "timer", "start_hours": 1, "start_minutes": 2,
                           "start_seconds": 5}
    assert got[2].data == {"id": "4", "is_active": False, "total_seconds": 42}
    assert got[1].data["id"] == "4" and got[3].data["id"] == "3" and got[4].data["id"] == "4"
    assert got[5].data["text"] == "Set a timer for an hour."


async def test_a_satellite_that_closes_before_its_audio_is_dialled_with_a_growing_backoff_and_said_once():
    """As a satellite another brain (Home Assistant) holds does: it describes
    itself, then closes on run-satellite. One ERROR_OCCURRED, not one a second."""
    errors: list[str] = []

    async with Peer(describes) as peer:
        link = Satellite("garage", f"tcp://127.0.0.1:{peer.port}", 30, lambda source, message: errors.append(message))
        task = asyncio.create_task(link.run(asyncio.Queue(maxsize=8)))
        await asyncio.sleep(4.5)  # dialled at 0, 1 and 3 s (backoff 1 s, then 2 s), next at 7 s
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert peer.connections == 3, peer.connections
    assert len(errors) == 1 and "before sending any audio (is another brain" in errors[0], errors
    assert not link.connected


def test_barge_in_with_a_satellite_is_one_line_at_load():
    with pytest.raises(ConfigError, match=r"^audio.barge_in: not with a satellite"):
        parse_settings({"satellites": {"garage": "tcp://a:10700"}, "audio": {"barge_in": True}})


async def test_the_satellites_speaker_a_cut_reply_stops_being_sent_and_a_cue_is_its_own_stretch():
    """SatelliteSink over a connected satellite: a reply cut mid-send sends no
    more of it and ends its stretch (audio-stop last); a cue after it is a
    stretch of its own; a cue while the satellite is away raises (the timer says
    it was not played)."""
    import numpy as np

    from assistant.core.errors import AudioError
    from assistant.remote.satellite_audio import SatelliteSink

    got: list = []
    resume = asyncio.Event()

    async def records(reader, writer):  # it stops reading after three chunks until the cut: the writes wait on it
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await describes(reader, writer)
        await async_write_event(AudioChunk(rate=16000, width=2, channels=1, audio=bytes(960)).event(), writer)
        while (event := await read_event(reader, 1 << 20)) is not None:
            got.append(event.type)
            if got.count("audio-chunk") == 3:
                await resume.wait()

    link = Satellite("garage", "tcp://127.0.0.1:9", 30, lambda source, message: None)
    sink = SatelliteSink(link, 22_050)
    with pytest.raises(AudioError, match="not connected"):
        sink.cue(np.zeros(2205, np.int16), urgent=True)
    async with Peer(records) as peer:
        link.port = peer.port
        task = asyncio.create_task(link.run(asyncio.Queue(maxsize=8)))
        deadline = time.monotonic() + 10
        while not link.connected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        link._writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # small buffers
        sink.mark()
        # ten minutes (12,920 chunks, 26 MB): more than any socket buffer holds, so the write waits on the peer
        writing = asyncio.create_task(sink.write(np.full(22_050 * 600, 1000, np.int16)))
        deadline = time.monotonic() + 30
        while got.count("audio-chunk") < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # the write now waits for the peer to read
        assert not writing.done()
        sink.stop()
        resume.set()
        await asyncio.wait_for(writing, 30)
        assert sink.speaking()  # what was sent plays on
        sink.cue(np.full(2205, 1000, np.int16), urgent=False)
        deadline = time.monotonic() + 30
        while got.count("audio-stop") < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    first_stop = got.index("audio-stop")
    assert got[0] == "audio-start" and 3 <= got.count("audio-chunk") < 12_920
    assert got[first_stop + 1:] == ["audio-start", "audio-chunk", "audio-chunk", "audio-chunk", "audio-stop"], got


@pytest.mark.parametrize("late_s", [1.0, -0.35])
async def test_a_satellite_that_says_played_is_waited_for_its_word_not_the_clock(late_s):
    """A satellite that sends ``played`` after each stretch (newer ones do):
    once it has said it, draining waits for the last stretch's ``played`` —
    later than the coach's clock when its player lags, sooner when it is done
    early — and the coach counts as speaking (half-duplex) until then."""
    import numpy as np

    from assistant.remote.satellite_audio import SatelliteSink

    async def plays(reader, writer):  # says played ``late_s`` after the audio it was sent would have ended
        await describes(reader, writer)
        await async_write_event(AudioChunk(rate=16000, width=2, channels=1, audio=bytes(960)).event(), writer)
        seconds = 0.0
        while (event := await read_event(reader, 1 << 20)) is not None:
            if event.type == "audio-chunk":
                seconds += len(event.payload or b"") / 2 / 22_050
            elif event.type == "audio-stop":
                await asyncio.sleep(max(0.0, seconds + late_s))
                seconds = 0.0
                await async_write_event(Event(type="played"), writer)

    async with Peer(plays) as peer:
        link = Satellite("garage", f"tcp://127.0.0.1:{peer.port}", 30, lambda source, message: None)
        sink = SatelliteSink(link, 22_050)
        task = asyncio.create_task(link.run(asyncio.Queue(maxsize=8)))
        deadline = time.monotonic() + 10
        while not link.connected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await sink.write(np.full(2205, 1000, np.int16))  # 0.1 s: timed by the clock (nothing said played yet)
        await sink.drain()
        while link.played < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await sink.write(np.full(11_025, 1000, np.int16))  # 0.5 s
        began = time.monotonic()
        draining = asyncio.create_task(sink.drain())
        await asyncio.sleep(0.3)
        assert sink.speaking()
        await draining
        took = time.monotonic() - began
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert link.played == link.stops == 2
    assert 0.5 + late_s - 0.1 < took < 0.5 + late_s + 0.2, took  # its word (1.5 s or 0.15 s), not the clock's 0.5 s
    assert not sink.speaking(-sink.ECHO_TAIL_S)


async def test_diagnose_describes_a_satellite_and_names_a_fix_when_it_is_not_one():
    """A satellite: its name and the round trip. Nothing on the port, or a peer
    that is no satellite: each fails with a fix naming the key."""
    from assistant.cli.diagnose_remote import check_remote_services

    async def only_describes(reader, writer):
        await describes(reader, writer)

    dead = free_port()
    async with Peer(only_describes) as good, Peer(no_satellite) as other:
        settings = parse_settings({"satellites": {"garage": f"tcp://127.0.0.1:{good.port}"}})
        [found] = await check_remote_services(settings)
        [wrong] = await check_remote_services(parse_settings({"satellites": {"hall": f"tcp://127.0.0.1:{other.port}"}}))
    [refused] = await check_remote_services(parse_settings({"satellites": {"attic": f"tcp://127.0.0.1:{dead}"}}))
    assert (found.name, found.status) == ("satellites.garage", "pass") and "satellite 'garage'" in found.detail
    assert (wrong.status, wrong.fix) == ("fail", "point satellites.hall at a wyoming-satellite")
    assert refused.status == "fail" and "connection refused" in refused.detail
    assert "python -m wyoming_satellite --name attic --uri tcp://0.0.0.0:" in refused.fix


async def test_cues_the_output_refuses_are_said_once_until_one_plays_again():
    """A satellite away for the whole of an interval session: its refused cues
    are one ERROR_OCCURRED, not one each; once a cue plays, the next refusal is
    said again."""
    from test_seams import Beeps, Kept

    from assistant.core.bus import Bus
    from assistant.core.errors import AudioError
    from assistant.core.events import EventName
    from assistant.skills.router import StartSession
    from assistant.skills.timers import TimerService
    from assistant.skills.timing import LEAD_IN_S

    class Away(Kept):
        away = True

        def cue(self, samples, urgent):
            if self.away:
                raise AudioError("satellite garage: not connected")
            return super().cue(samples, urgent)

    bus = Bus()
    errors: list = []
    bus.on(EventName.ERROR_OCCURRED, errors.append)
    sink = Away(8000)
    timers = TimerService(bus, Beeps(), sink, None, wall=False)  # the stream clock: nothing sleeps
    timers.start(StartSession(rounds=3, work_s=5, rest_s=5), 0.0)
    await timers.advance(LEAD_IN_S + 0.5)  # the countdown and "Go!": four cues refused
    assert len(errors) == 1 and "not connected" in errors[0].message
    sink.away = False
    await timers.advance(LEAD_IN_S + 5.5)  # "Rest." plays
    assert sink.cues and len(errors) == 1
    sink.away = True
    await timers.advance(60.0)
    assert len(errors) == 2
