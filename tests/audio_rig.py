"""Real sound devices on a machine without a sound card: a private PulseAudio
with two null sinks. "air" is the room: tests play the user's voice into it and
the daemon's microphone records its monitor. "speaker" is the coach's speaker:
the daemon plays into it and tests record its monitor. ``loop_speaker_into_air``
lets the microphone hear the coach too. Started and stopped by the tests; it
leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import ROOT

ROOM_MODULES = [  # one stereo sink for the whole room; the microphone's side and the speaker's are its channels
    "-L", "module-null-sink sink_name=room channels=2 channel_map=front-left,front-right rate=44100",
    "-L", "module-remap-sink sink_name=air master=room channels=1 master_channel_map=front-left channel_map=mono "
          "remix=no",
    "-L", "module-remap-sink sink_name=speaker master=room channels=1 master_channel_map=front-right "
          "channel_map=mono remix=no",
]


class Rig:
    def __init__(self, folder: Path, room: bool = False):
        """``room``: "air" and "speaker" are the left and right channels of one
        stereo null sink "room", so one recording of ``room.monitor`` holds what the
        microphone hears and what the speaker says, on one clock."""
        self.folder = folder
        self.room = room
        self.socket = folder / "pulse.sock"
        self.runtime = folder / "run"
        self.proc: subprocess.Popen | None = None
        self.children: list[subprocess.Popen] = []

    @property
    def env(self) -> dict[str, str]:
        """The environment of a program that uses the rig (the daemon's too)."""
        return {
            **os.environ,
            "PULSE_SERVER": f"unix:{self.socket}",
            "PULSE_SOURCE": "air.monitor",
            "PULSE_SINK": "speaker",
            "XDG_RUNTIME_DIR": str(self.runtime),
            "XDG_STATE_HOME": str(self.folder / "state"),
            "XDG_CACHE_HOME": str(self.folder / "cache"),  # the answers voiced ahead: the rig's own, empty
        }

    def start(self) -> Rig:
        self.runtime.mkdir(parents=True, exist_ok=True)
        self.runtime.chmod(0o700)
        self.proc = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disable-shm=yes",
             "--log-target=stderr", "--log-level=error",
             "-L", f"module-native-protocol-unix socket={self.socket} auth-anonymous=1",
             *(ROOM_MODULES if self.room else ["-L", "module-null-sink sink_name=air rate=44100",
                                              "-L", "module-null-sink sink_name=speaker rate=44100"])],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.pactl("info").returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError("PulseAudio did not start")

    def pactl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True, timeout=10)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
        if self.socket.exists():
            self.socket.unlink()

    def loop_speaker_into_air(self) -> None:
        result = self.pactl("load-module", "module-loopback", "source=speaker.monitor", "sink=air", "latency_msec=40")
        assert result.returncode == 0, result.stderr

    def add_room(self, name: str) -> tuple[str, str]:
        """Another room, apart from the first: its own air ("air-NAME") and speaker
        ("speaker-NAME"), two more null sinks. Returns their names."""
        for sink in (f"air-{name}", f"speaker-{name}"):
            result = self.pactl("load-module", "module-null-sink", f"sink_name={sink}", "rate=44100")
            assert result.returncode == 0, result.stderr
        return f"air-{name}", f"speaker-{name}"

    def play(self, wav: Path, volume: float = 1.0, air: str = "air") -> subprocess.Popen:
        """Play a WAV into the room (the daemon's microphone hears it), or into
        another room's ``air``; ``volume`` is PulseAudio's (cubic: 1.26 is about +6 dB)."""
        proc = subprocess.Popen(["paplay", f"--device={air}", f"--volume={int(65536 * volume)}", str(wav)],
                                env=self.env)
        self.children.append(proc)
        return proc

    def record_speaker_timed(self, speaker: str = "speaker") -> Recorder:
        return Recorder(self, f"{speaker}.monitor")

    def stop(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
                try:
                    child.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    child.kill()
        self.children.clear()
        self.kill()


LIVE_CONFIG = """
llm:
  endpoints: []
  options: {max_tokens: 40, temperature: 0.2, seed: 11}
  knowledge: false
"""  # the embedded model alone, short replies (no knowledge base: the model's own, as long as it writes)


def voice_ahead(rig: Rig) -> str:
    """The knowledge base's first pieces voiced ahead into the rig's cache, as a
    user's daemon has them after its first quiet minutes (``speech.ahead``): for
    the benchmarks, which measure a daemon in its steady state."""
    import asyncio

    from assistant.core.config import TtsConfig
    from assistant.llm.grounding import answers_for, entries
    from assistant.speech.ahead import VoiceAhead, cache_folder, openings
    from assistant.speech.tts import PiperSynthesizer

    voice = PiperSynthesizer(TtsConfig())
    kept = VoiceAhead(voice.synthesize, cache_folder(voice.identity, Path(rig.env["XDG_CACHE_HOME"])))
    started = time.perf_counter()
    made = asyncio.run(kept.fill(openings(answers_for(entries(), "")), lambda: True))
    return f"the knowledge base's first pieces voiced ahead: {made} in {time.perf_counter() - started:.0f} s"


def returning_user(rig: Rig) -> None:
    """The rig's user was offered the interview before: the daemon starts quietly."""
    from assistant.skills.coaching import OFFERED
    from assistant.skills.notebook import Notebook

    notebook = Notebook(Path(rig.env["XDG_STATE_HOME"]) / "assistant" / "history.sqlite3")
    notebook.set_profile({OFFERED: "1"})
    notebook.close()


def start_daemon(rig: Rig, folder: Path, config: str = LIVE_CONFIG, new_user: bool = False) -> Daemon:
    """``assistant run`` on the rig, once its streams are open. The user has been
    offered the interview before, unless ``new_user`` (then the coach offers it)."""
    folder.mkdir(exist_ok=True)
    if not new_user:
        returning_user(rig)
    daemon = Daemon(rig, folder, config)
    try:
        daemon.wait_for("LISTENING", timeout=120)  # the models are loaded and the microphone delivers
    except BaseException:  # the test never gets the daemon to stop: stopped here, not left running
        daemon.stop()
        raise
    return daemon


class Recorder:
    """A monitor (the speaker's by default) as raw 16 kHz samples, with the
    wall-clock time of its first sample: each block's arrival time less the audio
    already received bounds the start from above, and the smallest bound is the
    tightest. ``channels`` 2: samples come as (frames, 2)."""

    RATE = 16_000

    def __init__(self, rig: Rig, device: str = "speaker.monitor", channels: int = 1):
        import threading

        self.channels = channels
        self.proc = subprocess.Popen(
            ["parec", f"--device={device}", "--raw", "--format=s16le", f"--rate={self.RATE}",
             f"--channels={channels}", "--latency-msec=10"], env=rig.env, stdout=subprocess.PIPE)
        rig.children.append(self.proc)
        self.chunks: list[bytes] = []
        self.keep = rig.folder / f"{device}.wav"  # what was recorded, kept beside the daemon's log
        self.start = float("inf")
        self.received = 0  # frames
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        self.until(0.0)  # recording: a monitor delivers silence too

    def _read(self) -> None:
        assert self.proc.stdout is not None
        while chunk := self.proc.stdout.read1(4096):
            now = time.time()
            received = self.received + len(chunk) // (2 * self.channels)
            self.start = min(self.start, now - received / self.RATE)
            self.received = received  # after start: until() never sees the new count on the old start
            self.chunks.append(chunk)

    def until(self, when: float, timeout: float = 10.0) -> None:
        """Wait until the recording holds what was played up to ``when`` (Unix s)."""
        deadline = time.monotonic() + timeout
        while not (self.received and self.start + self.received / self.RATE >= when):
            assert self.proc.poll() is None and time.monotonic() < deadline, "the recording stalled"
            time.sleep(0.01)

    def samples(self):
        import numpy as np

        data = b"".join(self.chunks)
        audio = np.frombuffer(data[: len(data) // (2 * self.channels) * 2 * self.channels], np.int16)
        return audio if self.channels == 1 else audio.reshape(-1, self.channels)

    def stop(self):
        """Stop recording; the samples."""
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self._thread.join(timeout=5)
        import soundfile

        samples = self.samples()
        soundfile.write(str(self.keep), samples, self.RATE, subtype="PCM_16")
        return samples

    def onsets(self, threshold_db: float = -40.0, quiet_s: float = 0.15) -> list[float]:
        """Wall-clock times (Unix s) where sound starts after ``quiet_s`` of quiet."""
        import numpy as np

        audio = self.samples().astype(np.float32)
        window = self.RATE // 200  # 5 ms
        blocks = audio[: len(audio) // window * window].reshape(-1, window)
        loud = 20 * np.log10(np.sqrt(np.mean(blocks**2, axis=1)) / 32768 + 1e-10) > threshold_db
        need = int(quiet_s * 200)
        found, quiet = [], need
        for i, is_loud in enumerate(loud):
            if is_loud and quiet >= need:
                found.append(self.start + i * window / self.RATE)
            quiet = 0 if is_loud else quiet + 1
        return found


class Daemon:
    """``assistant run`` on the rig's microphone and speaker, read through its events."""

    def __init__(self, rig: Rig, folder: Path, config: str):
        self.events_path = folder / "events.jsonl"
        self.config = folder / "config.yaml"
        self.config.write_text(config)
        self.log = (folder / "daemon.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "run", "--config", str(self.config), "--events",
             str(self.events_path)],
            env=rig.env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def events(self, name: str | None = None) -> list[dict]:
        if not self.events_path.exists():
            return []
        text = self.events_path.read_text()
        lines = text.splitlines()[: text.count("\n")]  # a last line still being written is left for later
        found = [json.loads(line) for line in lines if line.strip()]
        return [e for e in found if name is None or e["event"] == name]

    def wait_for(self, name: str, count: int = 1, timeout: float = 120, where=lambda e: True) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.events(name) if where(e)]
            if len(found) >= count:
                return found
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}: {self.output()}")
            time.sleep(0.1)
        raise AssertionError(f"no {count} x {name} within {timeout} s; saw {self.story()}")

    def story(self) -> str:
        """What a failed wait saw: the events, with the words of those that carry
        any, and the end of the daemon's log (a run in CI keeps nothing else)."""
        said = [e["event"] + (f"({e['data']['text'][:80]!r})" if e.get("data", {}).get("text") else "")
                for e in self.events() if e["event"] != "RESPONSE_CHUNK"]
        tail = self.output().splitlines()[-30:]
        return " ".join(said) + "\ndaemon log, last lines:\n" + "\n".join(tail)

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode
