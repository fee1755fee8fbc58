"""The microphone on the rig's real device, at both rates it can be opened at:
16 kHz where the device takes it (the sound server resamples) and the device's
own rate where it does not (soxr resamples on the event loop). A tone played
into the room must come out as 20 ms frames at 16 kHz, at its own pitch."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
from helpers import ROOT

CAPTURE = """
import asyncio, json, sys
import numpy as np
import sounddevice as sd
from assistant.audio import capture

if sys.argv[1] == "refused":  # a device without 16 kHz: the probe says no, as PortAudio would
    def refuse(*args, samplerate=None, **kwargs):
        raise sd.PortAudioError("Invalid sample rate")
    sd.check_input_settings = refuse

async def main():
    queue = asyncio.Queue(maxsize=1000)
    mic = capture.MicSource(None, 20, lambda source, err: print("error", err, file=sys.stderr))
    task = asyncio.create_task(mic.run(queue))
    frames = []
    while len(frames) < 150:  # 3 s
        frames.append(await queue.get())
    task.cancel()
    sizes = sorted({len(f.samples) for f in frames})
    gaps = np.diff([f.at for f in frames])
    audio = np.concatenate([f.samples for f in frames]).astype(np.float64)
    print(json.dumps({"rate": mic.rate, "sizes": sizes, "gap": float(np.median(gaps)), "audio": audio.tolist()}))

asyncio.run(main())
"""


@pytest.mark.parametrize("probe", ["16 kHz", "refused"])
def test_the_microphone_delivers_16_khz_frames_at_either_rate(rig, probe):
    with tempfile.TemporaryDirectory() as tmp:
        tone = Path(tmp) / "tone.wav"
        t = np.arange(44_100 * 6) / 44_100
        soundfile.write(str(tone), (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), 44_100)
        player = rig.play(tone)
        try:
            out = subprocess.run([sys.executable, "-c", CAPTURE, probe], env=rig.env, cwd=ROOT,
                                 capture_output=True, text=True, timeout=60)
        finally:
            player.kill()
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert found["rate"] == (16_000 if probe == "16 kHz" else 44_100)  # the rig's null sink runs at 44.1 kHz
    assert found["sizes"] == [320]  # one VAD frame each, whatever the device's rate
    assert abs(found["gap"] - 0.02) < 0.002  # stamped 20 ms apart
    audio = np.array(found["audio"])
    loud = audio[np.abs(audio) > 1000]
    assert len(loud) > 16_000  # the tone was heard, not silence
    spectrum = np.abs(np.fft.rfft(audio[-16_000:]))
    assert abs(np.argmax(spectrum) - 1000) <= 2  # 1 kHz in, 1 kHz out (1 s: 1 Hz bins)
