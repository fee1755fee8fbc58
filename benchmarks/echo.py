"""Echo cancellers compared offline, before one is built into the microphone path
(issue 13): WebRTC's AEC3 (``pywebrtc-audio``) and SpeexDSP's echo canceller
(Debian ``libspeexdsp1``, through ctypes: ``assistant/echo.py``).

The far end is a reply said by Piper (about 11 s), resampled to 16 kHz. The
microphone hears it through an echo path: a delay (20, 80 or 200 ms) and a few
decaying reflections, at unity gain. Per canceller and delay it prints:

- echo attenuation (ERLE, dB): the microphone's level over the cleaned
  signal's, on echo alone, after the first second (convergence);
- CPU per second of audio (ms, one thread);
- double talk: a question said by Piper over the reply, at the echo's RMS
  level and 6 dB under it, transcribed by whisper (tiny.en) from the raw
  microphone and from the cleaned signal; the word error rate of each.

SpeexDSP has no delay estimation: its filter (256 ms) must span the echo path.
"SpeexDSP, aligned" is SpeexDSP fed a far end already delayed by the true
delay; "SpeexDSP, delay estimated" by the delay found by cross-correlating
(GCC-PHAT) the first second of microphone and far end, as the daemon would
have to: PortAudio's clocks through PulseAudio's ALSA plugin do not say it.

    .venv/bin/python benchmarks/echo.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from helpers import as_int16, delayed, echo_path, spoken_16k, wer  # noqa: E402

from assistant.audio.echo import FRAME, RATE, SpeexCanceller, estimate_delay  # noqa: E402

DELAYS_MS = (20, 80, 200)
REPLY = ["Rest about two minutes between heavy sets, and one minute for lighter ones.",
         "Start the next set when your breathing has settled, then go again with good form.",
         "Keep your back straight and your chest up through every repetition of the squat."]
QUESTION = "Coach, how long should I rest between sets?"
SPEEX_TAIL_MS = 256
REFLECTIONS = ((RATE * 7 // 1000, 0.35), (RATE * 19 // 1000, 0.2), (RATE * 41 // 1000, 0.1))  # after the direct echo

Canceller = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (microphone, far end), 10 ms int16 each


def aec3() -> Canceller:
    from pywebrtc_audio import EchoCanceller

    canceller = EchoCanceller(RATE, 1, 0)
    return lambda near, far: np.asarray(canceller.process(near, far), np.int16)


def speex() -> Canceller:
    return SpeexCanceller(SPEEX_TAIL_MS).process


def run(cancel: Canceller, near: np.ndarray, far: np.ndarray) -> tuple[np.ndarray, float]:
    """The cleaned signal, and the CPU seconds it took."""
    near16, far16 = as_int16(near), as_int16(far)
    out = np.zeros(len(near16) // FRAME * FRAME, np.int16)
    started = time.thread_time()
    for i in range(0, len(out), FRAME):
        out[i: i + FRAME] = cancel(near16[i: i + FRAME], far16[i: i + FRAME])
    return out, time.thread_time() - started


def main() -> None:
    from assistant.audio.levels import frame_db
    from assistant.core.config import parse_settings
    from assistant.speech.whisper import WhisperTranscriber

    far = spoken_16k(*REPLY)
    question = spoken_16k(QUESTION)
    transcriber = WhisperTranscriber(parse_settings({}).stt)
    talk_at = len(far) // 2  # the user speaks from the middle of the reply
    heard = slice(talk_at - RATE // 10, talk_at + len(question) + RATE // 10)
    cancellers: list[tuple[str, Callable[[], Canceller], str]] = [
        ("AEC3 (pywebrtc-audio)", aec3, ""), ("SpeexDSP", speex, ""), ("SpeexDSP, aligned", speex, "true"),
        ("SpeexDSP, delay estimated", speex, "estimated")]
    print("\n| canceller | echo delay | echo attenuation | CPU per s of audio | double talk 0 dB: WER raw / "
          "cleaned | double talk -6 dB: WER raw / cleaned |\n| --- | --- | --- | --- | --- | --- |")
    summary: dict[str, list[float]] = {}
    for label, make, aligned in cancellers:
        for delay_ms in DELAYS_MS:
            echo = echo_path(far, RATE * delay_ms // 1000, REFLECTIONS)
            reference = far
            if aligned == "true":
                reference = delayed(far, RATE * delay_ms // 1000)
            elif aligned == "estimated":
                lag = estimate_delay(echo[:RATE], far[:RATE])
                label = f"SpeexDSP, delay estimated ({lag * 1000 // RATE} ms)"
                reference = delayed(far, lag)
            out, cpu = run(make(), echo, reference)
            echo_only = slice(RATE, talk_at)
            erle = frame_db(echo[echo_only]) - frame_db(out[echo_only])
            cells = []
            for user_db in (0.0, -6.0):
                near = echo.copy()
                gain = np.sqrt(np.mean(echo[talk_at: talk_at + len(question)] ** 2) / np.mean(question ** 2))
                near[talk_at: talk_at + len(question)] += question * gain * 10 ** (user_db / 20)
                cleaned, _ = run(make(), near, reference)
                raw_text = transcriber.transcribe_sync(as_int16(near[heard])).text
                clean_text = transcriber.transcribe_sync(cleaned[heard]).text
                cells.append(f"{wer(QUESTION, raw_text):.2f} / {wer(QUESTION, clean_text):.2f} "
                             f"(\"{clean_text}\")")
            summary.setdefault(label.split(" (")[0], []).append(erle)
            print(f"| {label} | {delay_ms} ms | {erle:.1f} dB | {cpu / (len(out) / RATE) * 1000:.1f} ms | "
                  f"{cells[0]} | {cells[1]} |")
    print("\nmedian attenuation: " + ", ".join(f"{k} {statistics.median(v):.1f} dB" for k, v in summary.items()))
    cores = Path("/proc/cpuinfo").read_text().count("processor")
    print(f"measured {time.strftime('%Y-%m-%d %H:%M')} on {cores} cores")


if __name__ == "__main__":
    main()
